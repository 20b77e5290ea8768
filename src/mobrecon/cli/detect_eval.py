"""``mobrecon detect-eval DIR``: score the hand detector on a composite set (``mobrecon
detect-data``): average precision at IoU 0.5 and what goes with it."""

from __future__ import annotations

import argparse

import torch

from mobrecon.cli.common import print_record
from mobrecon.cli.detect import check_threshold
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.detector import HandDetector
from mobrecon.detect.evaluate import evaluate_detector


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("data", metavar="DIR", help="a composite set (mobrecon detect-data)")
    d.add_argument("--detector", help="a detector file or training checkpoint (default: the shipped one)")
    d.add_argument("--threshold", type=float, help="score threshold (default: the detector's)")
    d.add_argument("--count", type=int, help="score the first N images")
    d.add_argument("--device", help="auto (CUDA when available; the default), cpu or cuda")
    d.add_argument("--threads", type=int, help="CPU threads")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    check_threshold(args.threshold)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = CompositeDataset(args.data)
    detector = HandDetector.load(args.detector)
    if args.threshold is not None:
        detector.threshold = args.threshold
    result = {"data": args.data, "detector": args.detector or "shipped",
              **evaluate_detector(detector, data, count=args.count, progress=not (args.quiet or args.json),
                                  device=args.device or "auto")}
    print_record(result, args.json, 20)
    return 0

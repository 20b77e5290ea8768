"""``mobrecon detect``: find hands in photos (boxes, scores, handedness), one line (or one JSON
object) per image. Making the detector's data, training and scoring it are commands of their
own: ``detect-data``, ``detect-real``, ``detect-train``, ``detect-eval``."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from mobrecon.cli.common import UserError, image_error
from mobrecon.detect.detector import HandDetector
from mobrecon.image import read_image


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("images", nargs="*", help="image files to find hands in")
    d.add_argument("--json", action="store_true", help="print one JSON object per image")
    d.add_argument("--threshold", type=float, help="score threshold (default 0.2)")
    d.add_argument("--detector", help="a detector file or training checkpoint (default: the shipped one)")
    d.add_argument("--threads", type=int, help="CPU threads")
    d.add_argument("--device", help="auto (CUDA when available), cpu or cuda (default cpu)")
    d.epilog = ("The detector's data, training and scoring: mobrecon detect-data, detect-real, detect-train, "
                "detect-eval (the old detect --make-data, --make-real, --train, --eval still work this release).")


def check_threshold(threshold: float | None) -> None:
    """--threshold, when given, is a score in [0, 1]."""
    if threshold is not None and not 0 <= threshold <= 1:
        raise UserError(f"--threshold must lie in [0, 1], got {threshold}")


def run(args) -> int:
    if not args.images:
        raise UserError("give one or more IMAGE files (the detector's data, training and scoring: mobrecon "
                        "detect-data, detect-real, detect-train, detect-eval)")
    check_threshold(args.threshold)
    if args.threads:
        torch.set_num_threads(args.threads)
    detector = None
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            if detector is None:
                try:
                    detector = HandDetector.load(args.detector)
                    if args.device:
                        detector.to(args.device)
                except (FileNotFoundError, ValueError) as e:
                    raise UserError(str(e)) from None
            found = detector.detect(image, threshold=args.threshold)
        except (FileNotFoundError, ValueError) as e:
            print(image_error("detect", path, e), file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), "width": image.shape[1], "height": image.shape[0],
                              "hands": [d.to_dict() for d in found]}))
        elif not found:
            print(f"{path}: no hand found")
        else:
            for d in found:
                x0, y0, x1, y1 = d.box
                print(f"{path}: {d.handedness} hand, score {d.score:.2f}, box {x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}")
    return 2 if failures else 0

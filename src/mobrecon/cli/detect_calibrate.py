"""``mobrecon detect-calibrate DETECTOR --out FILE``: choose the detector's score threshold (best
F1 at IoU 0.5) on validation images, composites (``--data``) and real photos (``--real``, a
``mobrecon detect-real --split valid`` cache), and write a copy of the detector that carries it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mobrecon.cli.common import UserError
from mobrecon.detect.calibrate import calibrate_threshold
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.detector import HandDetector
from mobrecon.detect.real_boxes import RealBoxes
from mobrecon.detect.weights import save_detector


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("detector", metavar="DETECTOR", help="a detector file or training checkpoint")
    d.add_argument("--out", required=True, help="the calibrated detector file to write")
    d.add_argument("--data", action="append", default=[], metavar="DIR",
                   help="a composite validation set (mobrecon detect-data; repeatable)")
    d.add_argument("--real", action="append", default=[], metavar="NPZ",
                   help="a real-photo cache (mobrecon detect-real --split valid; repeatable)")
    d.add_argument("--count", type=int, help="at most this many images per set")
    d.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="calibrate (and store) the detector with / without the flip test (default: as in DETECTOR)")
    d.add_argument("--threads", type=int, help="CPU threads")
    d.add_argument("--force", action="store_true", help="replace an existing --out")
    d.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    if not args.data and not args.real:
        raise UserError("give validation images: --data DIR (composites) and/or --real NPZ")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UserError(f"--out {out}: already exists (pass --force to replace it)")
    if args.threads:
        torch.set_num_threads(args.threads)
    detector = HandDetector.load(args.detector, **({} if args.flip_test is None else {"flip_test": args.flip_test}))
    sets = {**{f"composites:{d}": CompositeDataset(d) for d in args.data},
            **{f"real:{r}": RealBoxes(r) for r in args.real}}
    res = calibrate_threshold(detector, sets, count=args.count, progress=not args.json)
    meta = {**detector.meta, "threshold": res["threshold"], "flip_test": detector.flip_test, "calibration": res}
    save_detector(out, detector.model, meta=meta)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{out}: threshold {res['old_threshold']:.3f} -> {res['threshold']:.3f} (F1 {res['f1']:.3f}, "
              f"precision {res['precision']:.3f}, recall {res['recall']:.3f} over all sets)")
        for name, r in res["sets"].items():
            print(f"  {name}: {r['images']} images, AP {r['ap']:.3f}; precision/recall "
                  f"{r['at_old']['precision']:.3f}/{r['at_old']['recall']:.3f} -> "
                  f"{r['at_new']['precision']:.3f}/{r['at_new']['recall']:.3f}")
    return 0

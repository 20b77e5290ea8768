"""``mobrecon detect-train``: train the hand detector from a YAML run config on composite sets
(``mobrecon detect-data``) and real-box caches (``mobrecon detect-real``). Run from the shell it
starts again with jemalloc (see :mod:`mobrecon.cli`)."""

from __future__ import annotations

import argparse

from mobrecon.cli.common import UserError
from mobrecon.detect.train import DetectorTrainConfig, train_detector


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("--config", default="configs/hand_detector.yaml", help="the run config (YAML; default "
                   "configs/hand_detector.yaml)")
    d.add_argument("--data", help="composite set(s), comma-separated (overrides the config's data)")
    d.add_argument("--init", metavar="PATH", help="start a new run from these detector weights "
                   "(e.g. the shipped src/mobrecon/weights/hand_detector.pt or a run's detector.pt)")
    d.add_argument("--device", help="auto (CUDA when available), cpu or cuda (default: the config's, auto)")
    d.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast on CUDA (default: the config's)")
    d.add_argument("--schedule-minutes", type=float, help="decay the learning rate over this much "
                   "training time instead of the config's steps; the run is done when it is spent")
    d.add_argument("--out", default="runs/hand_detector", help="run directory (default runs/hand_detector)")
    d.add_argument("--resume", action="store_true", help="continue the run in --out")
    d.add_argument("--max-minutes", type=float, help="stop (resumable) after this wall time")
    d.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    cfg = DetectorTrainConfig.from_yaml(args.config, data=args.data, max_minutes=args.max_minutes,
                                        init=args.init, device=args.device, amp=args.amp,
                                        schedule_minutes=args.schedule_minutes)
    if args.init and args.resume:
        raise UserError("--init starts a new run; --resume continues the one in --out (give one of them)")
    result = train_detector(cfg, args.out, resume=args.resume, progress=not args.quiet)
    print(f"{args.out}: {result['status']} at step {result['step']} on {result['device']}; "
          f"checkpoint {result['checkpoint']}"
          + (f", detector {result['model']}" if "model" in result else ""))
    return 130 if result["status"] == "interrupted" else 0

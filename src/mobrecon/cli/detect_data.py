"""``mobrecon detect-data DIR``: generate composite images for the hand detector (rendered hands,
left and right, on procedural backgrounds, with their boxes) into DIR; a re-run resumes."""

from __future__ import annotations

import argparse

from mobrecon.cli.common import UserError
from mobrecon.detect.composites import CompositeConfig, generate_composites
from mobrecon.extras import require


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("out", metavar="DIR", help="the set's folder (re-running resumes)")
    d.add_argument("--count", type=int, required=True, help="number of images")
    d.add_argument("--seed", type=int, default=0, help="seed (same seed and settings -> same files)")
    d.add_argument("--workers", type=int, default=1, help="processes")
    d.add_argument("--max-box", type=float, default=200.0, help="largest hand box side, pixels "
                   "(of the 256 px image; default 200)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    require("moderngl", "mobrecon detect-data", extra="train")  # it renders the hands
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    cfg = CompositeConfig(count=args.count, seed=args.seed, max_box=args.max_box)
    cfg.check()  # a ValueError: one line naming the setting
    summary = generate_composites(args.out, cfg, workers=args.workers, progress=not args.quiet)
    last = summary["last_run"]
    speed = f", {last['images_per_second']} images/s" if last["images"] else " (nothing left to do)"
    print(f"{args.out}: {summary['count']} of {summary['requested']} images, {summary['hands']} hands "
          f"({summary['left_hands']} left){speed}")
    return 0

"""``mobrecon detect-real FILE``: cache the real training photos for the hand detector (the
signer frames' and close-ups' train splits, letterboxed, with their hand boxes) into FILE
(.npz), which a detector run config mixes in (``real:``); ``--split valid``: the signer frames'
validation split instead, for ``mobrecon detect-calibrate --real``."""

from __future__ import annotations

import argparse
import json

from mobrecon.data.real_photos import default_realdata
from mobrecon.detect.real_boxes import SIGNER_BOXES, make_real_cache


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("out", metavar="FILE", help="the cache to write (.npz)")
    d.add_argument("--labels", metavar="DIR", required=True, help="folder of the teacher's labels "
                   "(signers.npz, closeups.npz)")
    d.add_argument("--realdata", help="the real photo sets' folder (default ../shared/realdata)")
    d.add_argument("--signer-boxes", choices=SIGNER_BOXES, default="teacher",
                   help="the signer frames' boxes: the teacher's hand at each gesture box widened to a "
                   "whole-hand box (default), every hand the teacher found (all: LABELS/signers_allhands.npz, "
                   "from `mobrecon label` on the frames' image folders) or the set's own gesture boxes")
    d.add_argument("--split", choices=("train", "valid"), default="train",
                   help="train: the photos to train on (default); valid: the signer frames' validation "
                   "split, to calibrate the score threshold on")


def run(args) -> int:
    counts = make_real_cache(args.realdata or default_realdata(), args.labels, args.out,
                             signer_boxes=args.signer_boxes, split=args.split)  # a missing or bad file: one line (main)
    print(f"{args.out}: {json.dumps(counts)}")
    return 0

"""``mobrecon label``: label photos with the teacher (MediaPipe Hands, run in its own environment,
``.venv-teacher``: ``make teacher``): 2D keypoints, handedness, world landmarks per hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mobrecon.cli.common import UserError
from mobrecon.data.labelling import collect_images, label_images, previous_labels
from mobrecon.data.real_photos import READERS
from mobrecon.data.teacher_process import TeacherProcess, find_teacher


def add_arguments(lb: argparse.ArgumentParser) -> None:
    lb.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE", help="images, or folders searched for images "
                    "(with --set: the set's folder)")
    lb.add_argument("--out", required=True, help="the labels file (.npz) to write; a rerun continues it")
    lb.add_argument("--set", choices=("closeups", "signers", "hagrid"), help="read the input as this real photo "
                    "set (signers: only the hand nearest each of the set's boxes is kept; closeups: only the "
                    "largest hand, the set having one per photo)")
    lb.add_argument("--split", help="with --set: the split to label (default: all)")
    lb.add_argument("--teacher", help="the teacher environment's python (default: $MOBRECON_TEACHER, else "
                    ".venv-teacher/bin/python)")
    lb.add_argument("--min-confidence", type=float, default=0.3, help="MediaPipe's min_detection_confidence")
    lb.add_argument("--complexity", type=int, default=1, choices=(0, 1), help="MediaPipe's model_complexity")
    lb.add_argument("--save-every", type=int, default=100, help="save the partial file after this many images")
    lb.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    lb.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    if args.save_every < 1:
        raise UserError(f"--save-every must be >= 1, got {args.save_every}")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out {out}: the labels file must end in .npz")
    boxes_of, one_hand = None, False
    if args.set:
        if len(args.inputs) != 1 or not Path(args.inputs[0]).is_dir():
            raise UserError(f"--set {args.set}: give the set's folder as the one input")
        ds = READERS[args.set](args.inputs[0], split=args.split or "all")
        root, files = ds.root.resolve(), [ds.image_path(i) for i in range(len(ds))]
        if hasattr(ds, "normalised_boxes"):
            boxes_of = lambda k, w, h: ds.boxes(k, w, h)[0]  # noqa: E731
        one_hand = ds.ONE_HAND
    else:
        if args.split:
            raise UserError("--split goes with --set")
        root, files = collect_images(args.inputs)
    previous_labels(out, root, files)  # another image set's file: refused before the teacher starts
    teacher_python = find_teacher(args.teacher)
    with TeacherProcess(teacher_python, min_detection_confidence=args.min_confidence,
                        model_complexity=args.complexity) as teacher:
        try:
            summary = label_images(files, root, out, teacher, boxes_of=boxes_of, one_hand=one_hand,
                                   save_every=args.save_every, progress=not (args.quiet or args.json))
        except KeyboardInterrupt:
            print(f"mobrecon label: interrupted; what was done is in {out.stem}.partial.npz, run the same command "
                  "again to continue", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps({"out": str(out), "root": str(root), **summary}))
    else:
        bad = f", {len(summary['unreadable'])} unreadable" if summary["unreadable"] else ""
        dropped = f", {summary['dropped']} dropped by the set's rule" if boxes_of or one_hand else ""
        print(f"{out}: {summary['images']} images ({summary['new']} labelled now, {summary['reused']} from the cache); "
              f"a hand in {summary['with_hand']}, none in {summary['no_hand']}{bad}; {summary['hands']} hands "
              f"({summary['left']} left, {summary['right']} right){dropped}; {summary['seconds']} s")
    return 2 if summary["unreadable"] else 0

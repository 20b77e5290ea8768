"""``mobrecon handedness``: say whether the hand in a photo is a left or a right hand (the
handedness head on the reconstruction model's encoder), one line (or one JSON object) per
image. Fitting and scoring the head: ``handedness-train``, ``handedness-eval``."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from mobrecon.cli.common import UserError, image_error, parse_numbers
from mobrecon.data.crop import check_box
from mobrecon.detect.handedness import HandednessClassifier
from mobrecon.image import read_image
from mobrecon.infer.predictor import load_handedness
from mobrecon.models.weights import resolve_model


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("images", nargs="*", help="image files, each showing one hand (the whole image, or --box)")
    g.add_argument("--box", help="x0,y0,x1,y1: the hand's box in pixels (default: the whole image)")
    add_classifier_arguments(g)
    g.add_argument("--json", action="store_true", help="print one JSON object per image")
    g.epilog = ("Fitting and scoring the head: mobrecon handedness-train, handedness-eval (the old handedness "
                "--train, --eval still work this release).")


def add_classifier_arguments(g: argparse.ArgumentParser) -> None:
    """--model, --weights, --threads: the classifier to use (here and in ``handedness-eval``)."""
    g.add_argument("--model", default="mobrecon_ghoststack", help="the reconstruction model whose encoder the head "
                   "reads (a registered name or a model file)")
    g.add_argument("--weights", help="a handedness head file (default: the shipped head fitted on --model)")
    g.add_argument("--threads", type=int, help="CPU threads")


def load_classifier(args) -> HandednessClassifier:
    """The classifier --model and --weights name (after setting --threads)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    classifier = load_handedness(args.weights or "auto", resolve_model(args.model))
    if classifier is None:
        raise UserError(f"no shipped handedness head fits {args.model}; fit one with mobrecon handedness-train "
                        "and pass it with --weights")
    return classifier


def run(args) -> int:
    if not args.images:
        raise UserError("give one or more IMAGE files (fitting and scoring the head: mobrecon handedness-train, "
                        "handedness-eval)")
    box = parse_numbers(args.box, 4, "--box") if args.box else None
    classifier = load_classifier(args)
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            h, w = image.shape[:2]
            hand_box = check_box(box, w, h) if box else (0.0, 0.0, w - 1.0, h - 1.0)
            side, p_left = classifier.classify(image, hand_box if box else None)
        except (FileNotFoundError, ValueError) as e:
            print(image_error("handedness", path, e), file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), "box": [round(v, 2) for v in hand_box], "handedness": side,
                              "p_left": round(p_left, 4)}))
        else:
            print(f"{path}: {side} hand (P(left) = {p_left:.2f})")
    return 2 if failures else 0

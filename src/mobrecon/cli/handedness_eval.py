"""``mobrecon handedness-eval DIR[,DIR...]``: the handedness head's accuracy on the hands of
generated sets (still sets from ``mobrecon synth``, composite sets from ``mobrecon
detect-data``), each hand scored as stored and mirrored."""

from __future__ import annotations

import argparse
import json

from mobrecon.cli.handedness import add_classifier_arguments, load_classifier
from mobrecon.detect.handedness_train import evaluate_handedness


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("data", metavar="DIR[,DIR...]", help="generated sets, comma-separated")
    add_classifier_arguments(g)
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    classifier = load_classifier(args)
    result = {"data": args.data, "model": args.model, "weights": args.weights or "shipped",
              **evaluate_handedness(classifier, args.data, progress=not (args.quiet or args.json))}
    print(json.dumps(result) if args.json else "\n".join(f"{k:>18s}  {v}" for k, v in result.items()))
    return 0

"""``mobrecon handedness-eval DIR[,DIR...]``: the handedness head's accuracy on the hands of
generated sets (still sets from ``mobrecon synth``, composite sets from ``mobrecon
detect-data``), each hand scored as stored and mirrored."""

from __future__ import annotations

import argparse

from mobrecon.cli.common import print_record
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
    print_record(result, args.json, 18)
    return 0

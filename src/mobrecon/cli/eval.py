"""``mobrecon eval``: score a model on a data set (MPJPE, PA-MPJPE, AUC, F@5/15, acceleration),
and optionally write its predictions as a FreiHAND submission."""

from __future__ import annotations

import argparse
import sys

from mobrecon.cli.common import UserError, print_record
from mobrecon.data.mixed import open_dataset
from mobrecon.eval.evaluate import evaluate
from mobrecon.eval.submission import write_freihand_json
from mobrecon.models.weights import load_model


def add_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("--checkpoint", required=True, help="a model file (model.pt) or a stage-2 checkpoint (last.pt)")
    e.add_argument("--data", required=True, help="a data set: DIR or KIND:DIR[:SPLIT] (freihand, rhd, ho3d, synth)")
    e.add_argument("--count", type=int, help="score only the first N samples")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--workers", type=int, default=0, help="DataLoader processes")
    e.add_argument("--fps", type=float, default=30.0, help="frame rate of video sets (acceleration units)")
    e.add_argument("--crop", default="joints", choices=("joints", "full"),
                   help="joints: around the annotated 2D joints (protocol); full: the whole image (video crops)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--freihand-json", metavar="FILE", help="also write predictions as a FreiHAND submission "
                   "[xyz_list, verts_list] (camera space, metres)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    if args.count is not None and args.count < 1:
        raise UserError(f"--count must be >= 1, got {args.count}")
    model = load_model(args.checkpoint)
    data = open_dataset(args.data)
    result = evaluate(model, data, count=args.count, batch_size=args.batch_size, workers=args.workers,
                      progress=not (args.quiet or args.json), fps=args.fps, collect=bool(args.freihand_json),
                      crop=args.crop)
    if args.freihand_json:
        pred = result.pop("predictions")
        write_freihand_json(args.freihand_json, list(pred["joints3d"]), list(pred["vertices"]),
                            num_vertices=pred["vertices"].shape[1])
    result = {"checkpoint": args.checkpoint, "data": args.data, **result}
    print_record(result, args.json, 16)
    if args.freihand_json:
        print(f"wrote {args.freihand_json}", file=sys.stderr if args.json else sys.stdout)
    return 0

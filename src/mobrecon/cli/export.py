"""``mobrecon export``: export a model to ONNX (fp32, or int8 with calibration), checked against
PyTorch in ONNX Runtime."""

from __future__ import annotations

import argparse
import json

from mobrecon.cli.common import UserError
from mobrecon.extras import require
from mobrecon.infer.export import export_model
from mobrecon.models.weights import weights_label


def add_arguments(x: argparse.ArgumentParser) -> None:
    x.add_argument("--model", default="mobrecon_ghoststack", help="a registered name (shipped weights, else random "
                   "ones), a model file or a stage-2 checkpoint")
    x.add_argument("--onnx", required=True, help="the .onnx file to write")
    x.add_argument("--int8", action="store_true", help="static int8 quantisation (ONNX Runtime, QDQ)")
    x.add_argument("--calib", help="with --int8: calibration images (a folder, or a mobrecon synth set)")
    x.add_argument("--n-calib", type=int, default=32, help="with --int8: number of calibration crops")
    x.add_argument("--json", action="store_true", help="print the export, parity and int8 reports as JSON")


def run(args) -> int:
    if args.calib and not args.int8:
        raise UserError("--calib goes with --int8")
    for module in ("onnx", "onnxscript", "onnxruntime"):  # export, then the parity check in ONNX Runtime
        require(module, "mobrecon export")
    result = export_model(args.model, args.onnx, int8=args.int8, calib=args.calib, n=args.n_calib)
    result = {"model": args.model, "weights": weights_label(args.model), "onnx": args.onnx, **result}
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    check = result.get("check", {})
    print(f"wrote {args.onnx} ({'int8' if args.int8 else 'fp32'}, dynamic batch axis; "
          f"weights: {result['weights']})")
    if check:
        print(f"  fp32 parity with PyTorch: max |vertex difference| {check['max_abs']['vertices']:.2e} m "
              f"(batches {', '.join(str(b) for b in check['batch'])}; tolerance {check['tolerance']['vertices']:g} m)")
    if args.int8:
        d = result["int8"].get("differences", {})
        if d:
            print(f"  int8 vs fp32: {json.dumps(d, default=str)}")
    return 0

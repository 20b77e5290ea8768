"""Is int8 worth having? The shipped GhostStack's encoder graph (the Conv / Gemm layers, ~80 %
of the Mult-Adds; the decoder stays fp32) quantised statically by ONNX Runtime, calibrated on
real close-ups (sign-language digits, ``../shared/realdata``, even-numbered photos) and
compared with fp32 on held-out ones (odd-numbered photos of other people's signs):

- ``qdq``: QDQ, per-channel int8 weights, uint8 activations, MinMax;
- ``qoperator``: the same as QOperator (QLinearConv) nodes;
- ``qdq-keep``: QDQ with the ``--keep`` most sensitive nodes left fp32 (sensitivity: the
  signal-to-quantisation-noise ratio each node's own output loses, ``qdq_loss_debug``);
- ``qdq-percentile``: QDQ with percentile (99.999) calibration instead of MinMax.

Drift: mean per-vertex distance to fp32 (mm, root-relative) and mean 2D joint distance (crop
pixels, 128 px crops); latency: encoder + decoder, batch 1, one thread, median of ``--runs``
(interleaved with fp32, so both see the same load).

    nice -n 5 python benchmarks/int8_study.py [--calib 64] [--eval 64] [--keep 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLD = ROOT.parent / "shared" / "realdata" / "sign-language-digits" / "Dataset"


def crops(files, size=128) -> np.ndarray:
    from mobrecon.data.crop import to_tensor_image
    from mobrecon.data.calibration import centre_square

    return np.stack([to_tensor_image(centre_square(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), size))
                     for f in files])


class Reader:
    def __init__(self, x, batch=8):
        self.x, self.batch, self.i = x, batch, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += self.batch
        return {"image": self.x[self.i - self.batch:self.i]}

    def rewind(self):
        self.i = 0

    def __iter__(self):
        self.rewind()
        return iter(self.get_next, None)


def quantize(src, dst, x, fmt="qdq", exclude=(), method="minmax"):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    cm = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}[method]
    quantize_static(str(src), str(dst), Reader(x), quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    op_types_to_quantize=["Conv", "Gemm"], per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=cm, nodes_to_exclude=list(exclude),
                    extra_options={"CalibPercentile": 99.999} if method == "percentile" else {})


def sensitive_nodes(fp32, qdq, x, keep: int, tmp: Path) -> list[str]:
    """The ``keep`` Conv / Gemm nodes whose outputs lose the most SQNR to their own QDQ pair."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    a32, aq = tmp / "aug32.onnx", tmp / "augq.onnx"
    modify_model_output_intermediate_tensors(str(fp32), str(a32))
    modify_model_output_intermediate_tensors(str(qdq), str(aq))
    match = create_activation_matching(collect_activations(str(aq), Reader(x[:16])),
                                       collect_activations(str(a32), Reader(x[:16])))
    err = compute_activation_error(match)
    producer = {o: n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("Conv", "Gemm") for o in n.output}
    scored = sorted((v.get("qdq_err", np.inf), producer[t]) for t, v in err.items() if t in producer)
    return [name for _, name in scored[:keep]]


def main(argv=None) -> int:
    import onnxruntime  # noqa: F401

    from mobrecon.infer.graph_parts import export_parts
    from mobrecon.infer.ort_session import open_session
    from mobrecon.models.weights import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calib", type=int, default=64)
    ap.add_argument("--eval", type=int, default=64)
    ap.add_argument("--keep", type=int, default=12)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    files = sorted(SLD.glob("*/*.JPG"))
    if not files:
        raise SystemExit(f"benchmarks/int8_study.py: no sign-language-digits photos in {SLD}")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(files))
    cal = crops([files[i] for i in idx[: args.calib]])
    held = crops([files[i] for i in idx[args.calib: args.calib + args.eval]])
    model = resolve_model("mobrecon_ghoststack")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="mobrecon-int8-") as t:
        tmp = Path(t)
        enc, dec = tmp / "enc.onnx", tmp / "dec.onnx"
        export_parts(model, enc, dec)
        variants = {"qdq": dict(fmt="qdq"), "qoperator": dict(fmt="qoperator"),
                    "qdq-percentile": dict(fmt="qdq", method="percentile")}
        for name, kw in variants.items():
            quantize(enc, tmp / f"{name}.onnx", cal, **kw)
        keep = sensitive_nodes(enc, tmp / "qdq.onnx", cal, args.keep, tmp)
        quantize(enc, tmp / "qdq-keep.onnx", cal, fmt="qdq", exclude=keep)
        decoder = open_session(dec, 1)
        names = [i.name for i in decoder.get_inputs()]
        sessions = {"fp32": open_session(enc, 1), **{n: open_session(tmp / f"{n}.onnx", 1)
                                                     for n in (*variants, "qdq-keep")}}

        def run(s, x):
            e = s.run(None, {"image": x})
            return dict(zip(("uv", "joints2d", "vertices", "joints3d"), decoder.run(None, dict(zip(names, e)))))

        ref = [run(sessions["fp32"], held[i:i + 1]) for i in range(len(held))]
        x1 = held[:1]
        times = {n: [] for n in sessions}
        for _ in range(args.runs):  # interleaved
            for n, s in sessions.items():
                t0 = time.perf_counter()
                run(s, x1)
                times[n].append(1e3 * (time.perf_counter() - t0))
        for n, s in sessions.items():
            out = [run(s, held[i:i + 1]) for i in range(len(held))]
            dv = np.mean([np.linalg.norm((o["vertices"] - o["joints3d"][:, :1]) - (r["vertices"] - r["joints3d"][:, :1]),
                                         axis=-1).mean() for o, r in zip(out, ref)]) * 1e3
            dj = np.mean([np.linalg.norm(o["joints2d"] - r["joints2d"], axis=-1).mean() for o, r in zip(out, ref)])
            rows[n] = {"median_ms": round(statistics.median(times[n]), 2), "vertex_drift_mm": round(float(dv), 3),
                       "joints2d_drift_px": round(float(dj), 3)}
    result = {"calibration": f"{len(cal)} sign-language-digits photos", "held_out": f"{len(held)} others",
              "kept_fp32": keep, "rows": rows}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"calibration: {result['calibration']}; drift on {result['held_out']}; qdq-keep leaves fp32: {', '.join(keep)}")
    print("| variant | encoder + decoder, 1 thread | mean vertex drift | mean 2D drift (128 px crop) |")
    print("|---|---|---|---|")
    for n, r in rows.items():
        print(f"| {n} | {r['median_ms']:.2f} ms ({r['median_ms'] / rows['fp32']['median_ms']:.2f}x fp32) | "
              f"{r['vertex_drift_mm']:.2f} mm | {r['joints2d_drift_px']:.2f} px |")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())

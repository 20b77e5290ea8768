"""ONNX export, fp32 parity check and int8 static quantisation of a MobRecon network.

The exported graph takes ``image`` (B, 3, S, S) float32 normalised as (x - 0.5) / 0.5 (see
:func:`mobrecon.data.crop.to_tensor_image`) and returns, in this order, ``uv`` (B, 21, 2),
``joints2d`` (B, 21, 2) crop pixels, ``vertices`` (B, V, 3) root-relative metres and ``joints3d``
(B, 21, 3); ``heatmaps`` of the heatmap heads are dropped. B is a dynamic axis.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` + onnxscript), the
exporter PyTorch 2.13 maintains. Every registered model goes through it unchanged: the mesh
up-sampling is already dense (MatMul), spirals are ``index_select`` (Gather), pose pooling is
GridSample; its graph optimiser folds BatchNorm and constants, and the batch axis comes out
named and dynamic on every output. It writes opset >= 18 only; for an older ``opset`` the
TorchScript exporter (deprecated since 2.9, still working here, faster to export, but it leaves
some output dims unnamed) is used instead. Measured on random weights: ONNX Runtime matches
PyTorch to < 1e-7 m on vertices at batch 1 and 3 for all ten registered models (the
hard-argmax heatmap model's ``uv`` can flip between near-equal heatmap maxima, a property of
argmax, not of the export).

DSConv's depth-wise step is a Mul + ReduceSum over the spiral (see
:class:`~mobrecon.models.dsconv.DSConv`): written as a batched matmul of (1 x S) @ (S x 1)
products, ONNX Runtime ran it as thousands of tiny GEMMs (GhostStack model, batch 1, 1 thread:
24 ms, 80% of it in those MatMuls; as Mul + ReduceSum: ~3.3 ms).

int8: ONNX Runtime static quantisation in QDQ format, MinMax calibration on hand crops,
per-channel int8 weights and uint8 activations (ONNX Runtime's advice for x86). By default only
``Conv`` and ``Gemm`` nodes are quantised, i.e. the 2D encoder (its convolutions and the
squeeze-excitation FCs), which is ~80% of the Mult-Adds; MapReg's MLP, pose pooling, lifting
and the 3D decoder (MatMul / Gather / Einsum) stay float32. On random-weight networks made
input-sensitive (He init, BatchNorm statistics from crops) that halves the vertex error of
quantising every node (GhostStack 4.4 mm vs 11 mm mean per-vertex distance to fp32 on held-out
synthetic crops, against an 18.6 mm spread of the fp32 output over those crops); trained
networks should be re-measured with the report :func:`quantize_int8` returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobrecon.data.calibration import calibration_crops
from mobrecon.data.crop import to_tensor_image
from mobrecon.extras import require
from mobrecon.infer.export_form import export_form
from mobrecon.infer.ort_session import input_size, is_quantized, open_session
from mobrecon.io_utils import atomic_path
from mobrecon.models.weights import resolve_model

__all__ = ["OUTPUTS", "OnnxOutputs", "check_onnx", "export_model", "export_onnx", "int8_differences",
           "quantize_int8"]

OUTPUTS = ("uv", "joints2d", "vertices", "joints3d")
MIN_DYNAMO_OPSET = 18
DEFAULT_INT8_OPS = ("Conv", "Gemm")


class OnnxOutputs(nn.Module):
    """A network returning a dict, made to return the tuple of its ``keys`` (an exporter needs a
    fixed order). By default a MobRecon's ``OUTPUTS``: image (B, 3, S, S) -> uv (B, 21, 2),
    joints2d (B, 21, 2), vertices (B, V, 3), joints3d (B, 21, 3)."""

    def __init__(self, model: nn.Module, keys: tuple[str, ...] = OUTPUTS):
        super().__init__()
        self.model, self.keys = model, tuple(keys)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image)
        return tuple(out[k] for k in self.keys)


@contextlib.contextmanager
def _quiet_export():
    """Silence the exporters' chatter (tracer / deprecation warnings, 'torchvision is not
    installed' notices) for the duration of one export; everything is restored afterwards."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.onnx._internal.exporter._registration",
                                              "torch.onnx._internal.exporter._compat", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _first_line(e: BaseException) -> str:
    return ((str(e).strip().splitlines() or [""])[0] or type(e).__name__)[:200]


def export_onnx(model, path: str | os.PathLike, opset: int | None = None, batch: int = 2,
                exporter: str | None = None, fuse_decoder: bool = True) -> dict:
    """Write ``model`` (a MobRecon, registered name or model file) to ``path`` as ONNX, atomically.

    The graph is traced on a (batch, 3, S, S) example (batch >= 2, so that the batch axis is not
    specialised to 1) and declared dynamic in B. ``opset``: None for the exporter's own choice;
    ``exporter``: 'dynamo' (default) or 'torchscript' (default when ``opset`` < 18). The
    network is exported in its :func:`~mobrecon.infer.export_form.export_form`
    (``fuse_decoder``: see there; off for a graph to be quantised). Returns
    ``{"path", "exporter", "opset", "input", "outputs", "seconds", "bytes"}``.
    """
    onnx = require("onnx", "ONNX export")

    if int(batch) < 2:
        raise ValueError(f"batch: the example batch must be >= 2 for a dynamic batch axis, got {batch}")
    if exporter is None:
        exporter = "torchscript" if opset is not None and int(opset) < MIN_DYNAMO_OPSET else "dynamo"
    if exporter not in ("dynamo", "torchscript"):
        raise ValueError(f"exporter must be 'dynamo' or 'torchscript', got {exporter!r}")
    if exporter == "dynamo" and opset is not None and int(opset) < MIN_DYNAMO_OPSET:
        raise ValueError(f"opset {opset}: the dynamo exporter writes opset >= {MIN_DYNAMO_OPSET}; "
                         "use exporter='torchscript'")
    if exporter == "dynamo":
        require("onnxscript", "ONNX export (the dynamo exporter)")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give the .onnx file to write")
    net = resolve_model(model)
    size = int(net.cfg.input_size)
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(int(batch), 3, size, size, generator=gen) * 2 - 1
    t0 = time.perf_counter()
    with _eval_mode(net), atomic_path(path, suffix=".onnx") as tmp:
        wrapper = OnnxOutputs(export_form(net, fuse_decoder)).eval()
        try:
            with _quiet_export(), torch.no_grad():
                if exporter == "dynamo":
                    torch.onnx.export(wrapper, (example,), str(tmp), dynamo=True, opset_version=opset,
                                      input_names=["image"], output_names=list(OUTPUTS),
                                      dynamic_shapes={"image": {0: torch.export.Dim("batch", min=1)}},
                                      external_data=False, optimize=True, verbose=False)
                else:
                    torch.onnx.export(wrapper, (example,), str(tmp), dynamo=False,
                                      opset_version=17 if opset is None else int(opset),
                                      input_names=["image"], output_names=list(OUTPUTS),
                                      dynamic_axes={k: {0: "batch"} for k in ("image", *OUTPUTS)})
            proto = onnx.load(str(tmp))
            onnx.checker.check_model(proto)
        except Exception as e:
            raise RuntimeError(f"{path}: ONNX export ({exporter}) failed: {_first_line(e)}") from e
        got = [o.name for o in proto.graph.output]
        if got != list(OUTPUTS):
            raise RuntimeError(f"{path}: exported outputs are {got}, expected {list(OUTPUTS)}")
        written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
        if opset is not None and written != int(opset):
            raise RuntimeError(f"{path}: asked for opset {opset}, the exporter wrote {written}; nothing written")

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {
        "path": str(path),
        "exporter": exporter,
        "opset": written,
        "input": {"image": dims(proto.graph.input[0])},
        "outputs": {o.name: dims(o) for o in proto.graph.output},
        "seconds": round(time.perf_counter() - t0, 2),
        "bytes": path.stat().st_size,
    }


def check_onnx(model, path: str | os.PathLike, batch: Sequence[int] = (1, 3), atol: float = 1e-4,
               seed: int = 0, threads: int | None = None) -> dict:
    """Run the ONNX file at ``path`` in ONNX Runtime and ``model`` in PyTorch on random images
    (uniform in [-1, 1]) of each batch size; report the largest absolute difference per output.

    Tolerances: ``atol`` for uv (crop fraction), vertices and joints3d (metres), ``atol * S`` for
    joints2d (pixels). Returns ``{"path", "batch", "max_abs", "tolerance", "ok", "failed"}``.
    """
    net = resolve_model(model)
    session = open_session(path, threads)
    names = [o.name for o in session.get_outputs()]
    if names != list(OUTPUTS):
        raise ValueError(f"{path}: outputs are {names}, expected {list(OUTPUTS)} (not a mobrecon export?)")
    size = int(net.cfg.input_size)
    if input_size(session) != size:
        raise ValueError(f"{path}: takes {input_size(session)}-pixel crops, the model {size}")
    gen = torch.Generator().manual_seed(int(seed))
    worst = {k: 0.0 for k in OUTPUTS}
    with _eval_mode(net), torch.no_grad():
        for b in batch:
            x = torch.rand(int(b), 3, size, size, generator=gen) * 2 - 1
            ref = net(x)
            got = session.run(None, {"image": x.numpy()})
            for k, arr in zip(OUTPUTS, got):
                want = ref[k].numpy()
                if arr.shape != want.shape:
                    raise ValueError(f"{path}: {k} has shape {arr.shape} at batch {b}, PyTorch {want.shape}")
                worst[k] = max(worst[k], float(np.abs(arr.astype(np.float64) - want).max()))
    tol = {k: float(atol) * (size if k == "joints2d" else 1) for k in OUTPUTS}
    failed = [k for k in OUTPUTS if not worst[k] <= tol[k]]
    return {"path": str(path), "batch": [int(b) for b in batch], "max_abs": worst, "tolerance": tol,
            "ok": not failed, "failed": failed}


class _CropReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over (N, 3, S, S) float32 inputs,
    ``batch`` images per step."""

    def __init__(self, images: np.ndarray, batch: int = 8):
        self.images, self.batch, self.pos = images, max(1, int(batch)), 0

    def get_next(self) -> dict | None:
        if self.pos >= len(self.images):
            return None
        chunk = self.images[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return {"image": np.ascontiguousarray(chunk)}

    def rewind(self) -> None:
        self.pos = 0


def _centred_corr(a: np.ndarray, b: np.ndarray, mean: np.ndarray) -> float | None:
    """Pearson correlation of ``a - mean`` and ``b - mean`` (None when undefined)."""
    x, y = (a - mean).ravel(), (b - mean).ravel()
    if len(a) < 2 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def int8_differences(ref: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> dict:
    """How far ``out`` (int8) lies from ``ref`` (fp32), both dicts of OUTPUTS over N images.

    ``vertices_mm_mean`` / ``_max``: per-vertex distance (mm); ``joints3d_mm_mean``;
    ``joints2d_px_mean`` / ``_max``: per-joint distance (crop pixels); ``vertices_corr``: Pearson
    correlation of all coordinates; ``vertices_spread_mm``: mean distance of the fp32 vertices
    from their mean over the N images (how much the output depends on the image: read the
    errors against it); ``vertices_corr_centred`` / ``joints2d_corr_centred``: correlation of
    the deviations from that mean (does int8 follow what changes with the image? None for
    N < 2); ``finite``: all int8 outputs finite.
    """
    v32, v8 = ref["vertices"].astype(np.float64), out["vertices"].astype(np.float64)
    j32, j8 = ref["joints2d"].astype(np.float64), out["joints2d"].astype(np.float64)
    dv = np.linalg.norm(v8 - v32, axis=-1) * 1e3
    dj = np.linalg.norm(j8 - j32, axis=-1)
    d3 = np.linalg.norm(out["joints3d"].astype(np.float64) - ref["joints3d"], axis=-1) * 1e3
    vmean, jmean = v32.mean(0, keepdims=True), j32.mean(0, keepdims=True)
    corr = np.corrcoef(v8.ravel(), v32.ravel())[0, 1] if v8.std() > 0 and v32.std() > 0 else np.nan
    return {
        "images": int(len(v32)),
        "vertices_mm_mean": float(dv.mean()),
        "vertices_mm_max": float(dv.max()),
        "joints3d_mm_mean": float(d3.mean()),
        "joints2d_px_mean": float(dj.mean()),
        "joints2d_px_max": float(dj.max()),
        "vertices_corr": float(corr),
        "vertices_spread_mm": float(np.linalg.norm(v32 - vmean, axis=-1).mean() * 1e3),
        "vertices_corr_centred": _centred_corr(v8, v32, vmean),
        "joints2d_corr_centred": _centred_corr(j8, j32, jmean),
        "finite": bool(all(np.isfinite(out[k]).all() for k in OUTPUTS)),
    }


def _run(session, x: np.ndarray, batch: int = 16) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    parts = [session.run(None, {"image": x[i:i + batch]}) for i in range(0, len(x), batch)]
    return {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(names)}


def quantize_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calib_images=None, n: int = 32,
                  n_eval: int = 16, per_channel: bool = True, op_types: Sequence[str] | None = DEFAULT_INT8_OPS,
                  activations: str = "uint8", reduce_range: bool = False, threads: int | None = None) -> dict:
    """Statically quantise the fp32 export at ``fp32_path`` to int8 (QDQ) at ``out_path``, atomically.

    calib_images: a list of (H, W, 3) uint8 crops, a folder of images, a ``mobrecon synth``
    folder, or None for synthetic crops rendered now (see
    :func:`mobrecon.data.calibration.calibration_crops`). The first ``n`` crops calibrate the
    activation ranges (MinMax); up to ``n_eval`` further crops are held out to compare int8 with
    fp32 (with none left over, the calibration crops are used and ``evaluated_on`` says so).
    op_types: node types to quantise (None: all that ONNX Runtime can); activations: 'uint8'
    (x86) or 'int8' (symmetric, ARM); reduce_range: 7-bit weights for CPUs without VNNI.

    Returns ``{"path", "fp32_path", "calibration_images", "evaluated_on", "per_channel",
    "op_types", "activations", "seconds", "bytes", "fp32_bytes", "differences"}``
    (``differences``: :func:`int8_differences`).
    """
    quantization = require("onnxruntime.quantization", "int8 quantisation")
    CalibrationMethod, QuantFormat = quantization.CalibrationMethod, quantization.QuantFormat
    QuantType, quantize_static = quantization.QuantType, quantization.quantize_static

    if int(n) < 1 or int(n_eval) < 0:
        raise ValueError(f"n must be >= 1 and n_eval >= 0, got n={n}, n_eval={n_eval}")
    if activations not in ("uint8", "int8"):
        raise ValueError(f"activations must be 'uint8' or 'int8', got {activations!r}")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    fp32 = open_session(fp32_path, threads)
    if is_quantized(fp32_path):
        raise ValueError(f"{fp32_path}: already quantised; give the fp32 export")
    if fp32_path.resolve() == out_path.resolve():
        raise ValueError(f"{out_path}: the int8 model must not overwrite its fp32 source")
    size = input_size(fp32)
    crops = calibration_crops(calib_images, size, limit=int(n) + int(n_eval))
    x = np.stack([to_tensor_image(c) for c in crops])
    cal, held = x[: int(n)], x[int(n): int(n) + int(n_eval)]
    evaluated_on = "held-out"
    if len(held) == 0:
        held, evaluated_on = cal, "calibration"
    t0 = time.perf_counter()
    with atomic_path(out_path, suffix=".onnx") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act = QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8
        quantize_static(str(fp32_path), str(tmp), _CropReader(cal), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(op_types) if op_types else None, per_channel=bool(per_channel),
                        reduce_range=bool(reduce_range), activation_type=act, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    seconds = time.perf_counter() - t0
    int8 = open_session(out_path, threads)
    return {
        "path": str(out_path),
        "fp32_path": str(fp32_path),
        "calibration_images": int(len(cal)),
        "evaluated_on": evaluated_on,
        "per_channel": bool(per_channel),
        "op_types": list(op_types) if op_types else "all",
        "activations": activations,
        "seconds": round(seconds, 2),
        "bytes": out_path.stat().st_size,
        "fp32_bytes": fp32_path.stat().st_size,
        "differences": int8_differences(_run(fp32, held), _run(int8, held)),
    }


def export_model(model, onnx_path: str | os.PathLike, int8: bool = False, calib=None, n: int = 32,
                 opset: int | None = None, check: bool = True) -> dict:
    """What ``mobrecon export`` does: ``model`` (registered name, model file or checkpoint, or a
    MobRecon) -> ``onnx_path``. fp32: export, then (``check``) the parity check at batch 1 and 3.
    int8: the fp32 export goes to a temporary folder, is checked, quantised with ``calib`` /
    ``n`` (:func:`quantize_int8`) and the int8 model is written to ``onnx_path``.
    Returns ``{"export", "check"?, "int8"?}`` (the reports of the steps; with ``int8`` their
    fp32 paths are None, the intermediate file being deleted)."""
    net = resolve_model(model)
    if not int8:
        result = {"export": export_onnx(net, onnx_path, opset=opset)}
        if check:
            result["check"] = check_onnx(net, onnx_path)
        return result
    with tempfile.TemporaryDirectory(prefix="mobrecon-export-") as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        result = {"export": export_onnx(net, fp32, opset=opset, fuse_decoder=False)}
        if check:
            result["check"] = check_onnx(net, fp32)
        result["int8"] = quantize_int8(fp32, onnx_path, calib, n=n)
    for step in ("export", "check"):  # the fp32 intermediate is gone
        if step in result:
            result[step]["path"] = None
    result["int8"]["fp32_path"] = None
    return result

"""Opening an exported model in ONNX Runtime (CPU), with one-line errors naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from mobrecon.extras import require
from mobrecon.infer.threads import session_options

__all__ = ["QUANT_OPS", "input_size", "is_quantized", "open_session"]

# Node types that only a quantised graph holds.
QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                       "MatMulInteger", "DynamicQuantizeLinear"})


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    return path


def open_session(path: str | os.PathLike, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` on the CPU for ``path`` with the options of
    :func:`mobrecon.infer.threads.session_options` (``threads`` intra-op threads; None: the
    inference default, see :mod:`mobrecon.infer.threads`; idle threads do not spin)."""
    ort = require("onnxruntime", "Running an ONNX model")

    path = _check_file(path)
    so = session_options(threads)
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"{path}: not a usable ONNX model ({first})") from None


def input_size(session) -> int:
    """S of the session's (B, 3, S, S) ``image`` input (128 when the side is symbolic)."""
    shape = session.get_inputs()[0].shape
    side = shape[-1] if len(shape) == 4 else None
    return int(side) if isinstance(side, int) else 128


def is_quantized(path: str | os.PathLike) -> bool:
    """Whether the ONNX file at ``path`` holds quantisation nodes (an int8 model)."""
    onnx = require("onnx", "Reading an ONNX file")

    path = _check_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None
    return any(n.op_type in QUANT_OPS for n in model.graph.node)

"""Opening an exported model in ONNX Runtime (CPU), with one-line errors naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from mobrecon.extras import require

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
    """An ``onnxruntime.InferenceSession`` on the CPU for ``path``; ``threads`` sets
    ``intra_op_num_threads`` (None: ONNX Runtime's default, one per physical core)."""
    ort = require("onnxruntime", "Running an ONNX model")

    path = _check_file(path)
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
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

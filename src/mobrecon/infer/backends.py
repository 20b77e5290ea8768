"""One runner interface over PyTorch eager, ONNX Runtime fp32 and ONNX Runtime int8, and a timer.

``make_runner(spec, backend)`` returns an object called as ``runner(images)`` with images
(B, 3, S, S) float32 normalised as (x - 0.5) / 0.5, returning a dict of numpy arrays with the
keys ``OUTPUTS`` (uv (B, 21, 2), joints2d (B, 21, 2), vertices (B, V, 3), joints3d (B, 21, 3))
for every backend. ``bench_runner`` times one.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from mobrecon.extras import require
from mobrecon.infer.export import OUTPUTS, export_onnx, quantize_int8
from mobrecon.infer.ort_session import input_size, is_quantized, open_session
from mobrecon.models.weights import resolve_model
from mobrecon.timing import p90, time_calls

__all__ = ["BACKENDS", "OrtRunner", "TorchRunner", "bench_runner", "make_runner"]

BACKENDS = ("torch", "onnx", "onnx-int8")


def _check_images(images, size: int) -> np.ndarray:
    x = np.ascontiguousarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != (3, size, size):
        raise ValueError(f"images: expected (B, 3, {size}, {size}) float32, got shape {x.shape}")
    return x


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """torch's intra-op thread count set to ``threads`` for the duration, then restored."""
    prev = torch.get_num_threads()
    if threads is not None and int(threads) != prev:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


class TorchRunner:
    """PyTorch eager (inference mode) on the CPU; ``threads`` torch threads while it runs."""

    backend = "torch"

    def __init__(self, model, threads: int | None = None):
        self.model = model.eval()
        self.threads = None if threads is None else int(threads)
        self.input_size = int(model.cfg.input_size)
        self.info: dict = {"backend": self.backend, "source": "model"}

    @property
    def encoder_ref(self):
        return self.model.encoder

    def __call__(self, images) -> dict[str, np.ndarray]:
        x = torch.from_numpy(_check_images(images, self.input_size))
        with _torch_threads(self.threads), torch.inference_mode():
            out = self.model(x)
        return {k: out[k].numpy() for k in OUTPUTS}

    def encode(self, images) -> tuple[np.ndarray, ...]:
        """(B, 3, S, S) -> the encoder's outputs as numpy arrays (see :meth:`MobRecon.encode`)."""
        x = torch.from_numpy(_check_images(images, self.input_size))
        with _torch_threads(self.threads), torch.inference_mode():
            enc = self.model.encode(x)
        return tuple(t.numpy() for t in (enc if isinstance(enc, tuple) else (enc,)))

    def decode(self, encoded: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        """The rest of the network on :meth:`encode`'s outputs -> dict of ``OUTPUTS``."""
        parts = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in encoded)
        with _torch_threads(self.threads), torch.inference_mode():
            out = self.model.decode(parts if len(parts) > 1 else parts[0])
        return {k: out[k].numpy() for k in OUTPUTS}


class OrtRunner:
    """ONNX Runtime (CPU) on an exported file; the file is read once, when the runner is made."""

    def __init__(self, path: str | os.PathLike, backend: str = "onnx", threads: int | None = None,
                 info: dict | None = None):
        self.backend = backend
        self.threads = None if threads is None else int(threads)
        self.session = open_session(path, self.threads)
        self.names = [o.name for o in self.session.get_outputs()]
        if self.names != list(OUTPUTS):
            raise ValueError(f"{path}: outputs are {self.names}, expected {list(OUTPUTS)} (not a mobrecon export?)")
        self.input_size = input_size(self.session)
        self.info = {"backend": backend, "source": str(path), **(info or {})}

    def __call__(self, images) -> dict[str, np.ndarray]:
        x = _check_images(images, self.input_size)
        return dict(zip(self.names, self.session.run(None, {"image": x})))


def make_runner(model_or_path, backend: str = "torch", threads: int | None = None, calib=None,
                n_calib: int = 32, seed: int = 0):
    """A runner for ``model_or_path`` on ``backend`` ('torch' | 'onnx' | 'onnx-int8').

    model_or_path: a MobRecon, a registered name (random weights from ``seed``), a model file /
    stage-2 checkpoint (``.pt``), or an ``.onnx`` file (onnx backends only). A network given to
    an onnx backend is exported into a temporary folder first (~10 s); for 'onnx-int8' an fp32
    export (or ``.onnx`` file) is then quantised with ``n_calib`` crops from ``calib`` (a folder
    of images or a ``mobrecon synth`` set; None renders synthetic crops, ~2 s) - an ``.onnx``
    file that is already quantised is used as it is. The temporary files are deleted once the
    session is open. ``threads``: torch threads / ONNX Runtime ``intra_op_num_threads``
    (None: the library's default). ``runner.info`` records the source and, for int8, the
    quantisation report.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if backend != "torch":  # before any export work
        require("onnxruntime", f"The {backend} backend")
    onnx_file = isinstance(model_or_path, (str, os.PathLike)) and Path(model_or_path).suffix.lower() == ".onnx"
    if onnx_file:
        path = Path(model_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        if backend == "torch":
            raise ValueError(f"{path}: an ONNX file runs on the onnx or onnx-int8 backend, not torch")
        if backend == "onnx" or is_quantized(path):
            return OrtRunner(path, backend, threads)
        with tempfile.TemporaryDirectory(prefix="mobrecon-int8-") as tmp:
            report = quantize_int8(path, Path(tmp) / "model.int8.onnx", calib, n=n_calib, n_eval=0)
            return OrtRunner(report["path"], backend, threads, info={"source": str(path), "int8": report})
    model = resolve_model(model_or_path, seed=seed)
    if backend == "torch":
        return TorchRunner(model, threads)
    with tempfile.TemporaryDirectory(prefix="mobrecon-onnx-") as tmp:
        # the fused decoder is fp32-only (export_form): int8 quantises the plain graph
        exported = export_onnx(model, Path(tmp) / "model.onnx", fuse_decoder=backend == "onnx")
        info = {"source": str(model_or_path) if not isinstance(model_or_path, torch.nn.Module) else "model",
                "export": exported}
        if backend == "onnx":
            return OrtRunner(exported["path"], backend, threads, info=info)
        report = quantize_int8(exported["path"], Path(tmp) / "model.int8.onnx", calib, n=n_calib, n_eval=0)
        return OrtRunner(report["path"], backend, threads, info={**info, "int8": report})


def bench_runner(runner, batch: int = 1, warmup: int = 5, runs: int = 30, throughput_batch: int = 32,
                 throughput_runs: int = 3, seed: int = 0) -> dict:
    """Wall-clock timing of ``runner`` on random (batch, 3, S, S) images (uniform in [-1, 1]).

    Latency: ``warmup`` untimed calls, then the median / p90 of ``runs`` calls (ms) and
    ``fps`` = batch / median. Throughput (skipped when ``throughput_batch`` is 0): one untimed
    call at ``throughput_batch``, then ``images_per_s`` = throughput_batch / median time of
    ``throughput_runs`` calls. Returns ``{"backend", "threads", "batch", "runs", "median_ms",
    "p90_ms", "fps", "throughput_batch", "images_per_s"}``.
    """
    if int(batch) < 1 or int(runs) < 1 or int(warmup) < 0 or int(throughput_batch) < 0:
        raise ValueError(f"need batch >= 1, runs >= 1, warmup >= 0, throughput_batch >= 0; got "
                         f"batch={batch}, runs={runs}, warmup={warmup}, throughput_batch={throughput_batch}")
    rng = np.random.default_rng(seed)
    size = runner.input_size
    x = rng.uniform(-1, 1, (int(batch), 3, size, size)).astype(np.float32)
    times = time_calls(lambda: runner(x), warmup, runs)
    median = statistics.median(times)
    result = {"backend": runner.backend, "threads": runner.threads, "batch": int(batch), "runs": len(times),
              "median_ms": median, "p90_ms": p90(times), "fps": 1e3 * int(batch) / median,
              "throughput_batch": int(throughput_batch), "images_per_s": None}
    if throughput_batch:
        xb = rng.uniform(-1, 1, (int(throughput_batch), 3, size, size)).astype(np.float32)
        tb = time_calls(lambda: runner(xb), 1, throughput_runs)
        result["images_per_s"] = 1e3 * int(throughput_batch) / statistics.median(tb)
    return result

"""``OrtHandDetector``: the hand detector with its CenterNet on ONNX Runtime.

The same letterbox, decoding and results as :class:`~mobrecon.detect.detector.HandDetector`
(it is one); only the network call runs an exported graph (``image`` (B, 3, S, S) ->
``heatmap``, ``size``, ``offset`` (B, 2, S/4, S/4)), exported at first use into the export
cache (:mod:`mobrecon.infer.ort_cache`, keyed by the detector's weights).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from mobrecon.detect.detector import HandDetector
from mobrecon.infer.export import OnnxOutputs
from mobrecon.infer.graph_parts import OPSET
from mobrecon.infer.ort_cache import cached_sessions
from mobrecon.infer.threads import inference_threads
from mobrecon.io_utils import atomic_path

__all__ = ["OrtHandDetector", "export_detector"]

HEADS = ("heatmap", "size", "offset")


def export_detector(model: nn.Module, path) -> None:
    """Write a CenterNet (used in eval mode, left as it was) to ``path`` as ONNX, atomically;
    batch and image size are dynamic."""
    size = int(model.cfg.input_size)
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(2, 3, size, size)
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, **{k: {0: "batch", 2: "h", 3: "w"} for k in HEADS}}
        with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(OnnxOutputs(model, HEADS).eval(), (x,), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=["image"], output_names=list(HEADS), dynamic_axes=axes)
    finally:
        model.train(was_training)


class OrtHandDetector(HandDetector):
    """A :class:`HandDetector` whose network runs on ONNX Runtime with ``threads`` intra-op
    threads (None: :func:`~mobrecon.infer.threads.inference_threads`)."""

    backend = "onnx"

    def __init__(self, model, threads: int | None = None, **kw):
        super().__init__(model, **kw)
        self.threads = inference_threads(threads)
        sessions, self.info = cached_sessions(self.model, ["detector"], lambda p: export_detector(self.model, p["detector"]),
                                              extra=repr(self.model.cfg), threads=self.threads)
        self.session = sessions["detector"]

    @classmethod
    def from_detector(cls, det: HandDetector, threads: int | None = None) -> "OrtHandDetector":
        """The same detector (weights, threshold, flip test, meta) on ONNX Runtime."""
        return cls(det.model.cpu(), threads=threads, threshold=det.threshold, max_hands=det.max_hands, meta=det.meta,
                   flip_test=det.flip_test)

    def _network(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(HEADS, self.session.run(None, {"image": np.ascontiguousarray(x, np.float32)})))

"""``OrtNet``: a MobRecon network on ONNX Runtime as two graphs (encoder, decoder) and as one
(the whole network), with the numpy interface the predictor uses for every backend:

- ``net(images)``: (B, 3, S, S) float32 -> dict of ``OUTPUTS`` (numpy), by the one graph;
- ``net.encode(images)`` -> tuple of the encoder's outputs ((B, C, 4, 4)[, (B, M, 16, 16)]);
- ``net.decode(encoded)`` -> dict of ``OUTPUTS``.

The graphs come from the export cache (:mod:`mobrecon.infer.ort_cache`; exported at first
use, ~2 s for GhostStack). ``encoder_ref`` is the torch encoder the graphs were made from, so
that the predictor can tell whether a handedness head was fitted on this very encoder.
"""

from __future__ import annotations

import numpy as np

from mobrecon.infer.export import OUTPUTS
from mobrecon.infer.graph_parts import encoder_names, export_parts
from mobrecon.infer.ort_cache import cached_sessions
from mobrecon.infer.threads import inference_threads

__all__ = ["OrtNet"]


class OrtNet:
    """``model`` (a MobRecon) exported (or read from the cache) and opened with ``threads``
    intra-op threads (None: :func:`~mobrecon.infer.threads.inference_threads`)."""

    backend = "onnx"

    def __init__(self, model, threads: int | None = None):
        self.threads = inference_threads(threads)
        self.input_size = int(model.cfg.input_size)
        self.encoded_names = encoder_names(model)
        self.encoder_ref = model.encoder

        def build(paths):
            export_parts(model, paths["encoder"], paths["decoder"], paths["full"])

        sessions, self.info = cached_sessions(model, ["encoder", "decoder", "full"], build, extra=repr(model.cfg),
                                              threads=self.threads)
        self.info["backend"] = self.backend
        self.enc, self.dec, self.full = sessions["encoder"], sessions["decoder"], sessions["full"]

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.enc.run(None, {"image": np.ascontiguousarray(images, np.float32)}))

    def decode(self, encoded: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUTS, self.dec.run(None, dict(zip(self.encoded_names, encoded)))))

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The whole network in one ``session.run`` (no hand-over of the encoder's outputs)."""
        return dict(zip(OUTPUTS, self.full.run(None, {"image": np.ascontiguousarray(images, np.float32)})))

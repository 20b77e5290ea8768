"""mobrecon: mobile-friendly 3D hand mesh reconstruction from one RGB image (MobRecon, CVPR 2022).

The public API is :func:`load` and what it returns (docs/API.md)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from mobrecon.version import __version__

if TYPE_CHECKING:
    from mobrecon.detect.detector import HandDetector
    from mobrecon.detect.handedness import HandednessClassifier
    from mobrecon.detect.presence import PresenceHead
    from mobrecon.infer.predictor import Predictor

__all__ = ["__version__", "load"]


def load(name_or_path: str | os.PathLike[str] = "mobrecon_ghoststack",
         backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto", threads: int | None = None,
         detector: str | os.PathLike[str] | HandDetector | None = "auto",
         handedness: str | os.PathLike[str] | HandednessClassifier | None = "auto",
         presence: str | os.PathLike[str] | PresenceHead | None = "auto", refine: bool = True) -> Predictor:
    """A predictor: ``mobrecon.load("mobrecon_ghoststack").predict("hand.jpg")``; ``detector``:
    ``"auto"`` (the shipped hand detector), None (none: no box means the whole image) or a
    detector file; ``handedness``: ``"auto"`` (the shipped left/right classifier), None (none:
    hands are right unless told or the detector says left) or a classifier file; ``presence``:
    ``"auto"`` (the shipped hand-presence head for the model's encoder, if any), None or a head
    file; ``refine``: re-box detected hands from their 2D joints (default) or not; ``backend``:
    "auto" (ONNX Runtime, PyTorch where it is missing), "onnx", "torch" or "onnx-int8". See
    :func:`mobrecon.infer.predictor.load`."""
    from mobrecon.infer.predictor import load as _load

    return _load(name_or_path, backend=backend, threads=threads, detector=detector, handedness=handedness,
                 presence=presence, refine=refine)

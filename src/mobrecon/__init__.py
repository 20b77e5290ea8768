"""mobrecon: mobile-friendly 3D hand mesh reconstruction from one RGB image (MobRecon, CVPR 2022)."""

__version__ = "0.1.0"


def load(name_or_path="mobrecon_ghoststack", backend: str = "auto", threads: int | None = None,
         detector="auto", handedness="auto"):
    """A predictor: ``mobrecon.load("mobrecon_ghoststack").predict("hand.jpg")``; ``detector``:
    ``"auto"`` (the shipped hand detector), None (none: no box means the whole image) or a
    detector file; ``handedness``: ``"auto"`` (the shipped left/right classifier), None (none:
    hands are right unless told or the detector says left) or a classifier file; ``backend``:
    "auto" (ONNX Runtime, PyTorch where it is missing), "onnx", "torch" or "onnx-int8". See
    :func:`mobrecon.infer.predictor.load`."""
    from mobrecon.infer.predictor import load as _load

    return _load(name_or_path, backend=backend, threads=threads, detector=detector, handedness=handedness)

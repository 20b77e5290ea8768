"""One way to name a network for export and benchmarking: a model object, a registered name
(random weights, seeded) or a model file / stage-2 checkpoint (:func:`mobrecon.models.weights.load_model`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mobrecon.models.mobrecon_net import MobRecon

__all__ = ["resolve_model"]


def resolve_model(spec: MobRecon | str | os.PathLike, seed: int = 0) -> MobRecon:
    """``spec`` -> a :class:`MobRecon` (eval mode when built or loaded here).

    A MobRecon is returned as is (its train / eval mode untouched). A registered name (``mobrecon_ghoststack``)
    loads its shipped weights where the package has them, else builds the network with random
    weights drawn from ``seed`` (the global RNG is left as it was; fine for timing and export
    checks). Anything else is read as a model file or training checkpoint. Raises
    FileNotFoundError / ValueError with a one-line message naming ``spec``.
    """
    from mobrecon.models.registry import build, names
    from mobrecon.infer.predictor import shipped_weights
    from mobrecon.models.weights import load_model

    if isinstance(spec, MobRecon):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"model: expected a MobRecon, a registered name or a model file, got {type(spec).__name__}")
    text = os.fspath(spec)
    if text in names() and shipped_weights(text).is_file():
        return load_model(shipped_weights(text))
    if text in names():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return build(text).eval()
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: an ONNX file runs only on the onnx backends, not as a PyTorch model")
    if not path.exists():
        if path.suffix or os.sep in text or "/" in text:
            raise FileNotFoundError(f"{path}: no such model file")
        raise ValueError(f"model {text!r}: neither a registered name ({', '.join(names())}) nor a file")
    return load_model(path)

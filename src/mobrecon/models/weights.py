"""Model files: a trained network's weights with the name and config that rebuild it, and what
a model name stands for.

A model file (``*.pt``, written by :func:`save_model`) holds ``{"format", "name", "config",
"state"}`` with the state in float16 by default (half the size; the network computes in
float32). :func:`load_model` reads it, or the ``model`` entry of a training checkpoint, and
returns the network in eval mode. Files are read with ``weights_only=True``: loading never runs
code from the file.

A model is named by a registered name (:mod:`mobrecon.models.registry`), whose trained weights
the package ships as ``mobrecon/weights/NAME.pt`` (:func:`shipped_weights`), or by a model file
or checkpoint; :func:`weights_file` says which file a name stands for, :func:`resolve_model`
returns the network.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from mobrecon.io_utils import atomic_path
from mobrecon.models.mobrecon_net import MobRecon, MobReconConfig
from mobrecon.models.registry import build, names

FORMAT = "mobrecon-model-1"


def write_weights(path: str | os.PathLike, module: torch.nn.Module, header: dict,
                  dtype: torch.dtype = torch.float16) -> Path:
    """Write ``header`` plus ``state`` (``module``'s tensors on the CPU, floating ones cast to
    ``dtype``) to ``path`` atomically; a module trained on a GPU gives a file that loads anywhere."""
    state = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
             for k, v in module.state_dict().items()}
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save({**header, "state": state}, tmp)
    return path


def fill_module(module: torch.nn.Module, state: dict, where: str, what: str) -> torch.nn.Module:
    """Load ``state`` (floating tensors in any dtype) into ``module``, in eval mode; weights that
    do not fit are a one-line ValueError naming ``where`` and ``what``."""
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{where}: weights do not fit {what} ({str(e).splitlines()[0]})") from None
    return module.eval()


def save_model(path: str | os.PathLike, model: MobRecon, name: str, dtype: torch.dtype = torch.float16,
               meta: dict | None = None) -> Path:
    """Write ``model``'s weights (floating tensors cast to ``dtype``) with its config, atomically."""
    return write_weights(path, model, {"format": FORMAT, "name": name, "config": dataclasses.asdict(model.cfg),
                                       "meta": meta or {}}, dtype)


def model_from_blob(blob: dict, where: str) -> MobRecon:
    """A MobRecon rebuilt from a ``{"config", "state"}`` dict (model file or checkpoint)."""
    try:
        # Files written before the pose-pooling fix were trained with the old convention.
        cfg = MobReconConfig(**{"pool_pixel_centres": False, **blob["config"]})
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where}: model config missing or invalid ({e})") from None
    return fill_module(MobRecon(cfg), blob["state"], where, f"model {cfg}")


def read_blob(path: Path, what: str) -> dict | object:
    """The object in a weights file, read on the CPU with ``weights_only``; a missing or
    unreadable file is a one-line error naming it (``what``: e.g. 'model', 'detector')."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable {what} file ({type(e).__name__})") from None


def load_model(path: str | os.PathLike) -> MobRecon:
    """A network from a model file or a stage-2 training checkpoint, in eval mode."""
    path = Path(path)
    blob = read_blob(path, "model")
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        return model_from_blob(blob, str(path))
    if isinstance(blob, dict) and blob.get("format", "").startswith("mobrecon-checkpoint"):
        if blob.get("stage") != "mesh":
            raise ValueError(f"{path}: a stage-1 (2D pose) checkpoint has no mesh decoder to evaluate")
        return model_from_blob({"config": blob["model_config"], "state": blob["model"]}, str(path))
    raise ValueError(f"{path}: not a mobrecon model file or checkpoint")


def shipped_weights(name: str) -> Path:
    """Where the package keeps the trained weights of a registered model."""
    return Path(__file__).resolve().parents[1] / "weights" / f"{name}.pt"


def weights_file(spec: str | os.PathLike) -> Path | None:
    """The weights file a model ``spec`` stands for: a registered name -> its shipped weights, or
    None where the package ships none; anything else -> ``spec`` as a path (not checked here)."""
    text = os.fspath(spec)
    if text in names():
        path = shipped_weights(text)
        return path if path.is_file() else None
    return Path(text)


def weights_label(spec: str | os.PathLike) -> str:
    """How a report names the weights of a model ``spec`` (``mobrecon bench``, ``export``): a
    registered name -> its shipped file, or "random" where the package ships none (fine for
    timing and export checks); anything else -> ``spec`` itself, a file."""
    path = weights_file(spec)
    if path is None:
        return "random"
    return str(path) if os.fspath(spec) in names() else os.fspath(spec)


def resolve_model(spec: MobRecon | str | os.PathLike, seed: int = 0) -> MobRecon:
    """``spec`` -> a :class:`MobRecon` (eval mode when built or loaded here).

    A MobRecon is returned as is (its train / eval mode untouched). A registered name (``mobrecon_ghoststack``)
    loads its shipped weights where the package has them, else builds the network with random
    weights drawn from ``seed`` (the global RNG is left as it was; fine for timing and export
    checks). Anything else is read as a model file or training checkpoint. Raises
    FileNotFoundError / ValueError with a one-line message naming ``spec``.
    """
    if isinstance(spec, MobRecon):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"model: expected a MobRecon, a registered name or a model file, got {type(spec).__name__}")
    text = os.fspath(spec)
    path = weights_file(text)
    if path is None:  # a registered name without shipped weights
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return build(text).eval()
    if text in names():
        return load_model(path)
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: an ONNX file runs only on the onnx backends, not as a PyTorch model")
    if not path.exists():
        if path.suffix or os.sep in text or "/" in text:
            raise FileNotFoundError(f"{path}: no such model file")
        raise ValueError(f"model {text!r}: neither a registered name ({', '.join(names())}) nor a file")
    return load_model(path)

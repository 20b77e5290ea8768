"""Model files: a trained network's weights with the name and config that rebuild it.

A model file (``*.pt``, written by :func:`save_model`) holds ``{"format", "name", "config",
"state"}`` with the state in float16 by default (half the size; the network computes in
float32). :func:`load_model` reads it, or the ``model`` entry of a training checkpoint, and
returns the network in eval mode. Files are read with ``weights_only=True``: loading never runs
code from the file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from mobrecon.io_utils import atomic_path
from mobrecon.models.mobrecon_net import MobRecon, MobReconConfig

FORMAT = "mobrecon-model-1"


def save_model(path: str | os.PathLike, model: MobRecon, name: str, dtype: torch.dtype = torch.float16,
               meta: dict | None = None) -> Path:
    """Write ``model``'s weights (on the CPU, floating tensors cast to ``dtype``) with its config,
    atomically; a model trained on a GPU gives a file that loads anywhere."""
    state = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "name": name, "config": dataclasses.asdict(model.cfg), "state": state,
            "meta": meta or {}}
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save(blob, tmp)
    return path


def model_from_blob(blob: dict, where: str) -> MobRecon:
    """A MobRecon rebuilt from a ``{"config", "state"}`` dict (model file or checkpoint)."""
    try:
        cfg = MobReconConfig(**blob["config"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where}: model config missing or invalid ({e})") from None
    model = MobRecon(cfg)
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in blob["state"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{where}: weights do not fit model {cfg} ({str(e).splitlines()[0]})") from None
    return model.eval()


def load_model(path: str | os.PathLike) -> MobRecon:
    """A network from a model file or a stage-2 training checkpoint, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable model file ({type(e).__name__})") from None
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        return model_from_blob(blob, str(path))
    if isinstance(blob, dict) and blob.get("format", "").startswith("mobrecon-checkpoint"):
        if blob.get("stage") != "mesh":
            raise ValueError(f"{path}: a stage-1 (2D pose) checkpoint has no mesh decoder to evaluate")
        return model_from_blob({"config": blob["model_config"], "state": blob["model"]}, str(path))
    raise ValueError(f"{path}: not a mobrecon model file or checkpoint")

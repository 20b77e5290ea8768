"""Detector weight files: ``{"format", "config", "state", "meta"}`` with the state in float16
(a few hundred kB), written atomically and read with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mobrecon.detect.centernet import CenterNet, CenterNetConfig
from mobrecon.models.weights import fill_module, read_blob, write_weights

FORMAT = "mobrecon-detector-1"


def shipped_detector() -> Path:
    """Where the package keeps the trained hand detector."""
    return Path(__file__).resolve().parents[1] / "weights" / "hand_detector.pt"


def save_detector(path: str | os.PathLike, model: CenterNet, meta: dict | None = None,
                  dtype: torch.dtype = torch.float16) -> Path:
    """Write ``model``'s weights (floating tensors as ``dtype``) and config to ``path`` atomically."""
    return write_weights(path, model, {"format": FORMAT, "config": model.cfg.to_dict(), "meta": meta or {}}, dtype)


def detector_from_blob(blob: dict, where: str) -> CenterNet:
    try:
        model = CenterNet(CenterNetConfig.from_dict(blob["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: detector config missing or invalid ({e})") from None
    return fill_module(model, blob["state"], where, "the detector")


def load_detector_model(path: str | os.PathLike) -> tuple[CenterNet, dict]:
    """(network in eval mode, meta) from a detector file or a detector training checkpoint."""
    path = Path(path)
    blob = read_blob(path, "detector")
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        return detector_from_blob(blob, str(path)), dict(blob.get("meta") or {})
    if isinstance(blob, dict) and blob.get("format") == "mobrecon-detector-checkpoint-1":
        return detector_from_blob({"config": blob["model_config"], "state": blob["model"]}, str(path)), {}
    raise ValueError(f"{path}: not a mobrecon hand detector file")

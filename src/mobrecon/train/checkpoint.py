"""Checkpoints: everything a run needs to continue exactly, written atomically.

A checkpoint holds the model, optimizer and scheduler states, the step / epoch / position in
the epoch, the run's config, and the RNG states of Python, NumPy and torch. It is written to a
temp file beside the target and renamed, so an interrupted write never replaces a good file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from mobrecon.io_utils import atomic_path

FORMAT = "mobrecon-checkpoint-1"


def rng_states() -> dict:
    """Python, NumPy and torch RNG states as plain tensors and ints (loadable with
    ``weights_only=True``, so reading a checkpoint never runs code from it)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
            "torch": torch.get_rng_state()}


def set_rng_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(int(x) for x in internal.tolist()), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (plus the format tag and RNG states) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save({"format": FORMAT, "rng": rng_states(), **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; one-line errors for a missing,
    corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, ...
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    return as_checkpoint(ck, path)


def as_checkpoint(obj, path: str | os.PathLike) -> dict:
    """``obj`` (read from ``path``) if it is a checkpoint written by :func:`save_checkpoint`,
    else a one-line ValueError naming ``path``."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path}: not a mobrecon checkpoint")
    return obj

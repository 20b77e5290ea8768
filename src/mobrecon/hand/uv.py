"""OpenHand's texture coordinates and fingernail mask (the shipped ``openhand_uv.npz``).

Built by :mod:`mobrecon.hand.uv_build` from the CC0 MakeHuman base mesh's UV layout: the right
hand's UV island scaled into [0, 1]^2. ``(u, v)`` address a texture image as (column, row) /
side with row 0 at the top (OpenGL reads such an image, uploaded row 0 first, the same way).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["HandUV", "openhand_uv"]


class HandUV(NamedTuple):
    """texcoords (F, 3, 2) float32 in [0, 1]: per face corner of OpenHand's faces (in the
    order of ``OpenHand().faces``), seams split per face; nail_mask (S, S) uint8: 255 on the
    fingernails, in the same texture square."""

    texcoords: np.ndarray
    nail_mask: np.ndarray


@lru_cache(maxsize=1)
def openhand_uv() -> HandUV:
    """The built-in hand's :class:`HandUV` (read once; the arrays are read-only)."""
    path = resources.files("mobrecon") / "assets" / "openhand_uv.npz"
    with resources.as_file(path) as p, np.load(p) as z:
        uv = HandUV(z["texcoords"].astype(np.float32), z["nail_mask"].astype(np.uint8))
    for a in uv:
        a.flags.writeable = False
    return uv

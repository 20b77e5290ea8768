"""A contact sheet of generated samples with their 2D joints drawn (``mobrecon synth --preview``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mobrecon.hand.skeleton import BONES
from mobrecon.io_utils import atomic_write_png

# one colour per finger (thumb..pinky), RGB
FINGER_COLORS = ((255, 64, 64), (255, 200, 0), (64, 220, 64), (0, 180, 255), (200, 80, 255))


def draw_joints(image: np.ndarray, joints2d: np.ndarray, radius: int = 2) -> np.ndarray:
    """Copy of ``image`` (H, W, 3) uint8 RGB with the 21 joints (21, 2) and bones drawn."""
    out = np.ascontiguousarray(image.copy())
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    pts = np.rint(np.asarray(joints2d, np.float64) * (1 << shift)).astype(np.int64)
    for a, b in BONES:
        finger = (max(a, b) - 1) // 4
        cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), FINGER_COLORS[finger], 1,
                 cv2.LINE_AA, shift)
    for k, p in enumerate(pts):
        col = (255, 255, 255) if k == 0 else FINGER_COLORS[(k - 1) // 4]
        cv2.circle(out, tuple(map(int, p)), radius << shift, col, -1, cv2.LINE_AA, shift)
    return out


def preview_grid(root: str | Path, png: str | Path, n: int = 16, cols: int = 4, cell: int = 192,
                 seed: int = 0) -> Path:
    """Write a grid of ``n`` random samples of the set in ``root`` (joints drawn) to ``png``."""
    from mobrecon.synth.dataset import SynthDataset

    ds = SynthDataset(root)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
    rows = int(np.ceil(len(picks) / cols))
    sheet = np.full((rows * cell, cols * cell, 3), 32, np.uint8)
    for k, i in enumerate(picks):
        item = ds[int(i)]
        h, w = item["image"].shape[:2]
        s = cell / max(h, w)
        img = cv2.resize(item["image"], (int(w * s), int(h * s)), interpolation=cv2.INTER_LINEAR)
        img = draw_joints(img, (item["joints2d"] + 0.5) * s - 0.5)
        r, c = divmod(k, cols)
        sheet[r * cell:r * cell + img.shape[0], c * cell:c * cell + img.shape[1]] = img
    png = Path(png)
    atomic_write_png(png, sheet)
    return png

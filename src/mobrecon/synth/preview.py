"""A contact sheet of generated samples with their 2D joints drawn (``mobrecon synth --preview``;
the drawing: :func:`mobrecon.viz.joints.draw_joints`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mobrecon.io_utils import atomic_write_png
from mobrecon.synth.dataset import SynthDataset
from mobrecon.viz.joints import draw_joints


def preview_grid(root: str | Path, png: str | Path, n: int = 16, cols: int = 4, cell: int = 192,
                 seed: int = 0) -> Path:
    """Write a grid of ``n`` random samples of the set in ``root`` (joints drawn) to ``png``."""
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

"""The 21 joints and bones of a hand drawn over an image, one colour per finger (the
reconstruction overlays, ``mobrecon synth --preview``, the benchmarks' contact sheets)."""

from __future__ import annotations

import cv2
import numpy as np

from mobrecon.hand.skeleton import BONES

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

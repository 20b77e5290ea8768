"""2D joint errors in units of the hand's box, for photos whose only 2D labels are a teacher's keypoints.

The box of a hand is the tight box of its *reference* keypoints (the teacher's); its size is the
box's longer side in pixels (:func:`box_side`). An error of 0.1 is a tenth of that side, whatever
the photo's resolution. Shapes: B hands, 21 joints in FreiHAND order
(:mod:`mobrecon.hand.skeleton`).
"""

from __future__ import annotations

import numpy as np

from mobrecon.hand.skeleton import TIPS

PCK_THRESHOLDS = (0.1, 0.2)


def box_side(keypoints2d: np.ndarray) -> np.ndarray:
    """(B, 21, 2) pixels -> (B,) the longer side of each hand's tight keypoint box (pixels)."""
    kp = np.asarray(keypoints2d, np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"box_side: expected (B, N, 2) keypoints, got shape {kp.shape}")
    return (kp.max(1) - kp.min(1)).max(1)


def box_errors(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-joint distance between ``pred`` and ``ref`` (B, 21, 2) pixels over ``box_side(ref)``: (B, 21)."""
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if pred.shape != ref.shape:
        raise ValueError(f"box_errors: prediction {pred.shape} and reference {ref.shape} differ in shape")
    side = np.maximum(box_side(ref), 1e-9)
    return np.linalg.norm(pred - ref, axis=-1) / side[:, None]


def summarise_box_errors(err: np.ndarray, thresholds=PCK_THRESHOLDS) -> dict:
    """(B, 21) box-share errors -> ``{"hands", "mean", "tips", "pck@T"...}``: ``mean`` the mean over
    all joints and hands, ``tips`` over the five fingertips only, ``pck@T`` the share of all joints
    with error <= T. NaN figures for B = 0."""
    err = np.asarray(err, np.float64).reshape(-1, 21)
    empty = len(err) == 0
    out = {"hands": int(len(err)),
           "mean": float("nan") if empty else float(err.mean()),
           "tips": float("nan") if empty else float(err[:, list(TIPS)].mean())}
    for t in thresholds:
        out[f"pck@{t:g}"] = float("nan") if empty else float((err <= t).mean())
    return out

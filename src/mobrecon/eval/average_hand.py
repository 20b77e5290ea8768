"""The always-the-average-hand baselines: what a model that ignores the photo would score.

2D: every training hand's keypoints are normalised to its own keypoint box (centred on the box's
centre, divided by its longer side; left hands mirrored to right ones), averaged, and the mean
shape is placed in each test hand's box (mirrored back for a left hand): the baseline knows where
the hand is and how big, not its pose. ``anchor="corner"`` measures from the box's top-left
corner instead (the top-right one for a left hand); for boxes of another aspect than the mean's
this places the mean hand off-centre, a weaker baseline (the one of issue 18's "for scale" figures).

3D: the mean root-relative pose of the training hands after rotating each one onto the running
mean (generalised Procrustes, rotations only, so the mean keeps its metric size); PA-MPJPE then
aligns it to each test hand by rotation, scale and translation.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mobrecon.eval.box_errors import box_side


ANCHORS = ("centre", "corner")


def keypoint_boxes(keypoints2d: np.ndarray) -> np.ndarray:
    """(B, 21, 2) -> (B, 4) tight boxes x0, y0, x1, y1."""
    kp = np.asarray(keypoints2d, np.float64)
    return np.concatenate([kp.min(1), kp.max(1)], 1)


def _anchor_points(boxes: np.ndarray, left: np.ndarray, anchor: str) -> np.ndarray:
    """(B, 4) boxes, (B,) bool -> (B, 2) the point box units are measured from."""
    if anchor == "centre":
        return (boxes[:, :2] + boxes[:, 2:]) / 2
    if anchor == "corner":
        return np.stack([np.where(left, boxes[:, 2], boxes[:, 0]), boxes[:, 1]], 1)
    raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")


def normalise_to_box(keypoints2d: np.ndarray, left: np.ndarray | None = None, anchor: str = "centre") -> np.ndarray:
    """(B, 21, 2) pixels -> (B, 21, 2) box units: from the box's ``anchor`` (its centre, or its
    top-left corner), divided by its longer side; x negated where ``left`` (B,) bool, so every
    hand is in right-hand form."""
    kp = np.asarray(keypoints2d, np.float64)
    left = np.zeros(len(kp), bool) if left is None else np.asarray(left, bool)
    origin = _anchor_points(keypoint_boxes(kp), left, anchor)
    out = (kp - origin[:, None]) / np.maximum(box_side(kp), 1e-9)[:, None, None]
    out[left, :, 0] *= -1
    return out


def average_hand_2d(keypoints2d: np.ndarray, left: np.ndarray | None = None, anchor: str = "centre") -> np.ndarray:
    """(B, 21, 2) training keypoints (pixels) -> (21, 2) the mean right hand in box units."""
    if len(keypoints2d) == 0:
        raise ValueError("average_hand_2d: no training hands")
    return normalise_to_box(keypoints2d, left, anchor).mean(0)


def place_in_boxes(mean_hand: np.ndarray, boxes: np.ndarray, left: np.ndarray | None = None,
                   anchor: str = "centre") -> np.ndarray:
    """(21, 2) box-unit mean hand, (B, 4) boxes x0, y0, x1, y1 (pixels) -> (B, 21, 2) pixels: the
    mean hand placed at each box's ``anchor``, scaled by its longer side, mirrored where ``left``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    left = np.zeros(len(b), bool) if left is None else np.asarray(left, bool)
    shapes = np.repeat(np.asarray(mean_hand, np.float64)[None], len(b), 0)
    shapes[left, :, 0] *= -1
    side = (b[:, 2:] - b[:, :2]).max(1)
    return _anchor_points(b, left, anchor)[:, None] + side[:, None, None] * shapes


def average_hand_3d(joints3d: np.ndarray, iters: int = 10) -> np.ndarray:
    """(B, 21, 3) training joints (any frame; all right hands) -> (21, 3) mean root-relative joints
    in the first hand's orientation, each hand rotated onto the running mean before averaging."""
    j = np.asarray(joints3d, np.float64)
    if len(j) == 0:
        raise ValueError("average_hand_3d: no training hands")
    rel = j - j[:, :1]
    mean = rel[0]
    for _ in range(iters):
        # proper rotations only (no reflection): a left hand must not be turned into a right one
        aligned = np.stack([Rotation.align_vectors(mean, r)[0].apply(r) for r in rel])
        new = aligned.mean(0)
        if np.abs(new - mean).max() < 1e-9:
            break
        mean = new
    return mean - mean[:1]

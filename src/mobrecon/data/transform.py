"""From a sample dict (:mod:`mobrecon.data.sample`) to what the network trains and is scored on.

:class:`CropView` turns one sample and one :class:`~mobrecon.data.crop.CropBox` into the
network's view of it: the 128 x 128 input, 2D joints in crop pixels, root-relative 3D targets
turned with the crop, and the crop's geometry. :class:`TrainTransform` draws the paper's
augmentation (rotation up to 90 degrees, scale +-0.2, a shift, colour jitter) and, for the
consistency losses (Eq. 11), two views of the same image; :class:`EvalTransform` makes the
single deterministic crop that evaluation and inference use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mobrecon.data.crop import (CropBox, apply_affine, crop_image, crop_intrinsics, crop_matrix, crop_rotation,
                                full_image_crop, hand_box, to_tensor_image)
from mobrecon.photometric import augment_photometric


@dataclass(frozen=True)
class AugmentConfig:
    """Crop and augmentation settings (paper / release: margin 1.3, rotation up to 90 degrees,
    scale +-0.2, colour jitter)."""

    size: int = 128
    margin: float = 1.3
    rotation_deg: float = 90.0
    scale: float = 0.2
    shift: float = 0.1          # centre moved by up to this fraction of the side, per axis
    color: float = 1.0          # probability of photometric jitter (colour, blur, noise, JPEG)
    views: int = 2              # 2 for the consistency losses, 1 without


def view_of(sample: dict, box: CropBox, size: int, photometric_rng: np.random.Generator | None = None) -> dict:
    """One crop of a sample, as float32/bool numpy arrays:

    ``image`` (3, S, S) normalised input; ``joints2d`` (21, 2) crop pixels; ``joints2d_valid``
    (21,) annotated and inside the crop; ``vertices`` (V, 3) and ``joints3d`` (21, 3) camera-space
    targets turned by the crop and made relative to the root (joint 0); ``root`` (3,) the turned
    camera-space root; ``mask`` (S, S) float; ``K`` (3, 3) the crop's intrinsics; ``R`` (3, 3) the
    crop's turn of camera space; ``M`` (2, 3) image -> crop pixels; ``box`` (4,) cx, cy, side, rot.
    """
    M = crop_matrix(box, size)
    R = crop_rotation(box)
    crop = crop_image(sample["image"], box, size)
    if photometric_rng is not None:
        crop = augment_photometric(photometric_rng, crop)
    j2 = apply_affine(M, sample["joints2d"]).astype(np.float32)
    inside = ((j2 >= -0.5) & (j2 <= size - 0.5)).all(1)
    j3 = (np.asarray(sample["joints3d"], np.float64) @ R.T)
    v = (np.asarray(sample["vertices"], np.float64) @ R.T)
    root = j3[0].copy()
    mask = sample["mask"]
    mcrop = cv2.warpAffine(mask.astype(np.uint8), M, (size, size), flags=cv2.INTER_NEAREST) if sample["has_mask"] \
        else np.zeros((size, size), np.uint8)
    return {
        "image": to_tensor_image(crop),
        "joints2d": j2,
        "joints2d_valid": (np.asarray(sample["joints2d_valid"]) * inside).astype(np.float32),
        "joints3d": (j3 - root).astype(np.float32),
        "vertices": (v - root).astype(np.float32),
        "root": root.astype(np.float32),
        "mask": mcrop.astype(np.float32),
        "K": crop_intrinsics(sample["K"], box, size).astype(np.float32),
        "R": R.astype(np.float32),
        "M": M.astype(np.float32),
        "box": np.array([box.cx, box.cy, box.side, box.rot], np.float32),
    }


PER_SAMPLE = ("has_joints3d", "has_vertices", "has_mask", "dataset", "index", "sequence", "frame")


def stack_views(views: list[dict], sample: dict) -> dict:
    """Stack per-view arrays on a leading view axis and carry the per-sample flags and ids."""
    out = {k: np.stack([v[k] for v in views]) for k in views[0]}
    for k in PER_SAMPLE:
        out[k] = sample[k]
    return out


class TrainTransform:
    """sample -> dict of arrays with a leading view axis (``views`` of them; see :func:`view_of`).

    The randomness comes only from ``rng`` (one generator per sample, made by the caller from the
    run's seed, the epoch and the index), so a resumed run sees the same crops.
    """

    def __init__(self, cfg: AugmentConfig = AugmentConfig()):
        self.cfg = cfg

    def random_box(self, base: CropBox, rng: np.random.Generator) -> CropBox:
        c = self.cfg
        side = base.side * (1.0 + rng.uniform(-c.scale, c.scale))
        dx, dy = rng.uniform(-c.shift, c.shift, 2) * base.side
        rot = math.radians(rng.uniform(-c.rotation_deg, c.rotation_deg))
        return CropBox(base.cx + dx, base.cy + dy, side, rot)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        c = self.cfg
        base = hand_box(sample["joints2d"], sample["joints2d_valid"], margin=c.margin)
        views = []
        for _ in range(c.views):
            box = self.random_box(base, rng)
            photo = rng if rng.random() < c.color else None
            views.append(view_of(sample, box, c.size, photo))
        return stack_views(views, sample)


class EvalTransform:
    """sample -> one deterministic crop (no view axis), unrotated.

    ``crop="joints"``: around the hand's annotated 2D joints with the margin (the field's
    protocol); ``crop="full"``: the whole image as the crop (square, centred), as the predictor
    does without a box -- for video sets whose frames are already a tracker's crops, so the
    tracker's jitter reaches the network as it would in use.
    """

    CROPS = ("joints", "full")

    def __init__(self, size: int = 128, margin: float = 1.3, crop: str = "joints"):
        if crop not in self.CROPS:
            raise ValueError(f"crop must be one of {', '.join(self.CROPS)}, got {crop!r}")
        self.size, self.margin, self.crop = size, margin, crop

    def __call__(self, sample: dict, box: CropBox | None = None) -> dict:
        if box is None and self.crop == "full":
            h, w = sample["image"].shape[:2]
            box = full_image_crop(w, h)
        elif box is None:
            box = hand_box(sample["joints2d"], sample["joints2d_valid"], margin=self.margin)
        out = view_of(sample, box, self.size)
        for k in PER_SAMPLE:
            out[k] = sample[k]
        return out

"""The crop around the hand: one definition for training, evaluation and inference.

A crop is a square window of the image (centre, side, in-plane rotation) resampled to
``out_size`` x ``out_size`` pixels. Pixel centres sit at integer coordinates in both the
image and the crop, so the window's continuous extent ``[c - side/2, c + side/2]`` lands on
``[-0.5, out_size - 0.5]``.

The crop is an affine map ``M`` (2 x 3) from image to crop pixels. For a pinhole camera with
square pixels it is exactly a new pinhole camera turned about its optical axis:
``[M; 0 0 1] @ K == K_crop @ R_crop`` with ``K_crop`` upper triangular and ``R_crop`` a rotation
about z. So the 3D targets of a rotated crop are the camera-space points turned by ``R_crop``,
and they project with ``K_crop`` onto the crop's 2D points, exactly.

A hand box (x0, y0, x1, y1), given by a caller or found by the detector, becomes the crop by
:func:`crop_for`: checked by :func:`check_box`, widened by ``BOX_MARGIN`` (given) or
``DETECTION_MARGIN`` (detected); no box means the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropBox:
    """A square window: centre ``(cx, cy)`` and ``side`` in image pixels, turned by ``rot``
    radians (positive turns the image content counter-clockwise on screen, i.e. from +x
    towards -y, since image y points down)."""

    cx: float
    cy: float
    side: float
    rot: float = 0.0

    def corners(self) -> tuple[float, float, float, float]:
        """Axis-aligned (x0, y0, x1, y1) of the unrotated window."""
        h = self.side / 2
        return self.cx - h, self.cy - h, self.cx + h, self.cy + h

    @classmethod
    def from_corners(cls, x0: float, y0: float, x1: float, y1: float, margin: float = 1.0) -> "CropBox":
        """The square window around the rectangle (x0, y0, x1, y1), its longer side times ``margin``."""
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box ({x0}, {y0}, {x1}, {y1}) has zero or negative size")
        return cls((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * margin)


def full_image_crop(width: int, height: int) -> CropBox:
    """The whole image as the crop: the square on its longer side, centred (the short side padded)."""
    return CropBox((width - 1) / 2, (height - 1) / 2, float(max(width, height)))


def hand_box(joints2d: np.ndarray, valid: np.ndarray | None = None, margin: float = 1.3,
             min_side: float = 8.0) -> CropBox:
    """The square crop around the valid 2D joints (N, 2): centred on their bounding box, its
    side ``margin`` times the box's longer side (the paper's 1.3), at least ``min_side`` pixels."""
    j = np.asarray(joints2d, np.float64).reshape(-1, 2)
    if valid is not None:
        j = j[np.asarray(valid).reshape(-1) > 0]
    j = j[np.isfinite(j).all(1)]
    if len(j) == 0:
        raise ValueError("no valid 2D joints to place the crop around")
    lo, hi = j.min(0), j.max(0)
    side = max(float((hi - lo).max()) * margin, min_side)
    c = (lo + hi) / 2
    return CropBox(float(c[0]), float(c[1]), side)


BOX_MARGIN = 1.3  # a given hand box is widened like the training crops around the joints
# The detector's boxes cover the whole hand, about WHOLE_HAND_WIDEN (1.2, mobrecon.detect.real_eval)
# times the box of its keypoints, which the training crops widen by 1.3: so a detected box is
# widened by 1.3 / 1.2.
DETECTION_MARGIN = BOX_MARGIN / 1.2
MAX_BOX_SCALE = 10.0  # a hand box may be at most this many times the image's longer side


def check_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """Validate an (x0, y0, x1, y1) box against an image of ``width`` x ``height``: finite,
    positive size, overlapping the image, at most ``MAX_BOX_SCALE`` times the image's longer side."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be four numbers x0,y0,x1,y1, got {box!r}") from None
    if not all(np.isfinite([x0, y0, x1, y1])):
        raise ValueError(f"box {box!r} has non-finite values")
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has zero or negative size")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise ValueError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the {width}x{height} image")
    if max(x1 - x0, y1 - y0) > MAX_BOX_SCALE * max(width, height):
        raise ValueError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is more than {MAX_BOX_SCALE:g} times the "
                         f"{width}x{height} image; give the hand's box in pixels of this image")
    return x0, y0, x1, y1


def crop_for(width: int, height: int, box=None, margin: float = BOX_MARGIN) -> tuple[CropBox, np.ndarray]:
    """(the square crop, the (4,) box used) for a hand ``box`` in a ``width`` x ``height``
    image: the checked box widened by ``margin`` (a given box: ``BOX_MARGIN``; a detected one:
    ``DETECTION_MARGIN``), or with no box the whole image."""
    if box is None:
        crop = full_image_crop(width, height)
        return crop, np.array([0.0, 0.0, width - 1.0, height - 1.0])
    x0, y0, x1, y1 = check_box(box, width, height)
    return CropBox.from_corners(x0, y0, x1, y1, margin=margin), np.array([x0, y0, x1, y1])


def crop_matrix(box: CropBox, out_size: int) -> np.ndarray:
    """(2, 3) affine from image pixels to crop pixels: ``p_crop = s R (p - c) + (S - 1) / 2``."""
    s = out_size / box.side
    co, si = math.cos(box.rot), math.sin(box.rot)
    A = s * np.array([[co, si], [-si, co]])  # turns content by +rot on screen (y down)
    half = (out_size - 1) / 2
    t = np.array([half, half]) - A @ np.array([box.cx, box.cy])
    return np.concatenate([A, t[:, None]], 1)


def crop_rotation(box: CropBox) -> np.ndarray:
    """(3, 3) rotation about the optical axis that the crop applies to camera-space points."""
    co, si = math.cos(box.rot), math.sin(box.rot)
    return np.array([[co, si, 0.0], [-si, co, 0.0], [0.0, 0.0, 1.0]])


def crop_intrinsics(K: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """(3, 3) ``K_crop`` with ``[M; 0 0 1] @ K == K_crop @ crop_rotation(box)`` (exact when
    fx == fy; otherwise the mean focal length is used for the turned part)."""
    M3 = np.vstack([crop_matrix(box, out_size), [0, 0, 1]])
    Kc = M3 @ np.asarray(K, np.float64) @ crop_rotation(box).T
    if abs(box.rot) > 0:  # drop the residual skew a non-square-pixel camera would leave
        f = (Kc[0, 0] + Kc[1, 1]) / 2 if abs(K[0, 0] - K[1, 1]) > 1e-9 else None
        if f is not None:
            Kc[0, 0] = Kc[1, 1] = f
        Kc[0, 1] = Kc[1, 0] = 0.0
    return Kc


def apply_affine(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a (2, 3) affine."""
    p = np.asarray(points, np.float64)
    return p @ M[:, :2].T + M[:, 2]


def invert_affine(M: np.ndarray) -> np.ndarray:
    """(2, 3) inverse of a (2, 3) affine."""
    return cv2.invertAffineTransform(np.asarray(M, np.float64))


BLUR_SIGMA_MAX = 6.0  # wider pre-blurs shrink the image by area averaging first (see crop_image)


def crop_image(image: np.ndarray, box: CropBox, out_size: int, interpolation: int = cv2.INTER_LINEAR,
               border_value=0) -> np.ndarray:
    """(H, W[, C]) image -> (S, S[, C]) crop; outside the image filled with ``border_value``.

    A window much larger than ``out_size`` is pre-blurred in proportion (as a resize with area
    averaging would) to avoid aliasing. Only the part of the image the window covers is
    blurred, so the work is bounded by the image whatever the window's size; where the blur
    would be wider than ``BLUR_SIGMA_MAX`` pixels, that part is first shrunk by area averaging
    (a huge photo, or a window far larger than the image, stays fast)."""
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if not (box.side > 0 and math.isfinite(box.side) and math.isfinite(box.cx) and math.isfinite(box.cy)):
        raise ValueError(f"crop side must be positive and the window finite, got {box}")
    M = crop_matrix(box, out_size)
    scale = out_size / box.side
    if scale >= 0.5 or interpolation == cv2.INTER_NEAREST:
        return cv2.warpAffine(image, M, (out_size, out_size), flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    # Large down-scaling aliases; pre-blur in proportion, as a resize with area averaging would.
    sigma = 0.5 / scale * 0.6
    h, w = image.shape[:2]
    reach = box.side * math.sqrt(0.5) + 4 * sigma + 2  # the turned window, the blur's and the interpolation's reach
    x0, x1 = max(0, math.floor(box.cx - reach)), min(w, math.ceil(box.cx + reach) + 1)
    y0, y1 = max(0, math.floor(box.cy - reach)), min(h, math.ceil(box.cy + reach) + 1)
    if x0 >= x1 or y0 >= y1:  # the window misses the image
        return cv2.warpAffine(image[:1, :1], M, (out_size, out_size), flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    src = image[y0:y1, x0:x1]
    M = M.copy()
    M[:, 2] += M[:, :2] @ np.array([x0, y0], np.float64)  # coordinates of the cut-out part
    if sigma > BLUR_SIGMA_MAX:  # shrink by area averaging first, then blur what is left
        k = sigma / BLUR_SIGMA_MAX
        sw, sh = max(1, math.ceil(src.shape[1] / k)), max(1, math.ceil(src.shape[0] / k))
        fx, fy = sw / src.shape[1], sh / src.shape[0]
        src = cv2.resize(src, (sw, sh), interpolation=cv2.INTER_AREA)
        D = np.diag([1 / fx, 1 / fy])  # a shrunk pixel p sits at (p + 0.5) / f - 0.5 before
        M = np.concatenate([M[:, :2] @ D, (M[:, :2] @ (0.5 / np.array([fx, fy]) - 0.5) + M[:, 2])[:, None]], 1)
        sigma = min(sigma * min(fx, fy), float(max(sw, sh)))
    src = cv2.GaussianBlur(src, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return cv2.warpAffine(src, M, (out_size, out_size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def to_tensor_image(crop: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32 normalised as (x / 255 - 0.5) / 0.5, the
    network's input convention."""
    return ((crop.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1).copy()

"""Procedural skin painted in OpenHand's texture space (its UVs: :mod:`mobrecon.hand.uv`).

:func:`skin_layout` rasterises, once per texture size, what the painter needs to know about
each texel: the rest-pose surface point it shows (metres, hand frame), the palm-side weight of
:func:`mobrecon.hand.regions.skin_regions`, the fingernails (the CC0 MakeHuman nail mask),
bands across the finger joints on the back of the hand (knuckle wrinkles) and on the palm side
(flexion creases) with each texel's distance along the bone from its joint. Texels outside the
UV island take their nearest island texel's values, so faces that reach past the island (the
few decimated faces across a UV seam) show skin, not a gap.

:func:`paint_skin` then paints one random skin from a base tone in a few milliseconds
(vectorised numpy/OpenCV): blotchy low-frequency darkening and reddening, a lighter and pinker
palm side, high-frequency pore speckle, fine wrinkle lines over the knuckles, darker knuckle
skin, palm-side creases, a few moles, and pinkish-white (rarely painted) nails.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np
import torch

from mobrecon.hand.load import load_hand
from mobrecon.hand.regions import CREASE_JOINTS, skin_regions
from mobrecon.hand.skeleton import ARTICULATED
from mobrecon.hand.uv import openhand_uv
from mobrecon.synth.appearance import nail_color, palm_color

__all__ = ["SkinLayout", "skin_layout", "rasterize", "paint_skin", "texture_size", "TEXTURE_SIZE"]

TEXTURE_SIZE = 256
# Joints with wrinkles on the back: every finger joint (the knuckles, PIPs and DIPs) and the
# thumb's MCP and IP (not its CMC, keypoint 1), as articulated indices (0..15); the bands'
# half-width (m).
KNUCKLE_JOINTS = tuple(a for a, k in enumerate(ARTICULATED) if k > 1)
KNUCKLE_HALF_WIDTH = 0.0045
CREASE_SIGMA = 0.0006   # m, a palm-side flexion crease's half-width
FINGER_RADIUS = (0.009, 0.013)
NAIL_GROW_MM = 1.2  # m: bands fade out between these distances from the bone axis
_LUMA = np.array([0.2126, 0.7152, 0.0722])


class SkinLayout(NamedTuple):
    """Per-texel maps of a (S, S) texture, float32, all filled over the whole square.

    position (S, S, 3) rest-pose point (m, hand frame); palmar (S, S) in [0, 1]; nail (S, S)
    in [0, 1]; knuckle (S, S) in [0, 1] the back-of-finger band at a joint; knuckle_along
    (S, S) m along the bone from that joint; crease (S, S) in [0, 1] palm-side band at a
    crease joint; crease_along (S, S) m from that joint; island (S, S) bool the texels faces
    cover."""

    position: np.ndarray
    palmar: np.ndarray
    nail: np.ndarray
    knuckle: np.ndarray
    knuckle_along: np.ndarray
    crease: np.ndarray
    crease_along: np.ndarray
    island: np.ndarray


def rasterize(texcoords: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate per-corner ``values`` (F, 3, C) over the UV triangles ``texcoords`` (F, 3, 2)
    (texel (row, col) centre at ((col + 0.5) / size, (row + 0.5) / size)) -> ((size, size, C)
    float64, (size, size) bool covered)."""
    out = np.zeros((size, size, values.shape[-1]))
    hit = np.zeros((size, size), bool)
    px = texcoords.astype(np.float64) * size - 0.5
    for tri, val in zip(px, values):
        lo = np.maximum(np.floor(tri.min(0)).astype(int), 0)
        hi = np.minimum(np.ceil(tri.max(0)).astype(int), size - 1)
        if (hi < lo).any():
            continue
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        a, b, c = tri
        m = np.array([b - a, c - a]).T
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        w12 = np.linalg.solve(m, np.stack([xs.ravel() - a[0], ys.ravel() - a[1]]))
        w = np.vstack([1 - w12.sum(0), w12])
        inside = (w >= -1e-6).all(0)
        out[ys.ravel()[inside], xs.ravel()[inside]] = w[:, inside].T @ val
        hit[ys.ravel()[inside], xs.ravel()[inside]] = True
    return out, hit


def _fill_from_nearest(maps: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """(S, S, C) ``maps`` with every uncovered texel set to its nearest covered texel's value."""
    _, labels = cv2.distanceTransformWithLabels((~covered).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    rows, cols = np.nonzero(covered)  # each covered texel has a label of its own
    src = np.full(labels.max() + 1, -1)
    src[labels[rows, cols]] = np.arange(len(rows))
    pick = src[labels]
    return maps[rows[pick], cols[pick]]


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _joint_bands(position: np.ndarray, keypoints: np.ndarray, joints, half_width: float):
    """Max over ``joints`` (articulated indices) of a flat-topped band of ``half_width`` (m)
    across the bone at each joint, fading out off the finger: ((S, S) weight, (S, S) signed
    distance along the bone from the joint that gives it). position (S, S, 3), keypoints (21, 3)."""
    best = np.zeros(position.shape[:2])
    along = np.zeros(position.shape[:2])
    for a in joints:
        k = ARTICULATED[a]
        axis = keypoints[k + 1] - keypoints[k]
        axis /= np.linalg.norm(axis)
        rel = position - keypoints[k]
        ax = rel @ axis
        rad = np.linalg.norm(rel - ax[..., None] * axis, axis=-1)
        w = (1.0 - _smoothstep(np.abs(ax), 0.6 * half_width, half_width)) * (1.0 - _smoothstep(rad, *FINGER_RADIUS))
        take = w > best
        best[take], along[take] = w[take], ax[take]
    return best, along


@lru_cache(maxsize=4)
def skin_layout(size: int = TEXTURE_SIZE) -> SkinLayout:
    """The built-in hand's :class:`SkinLayout` for (size, size) textures (computed once)."""
    hand = load_hand("openhand")
    uv = openhand_uv()
    faces = hand.faces.numpy().astype(np.int64)
    verts = hand.v_template.detach().double().numpy()
    palmar = np.asarray(skin_regions(hand).palmar)
    keypoints = hand.regress_joints(hand.v_template[None].detach())[0].double().numpy()
    per_vertex = np.concatenate([verts, palmar[:, None]], 1)
    maps, covered = rasterize(uv.texcoords, per_vertex[faces], size)
    maps = _fill_from_nearest(maps, covered)
    position, palm = maps[..., :3], np.clip(maps[..., 3], 0, 1)
    nail = cv2.resize(uv.nail_mask, (size, size), interpolation=cv2.INTER_AREA)
    grow = max(1, round(NAIL_GROW_MM * size / 320.0))  # the mask's nails are small for OpenHand's tips
    nail = cv2.dilate(nail, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    nail = cv2.GaussianBlur(nail.astype(np.float64) / 255.0, (0, 0), max(size / 512, 0.5))
    back = 1.0 - _smoothstep(palm, 0.2, 0.6)
    knuckle, k_along = _joint_bands(position, keypoints, KNUCKLE_JOINTS, KNUCKLE_HALF_WIDTH)
    crease, c_along = _joint_bands(position, keypoints, CREASE_JOINTS, 4 * CREASE_SIGMA)
    f32 = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
    return SkinLayout(f32(position), f32(palm), f32(nail), f32(knuckle * back * (1 - nail)), f32(k_along),
                      f32(crease * _smoothstep(palm, 0.5, 0.9)), f32(c_along), covered)


def texture_size(image_size: int) -> int:
    """The texture side for images of ``image_size`` px: 256 up to 256 px images, else 512
    (a hand fills at most the image, and the island's square is ~1.5 hand lengths)."""
    return TEXTURE_SIZE if image_size <= 256 else 2 * TEXTURE_SIZE


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) float32 smooth noise, about unit std: a (cells, cells) Gaussian grid,
    bicubically enlarged."""
    g = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)


def paint_skin(rng: np.random.Generator, base: np.ndarray, size: int = TEXTURE_SIZE) -> np.ndarray:
    """One random skin texture for OpenHand's UVs: (size, size, 3) float32 sRGB in [0, 1].

    base (3,) the skin tone (e.g. :func:`mobrecon.synth.appearance.skin_tone`). The same
    ``rng`` state gives the same texture. Row 0 is the top (``v`` = 0 of the texcoords).
    """
    lay = skin_layout(int(size))
    base = np.asarray(base, np.float64).reshape(3)
    s = int(size)
    mm = s / 320.0  # texels per millimetre, about (the island square is ~0.32 m of skin)
    # blotches: low-frequency darkening and reddening
    blotch = 0.6 * _noise(rng, s, 5) + 0.4 * _noise(rng, s, 12)
    red = 0.6 * _noise(rng, s, 4) + 0.4 * _noise(rng, s, 10)
    dark_amt, red_amt = rng.uniform(0.04, 0.14), rng.uniform(0.1, 0.5)
    col = np.broadcast_to(base.astype(np.float32), (s, s, 3)) * (1.0 - dark_amt * np.tanh(blotch))[..., None]
    g = (red_amt * 0.5 * (1.0 + np.tanh(red)))[..., None]
    col = col * (1.0 - g * np.array([-0.06, 0.14, 0.14], np.float32))
    # palm side: lighter and pinker, the variation kept
    palm = palm_color(rng, base)
    col = col * (1.0 + lay.palmar[..., None] * (palm / np.maximum(base, 1e-3) - 1.0).astype(np.float32))
    # knuckles: darker skin over the joints, and fine wrinkle lines across them
    lum = float(base @ _LUMA)
    knuckle_dark = rng.uniform(0.02, 0.08) + 0.12 * float(np.clip(1.0 - lum / 0.6, 0, 1)) * rng.random()
    period = max(rng.uniform(1.2, 2.2), 2.5 / mm) * 1e-3  # at least 2.5 texels
    wobble = 0.35e-3 * _noise(rng, s, 24)
    lines = np.maximum(np.cos((lay.knuckle_along + wobble) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi)), 0) ** 6
    wrinkle = rng.uniform(0.15, 0.35) * lay.knuckle * lines * (0.6 + 0.4 * np.tanh(_noise(rng, s, 16)))
    col = col * (1.0 - knuckle_dark * lay.knuckle - wrinkle)[..., None]
    # palm-side flexion creases: one sharp line across each crease joint
    offset = rng.normal(0.0, 0.4e-3)
    crease_line = np.exp(-0.5 * ((lay.crease_along - offset + 0.25e-3 * _noise(rng, s, 20)) / CREASE_SIGMA) ** 2)
    col = col * (1.0 - rng.uniform(0.08, 0.22) * lay.crease * crease_line)[..., None]
    # pores and fine grain: texel-scale speckle, darker dots
    grain = rng.standard_normal((s, s)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), max(0.12 * mm, 0.5))
    grain /= max(float(grain.std()), 1e-6)
    pores = rng.uniform(0.012, 0.035)
    col = col * (1.0 - pores * np.clip(grain, -1.0, 2.5))[..., None]
    # moles on the back of the hand
    back = (lay.palmar < 0.3) & lay.island
    spots = np.zeros((s, s), np.float32)
    where = np.argwhere(back)
    for r, c in where[rng.integers(0, len(where), rng.poisson(2.0))] if len(where) else ():
        cv2.circle(spots, (int(c), int(r)), max(1, round(rng.uniform(0.4, 1.2) * mm)), 1.0, -1, cv2.LINE_AA)
    col = col * (1.0 - rng.uniform(0.2, 0.45) * cv2.GaussianBlur(spots, (0, 0), 0.6))[..., None]
    # nails: the nail colour with a faint lengthwise sheen
    nail = nail_color(rng, base).astype(np.float32) * (1.0 + 0.04 * _noise(rng, s, 30))[..., None]
    col = col + lay.nail[..., None] * (nail - col)
    return np.clip(col, 0.0, 1.0).astype(np.float32)

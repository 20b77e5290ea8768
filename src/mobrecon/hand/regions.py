"""Skin regions of a hand model's surface, for appearance: palm vs back, fingernails, creases.

Everything is computed once per hand model from its REST mesh (template vertices, faces,
skinning weights and rest keypoints) and cached, so it costs nothing per image. The result is
per vertex, so it applies unchanged to any posed (or shaped) version of the same mesh.

* ``palmar`` (V,) in [0, 1]: 1 on the palm and the palm side of the fingers and thumb, 0 on the
  back of the hand, a smooth ramp (no seam) along the sides of the fingers and the hand edges.
* ``nail`` (V,) in [0, 1]: the fingernail patches, on the back of each finger's (and the
  thumb's) distal segment towards the tip.
* ``crease`` (V,) in [0, 1]: narrow bands on the palm side at the finger joints.

The palm-side direction of each bone comes from the model itself: the direction in which the
bone's child keypoint moves when the joint flexes (for the palm, the palm normal), so the thumb,
whose nail faces sideways at rest, is handled like the fingers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from mobrecon.hand.openhand import vertex_normals
from mobrecon.hand.skeleton import ARTICULATED, KEYPOINT_PARENTS, TIPS

__all__ = ["SkinRegions", "skin_regions"]

# Articulated joints (0..15, the columns of the skinning weights) whose bone is a distal phalanx
# (thumb: IP -> tip; fingers: DIP -> tip), in finger order.
DISTAL_BONES = tuple(a for a, k in enumerate(ARTICULATED) if k + 1 in TIPS)
# Articulated joints with a palm-side skin crease drawn at them: the finger PIPs and DIPs and the
# thumb's MCP and IP (the joints whose parent is not the wrist; the knuckles at the base of the
# fingers sit under the palm's own pads).
CREASE_JOINTS = tuple(a for a, k in enumerate(ARTICULATED) if k > 0 and KEYPOINT_PARENTS[k] != 0)


class SkinRegions(NamedTuple):
    """Per-vertex region weights, each (V,) float64 in [0, 1] (see the module docstring)."""

    palmar: np.ndarray
    nail: np.ndarray
    crease: np.ndarray

    def take(self, index: np.ndarray) -> "SkinRegions":
        """The weights of the vertices ``index`` ((N,) int), e.g. to colour extra vertices (a
        forearm built from the wrist loop) like the hand vertices they were made from."""
        index = np.asarray(index, np.int64)
        return SkinRegions(self.palmar[index], self.nail[index], self.crease[index])


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a C1 cubic ramp in between (elementwise)."""
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _unit(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` ((..., 3)) scaled to unit length (zero rows stay zero)."""
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.maximum(n, 1e-12)


def _smooth(values: np.ndarray, faces: np.ndarray, iters: int) -> np.ndarray:
    """``iters`` rounds of neighbour averaging over the mesh (each vertex -> the mean of itself
    and its edge neighbours); values (V,) -> (V,)."""
    v = len(values)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, 1), axis=0)
    src = np.concatenate([e[:, 0], e[:, 1], np.arange(v)])
    dst = np.concatenate([e[:, 1], e[:, 0], np.arange(v)])
    deg = np.bincount(dst, minlength=v).astype(np.float64)
    out = np.asarray(values, np.float64)
    for _ in range(iters):
        out = np.bincount(dst, weights=out[src], minlength=v) / deg
    return out


def _palm_normal(keypoints: np.ndarray) -> np.ndarray:
    """(3,) unit normal out of the palm (palm side) of a right hand, from the rest keypoints
    (21, 3): the wrist and the index and little-finger MCPs."""
    wrist, index, pinky = keypoints[0], keypoints[5], keypoints[17]
    return _unit(np.cross(index - wrist, pinky - wrist))


def _bone_palmar_dirs(hand, keypoints: np.ndarray) -> np.ndarray:
    """(16, 3) unit palm-side direction of each articulated bone at rest.

    Bone 0 (the palm) gets the palm normal. A finger bone gets the direction in which its child
    keypoint moves when its joint flexes a little (made perpendicular to the bone), when the
    model has anatomical angles (``angles_to_pose``); otherwise the palm normal too.
    """
    palm = _palm_normal(keypoints)
    dirs = np.repeat(palm[None], len(ARTICULATED), axis=0)
    if not hasattr(hand, "angles_to_pose"):
        return dirs
    n = len(ARTICULATED) - 1
    angles = torch.zeros(n, n, 3, dtype=hand.v_template.dtype)
    angles[torch.arange(n), torch.arange(n), 0] = 0.05  # probe b flexes joint b + 1 only
    with torch.no_grad():
        moved = hand(hand.angles_to_pose(angles)).joints.double().numpy()  # (15, 21, 3)
    for a in range(1, len(ARTICULATED)):
        k = ARTICULATED[a]
        bone = _unit(keypoints[k + 1] - keypoints[k])
        d = moved[a - 1, k + 1] - keypoints[k + 1]
        d = d - np.dot(d, bone) * bone
        if np.linalg.norm(d) > 1e-6:
            dirs[a] = _unit(d)
    return dirs


def _palmar_weight(normals: np.ndarray, weights: np.ndarray, dirs: np.ndarray,
                   faces: np.ndarray) -> np.ndarray:
    """(V,) palm-side weight: each vertex's normal against its bones' palm-side directions
    (blended by skinning weights), ramped and smoothed over the mesh."""
    local = _unit(weights @ dirs)  # (V, 3)
    cos = np.einsum("vc,vc->v", normals, local)
    return np.clip(_smooth(_smoothstep(cos, -0.3, 0.35), faces, 2), 0.0, 1.0)


def _nail_weight(verts: np.ndarray, normals: np.ndarray, weights: np.ndarray, dirs: np.ndarray,
                 keypoints: np.ndarray) -> np.ndarray:
    """(V,) fingernail weight: vertices of each distal phalanx from about 40 % of the way along
    the bone up to the tip (the tip keypoint lies on the surface, so the rounded tip itself is
    excluded by its normal), facing the back of the finger (against the bone's palm-side
    direction), both by position around the bone axis and by normal."""
    out = np.zeros(len(verts))
    for a in DISTAL_BONES:
        k = ARTICULATED[a]
        base, tip = keypoints[k], keypoints[k + 1]
        axis = tip - base
        t = (verts - base) @ axis / float(axis @ axis)  # position along the bone, 0 .. 1
        radial = _unit(verts - base - t[:, None] * axis[None])
        back = -dirs[a]
        along = _smoothstep(t, 0.3, 0.45) * (1.0 - _smoothstep(t, 0.97, 1.05))
        facing = _smoothstep(radial @ back, 0.3, 0.65) * _smoothstep(normals @ back, 0.3, 0.7)
        own = _smoothstep(weights[:, a], 0.3, 0.7)
        out = np.maximum(out, along * facing * own)
    return out


def _crease_weight(verts: np.ndarray, palmar: np.ndarray, keypoints: np.ndarray,
                   width: float = 0.0025) -> np.ndarray:
    """(V,) palm-side crease weight: a Gaussian band (sigma ``width`` metres) across each finger
    joint, limited to vertices near that joint, times the palm-side weight."""
    out = np.zeros(len(verts))
    for a in CREASE_JOINTS:
        k = ARTICULATED[a]
        joint = keypoints[k]
        axis = _unit(keypoints[k + 1] - joint)
        rel = verts - joint
        ax = rel @ axis
        rad = np.linalg.norm(rel - ax[:, None] * axis[None], axis=1)
        band = np.exp(-0.5 * (ax / width) ** 2) * (1.0 - _smoothstep(rad, 0.009, 0.013))
        out = np.maximum(out, band)
    return out * _smoothstep(palmar, 0.5, 0.9)


@lru_cache(maxsize=4)
def skin_regions(hand) -> SkinRegions:
    """The :class:`SkinRegions` of a hand model's rest mesh (computed once per model object).

    Args:
        hand: a right :class:`~mobrecon.hand.base.HandModel` (its ``v_template`` (V, 3),
            ``faces`` (F, 3), skinning ``weights`` (V, 16) and keypoint regressor are used).

    Returns:
        SkinRegions with ``palmar``, ``nail`` and ``crease``, each (V,) float64 in [0, 1]; the
        arrays are read-only (shared by every caller).
    """
    verts = hand.v_template.detach().double().cpu().numpy()
    faces = hand.faces.detach().cpu().numpy().astype(np.int64)
    weights = hand.weights.detach().double().cpu().numpy()
    keypoints = hand.regress_joints(hand.v_template[None].detach())[0].double().cpu().numpy()
    normals = vertex_normals(hand.v_template[None].detach().double(), hand.faces.long())[0].cpu().numpy()
    dirs = _bone_palmar_dirs(hand, keypoints)
    palmar = _palmar_weight(normals, weights, dirs, faces)
    nail = _nail_weight(verts, normals, weights, dirs, keypoints)
    crease = _crease_weight(verts, palmar, keypoints)
    for arr in (palmar, nail, crease):
        arr.flags.writeable = False
    return SkinRegions(palmar, nail, crease)

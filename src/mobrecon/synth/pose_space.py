"""The uniform hand-pose space of the MobRecon synthetic data set, plus the variations the
paper leaves as future work (finger splay, hand shape).

Paper (Sec. 6): each finger has two states, fully bent and extended; the 2^5 = 32 combinations
are the *base poses*; each of the C(32, 2) = 496 pairs of base poses is interpolated at three
intermediate poses; 32 + 3 * 496 = 1,520 uniformly distributed poses.

Here a pose is given by per-finger flexion in [0, 1] (thumb..pinky) and turned into anatomical
angles with :meth:`OpenHand.finger_angles` (flexion 1 curls every joint of a finger to its
``curl_max``). Base pose ``b`` bends finger ``f`` (0 thumb .. 4 pinky) iff bit ``f`` of ``b`` is
set. Intermediate poses interpolate flexion linearly: ``(1 - t) * base[a] + t * base[b]`` for
``t`` in (0.25, 0.5, 0.75).

Joint timing (what makes the 1,520 poses distinct): with every joint of a finger following the
finger's flexion in lockstep, the t = 0.5 poses of different pairs coincide whenever the pairs
share their common and their changing fingers (the pair (thumb, index) and the pair
(none, thumb+index) both give thumb = index = 0.5): only 1,235 of the 1,520 would be distinct,
and the same holds for any interpolation that moves each joint independently of the
direction (presumably also the paper's Maya keyframes).
So a finger's joints are staggered, distal joints leading, in both directions: a closing
finger (bent in ``b`` only) passes through a hook (DIP/IP ahead of the MCP), an opening finger
(bent in ``a`` only) straightens its tip first and passes through a "table top" (MCP still
bent). A finger's ``flexion`` stays the linear progress above (at t = 0.5 it is the mean of
its joints' fractions); together with the finger's direction (``UniformPoses.direction``) it
fixes the pose, so (a, b, t) is recoverable from the pose and all 1,520 poses differ (any two by at least
~0.17 rad, 10 degrees, in some joint angle). With ``STAGGER = 0.25`` no pose interpenetrates
more than the ~1.3 mm the straight hand itself shows (``OpenHand.penetration``).

Thumb splay: all fingers have zero splay, except the thumb, whose splay is
``THUMB_SPLAY * thumb_flexion`` (so the extended thumb is at rest, and the interpolation stays
linear in (flexion, splay)). With no splay, a partly bent thumb sinks into a fully bent index
finger (~2.5 mm deep; negative splay, towards the palm, much more); with splay 0.3 (slightly
away from the palm) the bent thumb lies across the palm, in front of the curled fingers, with
a margin of ~0.1 in splay before it touches the index finger.
(The ``fist`` pose of :mod:`mobrecon.hand.poses` uses 0.6, which leaves a visible gap.)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from mobrecon.hand.poses import random_angles

N_FINGERS = 5
N_BASE = 2**N_FINGERS  # 32
N_PAIRS = N_BASE * (N_BASE - 1) // 2  # 496
INTERP_T = (0.25, 0.5, 0.75)
N_UNIFORM = N_BASE + len(INTERP_T) * N_PAIRS  # 1520
N_SHAPE = 6

THUMB_SPLAY = 0.3  # thumb MCP splay (fraction of its limit) at full thumb flexion

# Joint timing of a moving finger: joint j (MCP, PIP, DIP; thumb: CMC, MCP, IP) moves while the
# finger's progress p runs through [STAGGER_START[j], STAGGER_START[j] + 1 - STAGGER], distal
# joints first, whether the finger closes or opens (see the module docstring).
STAGGER = 0.25
STAGGER_START = (STAGGER, STAGGER / 2, 0.0)


def base_flexions() -> np.ndarray:
    """(32, 5) float64: row ``b`` has 1 (fully bent) for finger ``f`` iff bit ``f`` of ``b`` is set."""
    b = np.arange(N_BASE)[:, None]
    f = np.arange(N_FINGERS)[None, :]
    return ((b >> f) & 1).astype(np.float64)


def base_splay(flexion: np.ndarray) -> np.ndarray:
    """(n, 5) flexion -> (n, 5) splay of the uniform pose space (thumb only, see module doc)."""
    flexion = np.asarray(flexion, dtype=np.float64)
    splay = np.zeros_like(flexion)
    splay[:, 0] = THUMB_SPLAY * flexion[:, 0]
    return splay


def joint_fractions(flexion, direction=None) -> np.ndarray:
    """(n, 5) finger flexion and direction (+1 closing, -1 opening, 0 still; None: all still)
    -> (n, 5, 3) per-joint flexion fractions (MCP, PIP, DIP) with the staggered timing.

    A still finger has every joint at its flexion; a closing finger at progress p = flexion has
    joint j at ``clip((p - s_j) / (1 - STAGGER), 0, 1)``; an opening finger at progress
    q = 1 - flexion has joint j at ``1 - clip((q - s_j) / (1 - STAGGER), 0, 1)``, with
    ``s = STAGGER_START`` (distal joints first in both directions).
    """
    flexion = np.asarray(flexion, dtype=np.float64).reshape(-1, N_FINGERS)
    frac = np.repeat(flexion[:, :, None], 3, axis=2)
    if direction is None:
        return frac
    direction = np.asarray(direction).reshape(flexion.shape)
    start = np.asarray(STAGGER_START)[None, None, :]
    span = 1.0 - STAGGER
    closing = np.clip((flexion[:, :, None] - start) / span, 0.0, 1.0)
    opening = 1.0 - np.clip((1.0 - flexion[:, :, None] - start) / span, 0.0, 1.0)
    d = direction[:, :, None]
    return np.where(d > 0, closing, np.where(d < 0, opening, frac))


@dataclass(frozen=True)
class UniformPoses:
    """The 1,520 poses. ``angles`` (1520, 15, 3) float32 anatomical angles; ``flexion``
    (1520, 5) finger progress ``(1 - t) * base[a] + t * base[b]``; ``pair`` (1520, 2) int64
    base ids (a, b), a == b for base poses; ``t`` (1520,) interpolation fraction (0 for base
    poses); ``direction`` (1520, 5) int8 per finger, ``base[b] - base[a]`` (+1 closing, -1
    opening, 0 still); ``pose_id`` = arange(1520)."""

    angles: torch.Tensor
    flexion: np.ndarray
    pair: np.ndarray
    t: np.ndarray
    direction: np.ndarray
    pose_id: np.ndarray

    def __len__(self) -> int:
        return len(self.pose_id)


def uniform_pose_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flexion (1520, 5), pair (1520, 2) int64, t (1520,)) in the order of :func:`uniform_poses`:
    the 32 base poses by id, then the pairs a < b in lexicographic order, each at t = 0.25,
    0.5, 0.75."""
    base = base_flexions()
    pair = [(i, i) for i in range(N_BASE)]
    t = [0.0] * N_BASE
    for a, b in itertools.combinations(range(N_BASE), 2):
        for ti in INTERP_T:
            pair.append((a, b))
            t.append(ti)
    pair = np.asarray(pair, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    flexion = (1.0 - t[:, None]) * base[pair[:, 0]] + t[:, None] * base[pair[:, 1]]
    return flexion, pair, t


def _angles(hand, flexion: np.ndarray, splay: np.ndarray, direction=None) -> torch.Tensor:
    dtype = hand.v_template.dtype
    angles = hand.finger_angles(torch.as_tensor(flexion, dtype=dtype), torch.as_tensor(splay, dtype=dtype))
    if direction is not None:
        moving = torch.as_tensor(np.repeat(np.asarray(direction).reshape(-1, N_FINGERS) != 0, 3, axis=1))
        frac = torch.as_tensor(joint_fractions(flexion, direction).reshape(-1, 15), dtype=dtype)
        staggered = frac * hand.curl_max.reshape(15).to(dtype)
        angles[..., 0] = torch.where(moving, staggered, angles[..., 0])
    return hand.clamp_angles(angles)


def uniform_poses(hand) -> UniformPoses:
    """The 1,520 uniformly distributed poses of the paper for ``hand`` (an OpenHand)."""
    flexion, pair, t = uniform_pose_table()
    base = base_flexions()
    direction = (base[pair[:, 1]] - base[pair[:, 0]]).astype(np.int8)
    angles = _angles(hand, flexion, base_splay(flexion), direction)
    return UniformPoses(angles=angles, flexion=flexion, pair=pair, t=t, direction=direction,
                        pose_id=np.arange(N_UNIFORM))


def sample_variation(
    rng: np.random.Generator, n: int, splay_scale: float = 1.0, shape_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Random finger splay and hand shape (the paper's future work), deterministic given ``rng``.

    Returns ``splay`` (n, 5) uniform in [-splay_scale, splay_scale] (clipped to [-1, 1]; a
    fraction of each MCP splay limit, see :meth:`OpenHand.finger_angles`) and ``shape`` (n, 6)
    uniform in [-shape_scale, shape_scale] (1 = a 10 % change of that shape parameter).
    """
    splay = np.clip(rng.uniform(-splay_scale, splay_scale, size=(n, N_FINGERS)), -1.0, 1.0)
    shape = rng.uniform(-shape_scale, shape_scale, size=(n, N_SHAPE))
    return splay, shape


def varied_angles(hand, flexion, splay, direction=None) -> torch.Tensor:
    """(n, 5) flexion, (n, 5) splay -> (n, 15, 3) anatomical angles within the joint limits.

    ``splay`` is added to the splay of the uniform pose space (:func:`base_splay`, i.e. the
    thumb's flexion-dependent splay) and the sum clipped to [-1, 1]; ``direction`` (n, 5) is
    the finger direction of :class:`UniformPoses` (None: all joints of a finger at its flexion),
    so ``varied_angles(hand, u.flexion, 0, u.direction)`` gives the uniform poses ``u``
    themselves. Interpenetration is not checked: a thumb splay offset below about -0.1 with a
    bent thumb and index can push the thumb into the index finger; reject such samples with
    ``hand.penetration`` if needed.
    """
    flexion = np.asarray(flexion, dtype=np.float64).reshape(-1, N_FINGERS)
    splay = np.broadcast_to(np.asarray(splay, dtype=np.float64), flexion.shape)
    total = np.clip(base_splay(flexion) + splay, -1.0, 1.0)
    return _angles(hand, flexion, total, direction)


def random_pose_angles(hand, n: int, seed: int | None = None) -> torch.Tensor:
    """(n, 15, 3) fully random anatomical angles inside the joint limits, free of
    interpenetration (:func:`mobrecon.hand.poses.random_angles`); deterministic for a seed."""
    return random_angles(hand, n, seed=seed)

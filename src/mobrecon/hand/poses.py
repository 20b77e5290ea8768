"""Named hand poses and random poses within the joint limits, as anatomical angles.

Every function returns anatomical angles (B, 15, 3) = (flexion, splay, twist) radians for the
15 finger joints of :class:`~mobrecon.hand.openhand.OpenHand`; turn them into a model pose with
``hand.angles_to_pose(angles)``.
"""

from __future__ import annotations

import numpy as np
import torch

# Per-finger (thumb, index, middle, ring, pinky) flexion in [-1, 1] and MCP splay in [-1, 1]
# (positive splay turns a finger towards the thumb side; for the thumb, away from the palm).
_NAMED = {
    "flat": ([0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]),
    "fist": ([1.0, 1.0, 1.0, 1.0, 1.0], [0.6, 0.0, 0.0, 0.0, 0.0]),
    "point": ([1.0, 0.0, 1.0, 1.0, 1.0], [0.6, 0.0, 0.0, 0.0, 0.0]),
    "victory": ([1.0, 0.0, 0.0, 1.0, 1.0], [0.6, 0.8, -0.8, 0.0, 0.0]),
    "thumbs_up": ([-0.3, 1.0, 1.0, 1.0, 1.0], [-0.6, 0.0, 0.0, 0.0, 0.0]),
    "spread": ([0.0, 0.0, 0.0, 0.0, 0.0], [-0.8, 1.0, 0.0, -1.0, -1.0]),
}
POSE_NAMES = tuple(_NAMED) + ("random",)


def named_pose(hand, name: str) -> torch.Tensor:
    """Anatomical angles (1, 15, 3) of a named pose; see ``POSE_NAMES``."""
    if name not in _NAMED:
        raise ValueError(f"unknown pose {name!r}; choose from {', '.join(POSE_NAMES)}")
    flex, splay = _NAMED[name]
    angles = hand.finger_angles(torch.tensor([flex]), torch.tensor([splay]))
    return hand.clamp_angles(angles)


def random_angles(hand, n: int, seed: int | None = None, max_tries: int = 1000) -> torch.Tensor:
    """(n, 15, 3) anatomical angles drawn uniformly inside the joint limits, free of
    interpenetration (poses whose collision spheres overlap by more than 2 mm are redrawn).

    Deterministic for a given seed.
    """
    gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63))
    lim = hand.joint_limits[1:]
    out = torch.empty(n, 15, 3)
    todo = torch.arange(n)
    for _ in range(max_tries):
        u = torch.rand(len(todo), 15, 3, generator=gen)
        angles = lim[..., 0] + u * (lim[..., 1] - lim[..., 0])
        ok = hand.penetration(hand.angles_to_pose(angles)) <= 2e-3
        out[todo[ok]] = angles[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            return out
    raise RuntimeError(f"random_angles: {len(todo)} of {n} draws still interpenetrate after {max_tries} tries")

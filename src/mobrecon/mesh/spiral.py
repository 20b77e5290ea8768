"""Spiral sequences for spiral convolution (MobRecon Eq. 5, after SpiralNet++).

The spiral of vertex ``v`` lists ``v``, then its 1-ring, then its 2-ring, ... where
``(k+1)-ring(v) = N(k-ring(v)) \\ k-disk(v)`` and ``k-disk(v) = union of the j-rings, j <= k``.
Inside a ring the vertices come in a rotational order that follows the mesh orientation (the
direction in which a face ``(a, b, c)`` turns around each of its corners), so that position ``i``
of the sequence means the same thing, up to a rotation, at every vertex.

Deterministic ordering rules:

* 1-ring of ``v``: walk around ``v`` through its faces in the orientation direction. For an
  interior vertex the walk is a cycle; it starts at the smallest-index neighbour. For a boundary
  vertex the walk is open; it starts at the neighbour on the boundary edge that begins the walk
  (the only neighbour with no predecessor), so the order is still unique.
* Later rings: for each vertex ``w`` of the previous ring, in sequence order, append the not yet
  visited neighbours of ``w`` in ``w``'s rotational order, beginning just after the element that
  precedes ``w`` in the sequence when that element is a neighbour of ``w`` (so the sequence keeps
  turning outward like a spiral), else at the start of ``w``'s 1-ring. Open rings are treated as
  cyclic for this rotation.
* A disk smaller than the requested length is padded by repeating its last element.
* ``dilation`` d > 1 builds a sequence of ``length * d`` and keeps every d-th element
  (``seq[0], seq[d], seq[2d], ...``), so it still starts at ``v``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["one_rings", "spirals"]


def one_rings(faces: np.ndarray, n_vertices: int) -> list[list[int]]:
    """Rotationally ordered 1-ring of every vertex (rules in the module docstring).

    faces: (F, 3) int, consistently oriented. Returns a list of ``n_vertices`` lists; isolated
    vertices get an empty list. Non-manifold leftovers (should not occur) are appended sorted.
    """
    succ: list[dict[int, int]] = [dict() for _ in range(n_vertices)]
    for a, b, c in np.asarray(faces, dtype=np.int64).tolist():
        succ[a][b] = c
        succ[b][c] = a
        succ[c][a] = b
    rings: list[list[int]] = []
    for v in range(n_vertices):
        s = succ[v]
        if not s:
            rings.append([])
            continue
        nb = set(s) | set(s.values())
        heads = sorted(set(s) - set(s.values()))  # boundary: neighbour without predecessor
        starts = heads if heads else [min(s)]
        order: list[int] = []
        seen: set[int] = set()
        for start in starts:
            cur = start
            while cur not in seen:
                order.append(cur)
                seen.add(cur)
                if cur not in s:
                    break
                cur = s[cur]
        order.extend(sorted(nb - seen))
        rings.append(order)
    return rings


def _spiral(v: int, rings: list[list[int]], total: int) -> list[int]:
    seq = [v]
    visited = {v}
    ring = [v]
    while len(seq) < total and ring:
        new_ring: list[int] = []
        for w in ring:
            r = rings[w]
            prev = seq[seq.index(w) - 1] if w != v else None
            if prev is not None and prev in r:
                i = r.index(prev)
                r = r[i + 1 :] + r[: i + 1]
            for x in r:
                if x not in visited:
                    visited.add(x)
                    seq.append(x)
                    new_ring.append(x)
        ring = new_ring
    del seq[total:]
    seq.extend([seq[-1]] * (total - len(seq)))
    return seq


def spirals(faces: np.ndarray, n_vertices: int, length: int = 9, dilation: int = 1) -> np.ndarray:
    """Spiral sequences of every vertex.

    faces: (F, 3) int, a consistently oriented triangle mesh; n_vertices: N.
    Returns (N, length) int64; row ``v`` starts with ``v`` (see the module docstring for order,
    padding and dilation).
    """
    if length < 1 or dilation < 1:
        raise ValueError(f"length and dilation must be >= 1, got {length}, {dilation}")
    rings = one_rings(faces, n_vertices)
    total = length * dilation
    out = np.empty((n_vertices, length), dtype=np.int64)
    for v in range(n_vertices):
        out[v] = _spiral(v, rings, total)[::dilation][:length]
    return out

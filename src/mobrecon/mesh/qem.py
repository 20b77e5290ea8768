"""Quadric-error-metric (Garland-Heckbert) decimation by half-edge collapse.

A half-edge collapse ``u -> v`` removes vertex ``u`` and re-attaches its faces to ``v``, which
stays at its original position. The surviving vertices are therefore a subset of the input
vertices, which is what the MobRecon / CoMA style down-sampling needs (the down-sampling matrix is
a plain selection).

Cost of ``u -> v``: ``p_v^T (Q_u + Q_v) p_v`` with ``p_v = (x, y, z, 1)`` and ``Q`` the sum of the
area-weighted plane quadrics of the faces around a vertex, plus, on boundary edges, constraint
quadrics of the plane through the edge perpendicular to its face (this keeps the open boundary in
place). A tiny edge-length term (``length_weight``) breaks the ties of flat regions, where every
quadric cost is zero, in favour of short edges so the result stays evenly sampled.

Every collapse is checked before it is applied so the result remains an oriented 2-manifold with
the same topology (same Euler characteristic, same number of boundary loops):

* boundary ``u`` only along a boundary edge (so ``v`` is a boundary neighbour); an interior edge
  between two boundary vertices is never collapsed;
* the link condition: the common neighbours of ``u`` and ``v`` are exactly the opposite vertices of
  the faces on edge ``uv`` (1 on a boundary edge, 2 inside);
* no face around ``u`` degenerates or turns its normal by more than ``max_normal_angle`` degrees
  when ``u`` moves onto ``v``; no face becomes a duplicate of an existing face.

The priority queue is a ``heapq`` with lazy invalidation: every entry records the versions of its
two vertices; a vertex's version is bumped whenever its neighbourhood changes, and stale entries
are skipped when popped.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Decimation", "decimate"]


@dataclass(frozen=True)
class Decimation:
    """Result of :func:`decimate`.

    kept: (n_target,) int64, indices into the input vertices of the survivors, ascending.
    faces: (F', 3) int64, faces of the decimated mesh indexed into ``kept`` (values in
        ``0..n_target-1``), winding as in the input.
    collapse_to: (N,) int64, for every input vertex the input index of the surviving vertex it was
        merged into (``collapse_to[k] == k`` for kept ``k``). Use :attr:`collapse_to_kept` for the
        position in ``kept`` instead.
    """

    kept: np.ndarray
    faces: np.ndarray
    collapse_to: np.ndarray

    @property
    def collapse_to_kept(self) -> np.ndarray:
        """(N,) int64: position in ``kept`` of the vertex each input vertex was merged into."""
        return np.searchsorted(self.kept, self.collapse_to).astype(np.int64)


def _plane_quadrics(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted face plane quadrics summed per vertex: (N, 4, 4) float64."""
    p0, p1, p2 = (vertices[faces[:, i]] for i in range(3))
    cross = np.cross(p1 - p0, p2 - p0)
    norm = np.linalg.norm(cross, axis=1)
    area = 0.5 * norm
    n = cross / np.maximum(norm, 1e-300)[:, None]
    d = -np.einsum("ij,ij->i", n, p0)
    plane = np.concatenate([n, d[:, None]], axis=1)  # (F, 4)
    kf = area[:, None, None] * plane[:, :, None] * plane[:, None, :]  # (F, 4, 4)
    q = np.zeros((len(vertices), 4, 4))
    for i in range(3):
        np.add.at(q, faces[:, i], kf)
    return q


def _boundary_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges used by exactly one face: ((B, 2) int64 as oriented in their face, (B,) face)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    fid = np.tile(np.arange(len(faces)), 3)
    key = np.sort(e, axis=1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    once = cnt[inv.ravel()] == 1
    return e[once], fid[once]


def _boundary_quadrics(vertices: np.ndarray, faces: np.ndarray, weight: float) -> np.ndarray:
    """Constraint quadrics of planes through each boundary edge, perpendicular to its face: (N,4,4)."""
    q = np.zeros((len(vertices), 4, 4))
    edges, fid = _boundary_edges(faces)
    if len(edges) == 0:
        return q
    f = faces[fid]
    fn = np.cross(vertices[f[:, 1]] - vertices[f[:, 0]], vertices[f[:, 2]] - vertices[f[:, 0]])
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    m = np.cross(b - a, fn)
    m /= np.maximum(np.linalg.norm(m, axis=1), 1e-300)[:, None]
    d = -np.einsum("ij,ij->i", m, a)
    plane = np.concatenate([m, d[:, None]], axis=1)
    w = weight * np.einsum("ij,ij->i", b - a, b - a)
    ke = w[:, None, None] * plane[:, :, None] * plane[:, None, :]
    np.add.at(q, edges[:, 0], ke)
    np.add.at(q, edges[:, 1], ke)
    return q


def decimate(
    vertices: np.ndarray,
    faces: np.ndarray,
    n_target: int,
    boundary_target: int | None = None,
    *,
    boundary_weight: float = 100.0,
    length_weight: float = 1e-3,
    max_normal_angle: float = 90.0,
) -> Decimation:
    """Decimate a triangle mesh to exactly ``n_target`` vertices by QEM half-edge collapses.

    vertices: (N, 3) float; faces: (F, 3) int, a consistently oriented manifold (open or closed).
    n_target: number of vertices to keep (1 <= n_target <= N).
    boundary_target: ``None`` lets boundary vertices collapse along the boundary whenever that is
        the cheapest valid move (the boundary quadrics make it expensive unless the boundary is
        straight). An int ``b`` reduces the boundary loop(s) to exactly ``b`` boundary vertices in
        total and then forbids further boundary collapses.
    boundary_weight: weight of the boundary constraint quadrics relative to the face quadrics.
    length_weight: weight of the ``|p_u - p_v|^2 * mean_edge^2`` tie-breaking term.
    max_normal_angle: reject a collapse that turns a face normal by more than this (degrees).

    Raises ValueError when the target cannot be reached with valid collapses.
    """
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    if V.ndim != 2 or V.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), got {V.shape}")
    if F.ndim != 2 or F.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {F.shape}")
    n = len(V)
    n_target = int(n_target)
    if not 1 <= n_target <= n:
        raise ValueError(f"n_target must be in 1..{n}, got {n_target}")

    # ---- adjacency -------------------------------------------------------------------------
    face_list = F.tolist()
    vfaces: list[set[int]] = [set() for _ in range(n)]
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for fi, (a, b, c) in enumerate(face_list):
        vfaces[a].add(fi), vfaces[b].add(fi), vfaces[c].add(fi)
        nbrs[a].update((b, c)), nbrs[b].update((a, c)), nbrs[c].update((a, b))
    b_edges, _ = _boundary_edges(F)
    is_b = [False] * n
    for a, b in b_edges.tolist():
        is_b[a] = is_b[b] = True
    n_b = sum(is_b)
    if boundary_target is not None:
        boundary_target = int(boundary_target)
        if not 0 <= boundary_target <= n_b:
            raise ValueError(f"boundary_target must be in 0..{n_b} (the boundary vertex count), got {boundary_target}")
        if n_b - boundary_target > n - n_target:
            raise ValueError(
                f"cannot remove {n_b - boundary_target} boundary vertices with only {n - n_target} collapses"
            )
    if n_target == n:
        kept = np.arange(n, dtype=np.int64)
        return Decimation(kept=kept, faces=F.copy(), collapse_to=kept.copy())

    # ---- quadrics and cost -----------------------------------------------------------------
    Q = _plane_quadrics(V, F) + _boundary_quadrics(V, F, boundary_weight)
    edges_all = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    mean_edge = float(np.linalg.norm(V[edges_all[:, 0]] - V[edges_all[:, 1]], axis=1).mean()) if len(F) else 1.0
    len_w = length_weight * mean_edge**2
    H = np.concatenate([V, np.ones((n, 1))], axis=1)  # (N, 4) homogeneous positions
    pos = [tuple(p) for p in V.tolist()]
    cos_min = math.cos(math.radians(max_normal_angle))

    version = [0] * n
    alive = [True] * n
    face_alive = [True] * len(face_list)
    parent = list(range(n))
    heap: list[tuple[float, int, int, int, int]] = []

    def costs(us: np.ndarray, vs: np.ndarray) -> list[float]:
        qs = Q[us] + Q[vs]
        p = H[vs]
        c = np.einsum("ki,kij,kj->k", p, qs, p)
        dv = H[us, :3] - H[vs, :3]
        c = np.maximum(c, 0.0) + len_w * np.einsum("ki,ki->k", dv, dv)
        return c.tolist()

    def push_around(verts) -> None:
        pairs = set()
        for a in verts:
            for b in nbrs[a]:
                pairs.add((a, b))
                pairs.add((b, a))
        if not pairs:
            return
        pl = sorted(pairs)
        arr = np.asarray(pl, dtype=np.int64)
        for c, (a, b) in zip(costs(arr[:, 0], arr[:, 1]), pl):
            heapq.heappush(heap, (c, a, b, version[a], version[b]))

    def valid(u: int, v: int) -> bool:
        shared = vfaces[u] & vfaces[v]
        if is_b[u]:
            if len(shared) != 1:  # boundary u only along a boundary edge
                return False
        elif len(shared) != 2:
            return False
        opposite = set()
        for f in shared:
            for w in face_list[f]:
                if w != u and w != v:
                    opposite.add(w)
        if (nbrs[u] & nbrs[v]) != opposite:
            return False
        pv = pos[v]
        vset = {frozenset(face_list[f]) for f in vfaces[v]}
        for f in vfaces[u]:
            if f in shared:
                continue
            tri = face_list[f]
            if frozenset(v if w == u else w for w in tri) in vset:
                return False
            a, b, c = (pos[w] for w in tri)
            na = _tri_normal(a, b, c)
            a2, b2, c2 = (pv if w == u else pos[w] for w in tri)
            nb = _tri_normal(a2, b2, c2)
            l1 = na[0] * na[0] + na[1] * na[1] + na[2] * na[2]
            l2 = nb[0] * nb[0] + nb[1] * nb[1] + nb[2] * nb[2]
            e2 = _sq(a2, b2) + _sq(b2, c2) + _sq(c2, a2)
            if l2 <= 1e-12 * e2 * e2:  # degenerate (sin of the smallest angle ~ 1e-6)
                return False
            dot = na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2]
            if dot < cos_min * math.sqrt(l1 * l2):
                return False
        return True

    def collapse(u: int, v: int) -> None:
        shared = vfaces[u] & vfaces[v]
        for f in shared:
            face_alive[f] = False
            for w in face_list[f]:
                vfaces[w].discard(f)
        for f in vfaces[u]:
            tri = face_list[f]
            tri[tri.index(u)] = v
            vfaces[v].add(f)
        vfaces[u] = set()
        for w in nbrs[u]:
            nbrs[w].discard(u)
            if w != v:
                nbrs[w].add(v)
                nbrs[v].add(w)
        nbrs[u] = set()
        Q[v] += Q[u]
        alive[u] = False
        parent[u] = v

    push_around(range(n))
    n_alive = n
    while n_alive > n_target:
        if not heap:
            raise ValueError(
                f"decimate: stuck at {n_alive} vertices (target {n_target}): no valid collapse left"
                + (f" (boundary vertices {n_b}, boundary_target {boundary_target})" if boundary_target is not None else "")
            )
        _, u, v, vu, vv = heapq.heappop(heap)
        if not (alive[u] and alive[v]) or version[u] != vu or version[v] != vv:
            continue
        if boundary_target is not None:
            if is_b[u] and n_b <= boundary_target:
                continue
            if not is_b[u] and n_alive - n_target <= n_b - boundary_target:
                continue  # the remaining collapses must all be boundary ones
        if not valid(u, v):
            continue
        if is_b[u]:
            n_b -= 1
        collapse(u, v)
        n_alive -= 1
        ring = [v, *nbrs[v]]
        for w in ring:
            version[w] += 1
        push_around(ring)

    kept = np.flatnonzero(np.asarray(alive)).astype(np.int64)
    root = np.asarray(parent, dtype=np.int64)
    while True:  # resolve collapse chains u -> v -> w ...
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    remap = np.full(n, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    out_faces = np.asarray([face_list[f] for f in range(len(face_list)) if face_alive[f]], dtype=np.int64).reshape(-1, 3)
    return Decimation(kept=kept, faces=remap[out_faces], collapse_to=root)


def _tri_normal(a, b, c) -> tuple[float, float, float]:
    ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    vx, vy, vz = c[0] - a[0], c[1] - a[1], c[2] - a[2]
    return (uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)


def _sq(a, b) -> float:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2

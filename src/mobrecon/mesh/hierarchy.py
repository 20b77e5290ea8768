"""The mesh hierarchy of the MobRecon decoder: levels, spirals, down/up-sampling, with a disk cache.

Level 0 is the template; level ``l+1`` is :func:`~mobrecon.mesh.qem.decimate` of level ``l`` to
``ceil(n_l / factor_l)`` vertices. Decimation keeps original vertices, so the coarse vertices are
a subset of the fine ones and down-sampling is a selection. Up-sampling (as in CoMA) gives each fine
vertex the barycentric coordinates of its closest point on the coarse surface.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from mobrecon.io_utils import atomic_save_npz

from .qem import decimate
from .spiral import spirals as make_spirals

__all__ = ["MeshHierarchy", "build_hierarchy", "load_or_build", "closest_barycentric"]

_CACHE_FORMAT = 1


@dataclass
class MeshHierarchy:
    """Levels ``l = 0..L`` (0 = template) and the ``L`` transitions between them.

    vertices[l]: (n_l, 3) float32; faces[l]: (f_l, 3) int64; spirals[l]: (n_l, S_l) int64.
    down[l]: CSR (n_{l+1}, n_l), one 1 per row selecting the kept fine vertex.
    up[l]: CSR (n_l, n_{l+1}), row i = barycentric weights (>= 0, sum 1) of fine vertex i's closest
        point on the coarse mesh; a kept vertex has weight 1 on itself.
    """

    vertices: list[np.ndarray]
    faces: list[np.ndarray]
    spirals: list[np.ndarray]
    down: list[sp.csr_matrix]
    up: list[sp.csr_matrix]

    @property
    def num_levels(self) -> int:
        """Number of levels including the template (L + 1)."""
        return len(self.vertices)

    @property
    def counts(self) -> list[int]:
        """[n_0, ..., n_L]."""
        return [int(v.shape[0]) for v in self.vertices]

    def down_dense(self, l: int) -> torch.Tensor:
        """(n_{l+1}, n_l) float32 dense down-sampling matrix."""
        return torch.from_numpy(self.down[l].toarray().astype(np.float32))

    def up_dense(self, l: int) -> torch.Tensor:
        """(n_l, n_{l+1}) float32 dense up-sampling matrix."""
        return torch.from_numpy(self.up[l].toarray().astype(np.float32))

    def to_torch_sparse(self, l: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(down_l (n_{l+1}, n_l), up_l (n_l, n_{l+1})) as coalesced float32 sparse COO tensors."""
        return _csr_to_torch(self.down[l]), _csr_to_torch(self.up[l])


def _csr_to_torch(m: sp.csr_matrix) -> torch.Tensor:
    coo = m.tocoo()
    idx = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    val = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(idx, val, coo.shape, check_invariants=True).coalesce()


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Closest point of p[k] on triangle (a[k], b[k], c[k]); all (K, 3).

    Returns (squared distance (K,), barycentric coordinates (K, 3), >= 0, summing to 1).
    """
    ab, ac, ap = b - a, c - a, p - a
    d00 = np.einsum("ij,ij->i", ab, ab)
    d01 = np.einsum("ij,ij->i", ab, ac)
    d11 = np.einsum("ij,ij->i", ac, ac)
    d20 = np.einsum("ij,ij->i", ap, ab)
    d21 = np.einsum("ij,ij->i", ap, ac)
    det = d00 * d11 - d01 * d01
    ok = det > 1e-14 * (d00 + d11) ** 2  # non-degenerate triangle
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    w1 = (d11 * d20 - d01 * d21) * inv
    w2 = (d00 * d21 - d01 * d20) * inv
    w0 = 1.0 - w1 - w2
    inside = ok & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    proj = a + w1[:, None] * ab + w2[:, None] * ac
    best = np.where(inside, np.sum((p - proj) ** 2, axis=1), np.inf)
    W = np.where(inside[:, None], np.stack([w0, w1, w2], axis=1), 0.0)
    for e0, e1, i0, i1 in ((a, b, 0, 1), (b, c, 1, 2), (c, a, 2, 0)):  # else: closest edge point
        e = e1 - e0
        ee = np.maximum(np.einsum("ij,ij->i", e, e), 1e-300)
        t = np.clip(np.einsum("ij,ij->i", p - e0, e) / ee, 0.0, 1.0)
        dq = np.sum((p - (e0 + t[:, None] * e)) ** 2, axis=1)
        better = dq < best
        best = np.where(better, dq, best)
        Wn = np.zeros_like(W)
        Wn[:, i0] = 1.0 - t
        Wn[:, i1] = t
        W = np.where(better[:, None], Wn, W)
    return best, W


def closest_barycentric(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, chunk: int = 256):
    """Closest point of each point on a triangle mesh.

    points: (P, 3); vertices: (n, 3); faces: (f, 3). Returns (face (P,) int64, bary (P, 3) float64,
    dist (P,) float64): the nearest face (lowest index on exact ties) and the barycentric
    coordinates of the closest point on it (inside the triangle, so >= 0 and summing to 1).
    Exact: faces are pruned with bounding spheres (centroid, max corner distance) only when their
    lower distance bound exceeds another face's upper bound.
    """
    P = np.asarray(points, dtype=np.float64)
    Vt = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    tri = Vt[F]  # (f, 3, 3)
    cen = tri.mean(axis=1)
    rad = np.linalg.norm(tri - cen[:, None], axis=2).max(axis=1)
    out_f = np.empty(len(P), dtype=np.int64)
    out_w = np.empty((len(P), 3))
    out_d = np.empty(len(P))
    for s in range(0, len(P), chunk):
        p = P[s : s + chunk]
        dc = np.sqrt(((p[:, None, :] - cen[None]) ** 2).sum(axis=2))  # (p, f)
        ub = (dc + rad).min(axis=1)
        pi, fi = np.nonzero(dc - rad <= ub[:, None] * (1 + 1e-9) + 1e-12)
        d2, W = _closest_on_triangles(p[pi], tri[fi, 0], tri[fi, 1], tri[fi, 2])
        order = np.lexsort((fi, d2, pi))  # per point: smallest distance, then lowest face
        first = order[np.r_[True, pi[order][1:] != pi[order][:-1]]]
        out_f[s : s + chunk] = fi[first]
        out_w[s : s + chunk] = W[first]
        out_d[s : s + chunk] = np.sqrt(d2[first])
    return out_f, out_w, out_d


def _down_matrix(kept: np.ndarray, n_fine: int) -> sp.csr_matrix:
    m = len(kept)
    return sp.csr_matrix((np.ones(m), (np.arange(m), kept)), shape=(m, n_fine))


def _up_matrix(fine: np.ndarray, kept: np.ndarray, coarse_faces: np.ndarray) -> sp.csr_matrix:
    n, m = len(fine), len(kept)
    face, bary, _ = closest_barycentric(fine, fine[kept], coarse_faces)
    bary = np.clip(bary, 0.0, None)
    bary /= bary.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(n), 3)
    cols = coarse_faces[face].reshape(-1)
    vals = bary.reshape(-1)
    is_kept = np.zeros(n, dtype=bool)
    is_kept[kept] = True
    keep_row = ~is_kept[rows]
    rows, cols, vals = rows[keep_row], cols[keep_row], vals[keep_row]
    rows = np.concatenate([rows, kept])
    cols = np.concatenate([cols, np.arange(m)])
    vals = np.concatenate([vals, np.ones(m)])
    up = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))  # duplicates are summed
    up.eliminate_zeros()
    up.sort_indices()
    return up


def _per_level(x, n: int, name: str) -> list:
    if isinstance(x, Sequence) and not isinstance(x, str):
        if len(x) != n:
            raise ValueError(f"{name} needs {n} entries (one per level), got {len(x)}")
        return list(x)
    return [x] * n


def build_hierarchy(
    vertices: np.ndarray,
    faces: np.ndarray,
    factors: Sequence[int] = (2, 2, 2, 2),
    spiral_length: int | Sequence[int] = 9,
    dilation: int | Sequence[int] = 1,
    boundary_targets: Sequence[int | None] | None = None,
) -> MeshHierarchy:
    """Build the hierarchy: level l+1 = decimate(level l, ceil(n_l / factors[l])).

    vertices: (n_0, 3); faces: (f_0, 3). spiral_length / dilation: one value or one per level
    (L + 1 entries). boundary_targets: optional per-transition ``boundary_target`` for
    :func:`decimate` (default None everywhere). Deterministic.
    """
    V = np.asarray(vertices, dtype=np.float32)
    F = np.asarray(faces, dtype=np.int64)
    L = len(factors)
    lengths = _per_level(spiral_length, L + 1, "spiral_length")
    dils = _per_level(dilation, L + 1, "dilation")
    btargets = _per_level(boundary_targets, L, "boundary_targets")
    verts, fcs, downs, ups = [V], [F], [], []
    for l, factor in enumerate(factors):
        fine = verts[-1]
        n_next = math.ceil(len(fine) / factor)
        dec = decimate(fine.astype(np.float64), fcs[-1], n_next, btargets[l])
        verts.append(fine[dec.kept])
        fcs.append(dec.faces)
        downs.append(_down_matrix(dec.kept, len(fine)))
        ups.append(_up_matrix(fine.astype(np.float64), dec.kept, dec.faces))
    spir = [make_spirals(f, len(v), int(s), int(d)) for v, f, s, d in zip(verts, fcs, lengths, dils)]
    return MeshHierarchy(vertices=verts, faces=fcs, spirals=spir, down=downs, up=ups)


def cache_key(vertices: np.ndarray, faces: np.ndarray, **kw) -> str:
    """sha256 hex of the template (float32 vertices, int64 faces) and the build parameters."""
    bound = inspect.signature(build_hierarchy).bind(vertices, faces, **kw)
    bound.apply_defaults()  # explicit defaults and omitted ones give the same key
    kw = {k: x for k, x in bound.arguments.items() if k not in ("vertices", "faces")}
    h = hashlib.sha256()
    h.update(f"mobrecon-mesh-hierarchy-v{_CACHE_FORMAT}".encode())
    v = np.ascontiguousarray(vertices, dtype=np.float32)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    h.update(str(v.shape).encode() + v.tobytes())
    h.update(str(f.shape).encode() + f.tobytes())
    params = {k: (list(x) if isinstance(x, Sequence) else x) for k, x in kw.items()}
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def _to_arrays(h: MeshHierarchy, key: str) -> dict[str, np.ndarray]:
    arrs: dict[str, np.ndarray] = {"key": np.array(key), "num_levels": np.array(h.num_levels)}
    for l in range(h.num_levels):
        arrs[f"vertices_{l}"] = h.vertices[l]
        arrs[f"faces_{l}"] = h.faces[l]
        arrs[f"spirals_{l}"] = h.spirals[l]
    for name, mats in (("down", h.down), ("up", h.up)):
        for l, m in enumerate(mats):
            coo = m.tocoo()
            arrs[f"{name}_{l}_index"] = np.stack([coo.row, coo.col]).astype(np.int64)
            arrs[f"{name}_{l}_value"] = coo.data.astype(np.float64)
            arrs[f"{name}_{l}_shape"] = np.asarray(coo.shape, dtype=np.int64)
    return arrs


def _from_arrays(z, key: str) -> MeshHierarchy:
    if str(z["key"]) != key:
        raise ValueError("cache key mismatch")
    L1 = int(z["num_levels"])

    def mat(name: str, l: int) -> sp.csr_matrix:
        idx, val, shape = z[f"{name}_{l}_index"], z[f"{name}_{l}_value"], tuple(z[f"{name}_{l}_shape"])
        m = sp.csr_matrix((val, (idx[0], idx[1])), shape=shape)
        m.sort_indices()
        return m

    h = MeshHierarchy(
        vertices=[np.asarray(z[f"vertices_{l}"], dtype=np.float32) for l in range(L1)],
        faces=[np.asarray(z[f"faces_{l}"], dtype=np.int64) for l in range(L1)],
        spirals=[np.asarray(z[f"spirals_{l}"], dtype=np.int64) for l in range(L1)],
        down=[mat("down", l) for l in range(L1 - 1)],
        up=[mat("up", l) for l in range(L1 - 1)],
    )
    n = h.counts
    for l in range(L1 - 1):  # cheap consistency checks against truncated / foreign files
        if h.down[l].shape != (n[l + 1], n[l]) or h.up[l].shape != (n[l], n[l + 1]):
            raise ValueError("cache matrix shapes inconsistent")
    for l in range(L1):
        if h.spirals[l].shape[0] != n[l]:
            raise ValueError("cache spiral shapes inconsistent")
    return h


def cache_path(vertices: np.ndarray, faces: np.ndarray, cache_dir: Path | str, **kw) -> Path:
    """The file :func:`load_or_build` uses for this template and these parameters."""
    return Path(cache_dir) / f"mesh_hierarchy_{cache_key(vertices, faces, **kw)[:32]}.npz"


def load_or_build(vertices: np.ndarray, faces: np.ndarray, cache_dir: Path | str, **kw) -> MeshHierarchy:
    """:func:`build_hierarchy` with an ``.npz`` cache in ``cache_dir`` keyed by :func:`cache_key`.

    An existing, readable cache file is loaded; a missing or corrupt one is (re)built and written
    atomically (temp file in the same directory, then ``os.replace``).
    """
    cache_dir = Path(cache_dir)
    key = cache_key(vertices, faces, **kw)
    path = cache_path(vertices, faces, cache_dir, **kw)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return _from_arrays(z, key)
        except Exception:  # corrupt / truncated / foreign file: rebuild below
            pass
    h = build_hierarchy(vertices, faces, **kw)
    atomic_save_npz(path, _to_arrays(h, key))
    return h

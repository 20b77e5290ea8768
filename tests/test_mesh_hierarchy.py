"""Mesh hierarchy: QEM decimation, spiral sequences, up/down sampling, cache."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

import mobrecon.mesh.hierarchy as hier
from mobrecon.mesh import MeshHierarchy, build_hierarchy, decimate, load_or_build, spirals
from mobrecon.mesh.spiral import one_rings

# ---------------------------------------------------------------------------------------------
# test surface: same topology class as the hand template (a disc: closed "fingertip" dome, open
# "wrist" loop), exactly 778 vertices / 1538 faces / 16 boundary vertices, made non-symmetric.


def _radius(s):
    """Radius profile along the tube, s in [0, 1] from the closed pole to the open end."""
    dome = np.sin(np.minimum(s / 0.35, 1.0) * np.pi / 2)
    return dome * (1.0 - 0.55 * np.clip((s - 0.35) / 0.65, 0.0, 1.0) ** 1.5)


def capped_tube(n_vertices: int = 778, n_boundary: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(V (n,3) float64, F (f,3) int64): pole + rings of vertices stitched by zipper strips."""
    rng = np.random.default_rng(seed)
    length = 3.0
    ss = np.linspace(0.0, 1.0, 2001)
    arclen = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(_radius(ss)), np.diff(-length * ss)))])
    h = 2 * np.pi * _radius(1.0) / n_boundary  # edge length set by the open loop
    for _ in range(60):  # choose the edge length so the ring sizes add up to about n_vertices
        k = max(2, int(round(arclen[-1] / (h * np.sqrt(3) / 2))))
        s_ring = np.interp(np.linspace(0.0, arclen[-1], k + 1)[1:], arclen, ss)
        sizes = np.maximum(3, np.round(2 * np.pi * _radius(s_ring) / h)).astype(int)
        sizes[-1] = n_boundary
        if 1 + sizes.sum() == n_vertices:
            break
        h *= ((1 + sizes.sum()) / n_vertices) ** 0.5
    diff, i, order = n_vertices - 1 - sizes.sum(), 0, np.argsort(-sizes[:-1], kind="stable")
    while diff:  # exact count: nudge the largest inner rings
        step = 1 if diff > 0 else -1
        sizes[order[i % len(order)]] += step
        diff -= step
        i += 1
    verts, rings = [np.zeros(3)], []
    for j, (m, s) in enumerate(zip(sizes, s_ring)):
        jitter = rng.uniform(-0.15, 0.15, m) if j < len(sizes) - 1 else 0.0
        ang = np.sort(rng.uniform(0, 2 * np.pi) + 2 * np.pi * (np.arange(m) + jitter) / m)
        start = len(verts)
        verts += [np.array([_radius(s) * np.cos(a), _radius(s) * np.sin(a), -length * s]) for a in ang]
        rings.append((np.arange(start, start + m), ang))
    faces = [(0, rings[0][0][(i + 1) % sizes[0]], rings[0][0][i]) for i in range(sizes[0])]
    for (ra, aa), (rb, ab) in zip(rings[:-1], rings[1:]):
        ta = np.append(aa - aa[0], 2 * np.pi)
        tb = (ab - aa[0]) % (2 * np.pi)
        j0 = int(np.argmin(tb))
        tb = np.roll(tb, -j0)
        tb = np.append(tb, tb[0] + 2 * np.pi)
        ra2, rb2 = np.append(ra, ra[0]), np.append(np.roll(rb, -j0), rb[j0])
        i = j = 0
        while i < len(ra) or j < len(rb):
            if j >= len(rb) or (i < len(ra) and ta[i + 1] <= tb[j + 1]):
                faces.append((ra2[i], ra2[i + 1], rb2[j]))
                i += 1
            else:
                faces.append((ra2[i], rb2[j + 1], rb2[j]))
                j += 1
    V = np.array(verts)
    F = np.array(faces, dtype=np.int64)[:, ::-1].copy()  # outward normals
    x, y, z = V.T  # non-symmetric: elliptic, bent, with a bump
    bump = 0.25 * np.exp(-((x - 0.6) ** 2 + (y - 0.3) ** 2 + (z + 0.8) ** 2) / 0.15)
    V = np.stack([1.3 * x + 0.25 * np.sin(1.3 * z) + bump, 0.8 * y + 0.05 * z**2 + 0.5 * bump, z], axis=1)
    return V, F


@pytest.fixture(scope="module")
def template():
    return capped_tube()


@pytest.fixture(scope="module")
def hierarchy(template) -> MeshHierarchy:
    return build_hierarchy(*template)


# ---------------------------------------------------------------------------------------------
# helpers


def edge_stats(faces: np.ndarray):
    """(directed edge Counter, undirected edge Counter)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).tolist()
    directed = Counter(map(tuple, e))
    undirected = Counter(tuple(sorted(d)) for d in e)
    return directed, undirected


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    directed, undirected = edge_stats(faces)
    nxt = {a: b for (a, b) in directed if undirected[tuple(sorted((a, b)))] == 1}
    assert len(nxt) == len(set(nxt.values())), "boundary vertex with two outgoing boundary edges"
    loops, seen = [], set()
    for s in sorted(nxt):
        if s in seen:
            continue
        loop, c = [], s
        while c not in seen:
            seen.add(c)
            loop.append(c)
            c = nxt[c]
        assert c == s
        loops.append(loop)
    return loops


def assert_oriented_manifold(vertices: np.ndarray, faces: np.ndarray):
    n = len(vertices)
    assert faces.min() >= 0 and faces.max() < n
    assert set(np.unique(faces).tolist()) == set(range(n)), "unreferenced vertex"
    assert all(len(set(f)) == 3 for f in faces.tolist()), "degenerate face (repeated index)"
    assert len({frozenset(f) for f in faces.tolist()}) == len(faces), "duplicate face"
    directed, undirected = edge_stats(faces)
    assert max(directed.values()) == 1, "edge used twice in the same direction (orientation broken)"
    assert max(undirected.values()) <= 2, "non-manifold edge"
    # interior edges: two faces, opposite directions (follows from the two asserts above)
    area = np.linalg.norm(
        np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]), axis=1
    )
    assert area.min() > 1e-9, "geometrically degenerate face"
    # manifold vertices: every vertex's faces form one fan (a single cycle or a single open path)
    rings = one_rings(faces, n)
    for v, r in enumerate(rings):
        assert len(r) == len(set(r))
    return n - len(undirected) + len(faces)  # Euler characteristic


def bfs_dist(faces: np.ndarray, n: int) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return shortest_path(a, directed=False, unweighted=True)


# ---------------------------------------------------------------------------------------------
# template sanity


def test_template_is_hand_like(template):
    V, F = template
    assert V.shape == (778, 3) and F.shape == (1538, 3)
    assert assert_oriented_manifold(V, F) == 1
    loops = boundary_loops(F)
    assert len(loops) == 1 and len(loops[0]) == 16


# ---------------------------------------------------------------------------------------------
# decimation


def test_counts_and_topology(hierarchy):
    assert hierarchy.counts == [778, 389, 195, 98, 49]
    for l in range(hierarchy.num_levels):
        V, F = hierarchy.vertices[l], hierarchy.faces[l]
        assert V.dtype == np.float32 and F.dtype == np.int64
        assert assert_oriented_manifold(V, F) == 1, f"level {l}: Euler characteristic changed"
        assert len(boundary_loops(F)) == 1, f"level {l}: not one boundary loop"
        assert len(F) == 2 * len(V) - len(boundary_loops(F)[0]) - 2 * 1  # disc: F = 2V - B - 2


def vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    n = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    out = np.zeros_like(V)
    for i in range(3):
        np.add.at(out, F[:, i], n)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_orientation_preserved(hierarchy):
    """Every coarse face agrees with the fine surface's normals at its corners (winding kept)."""
    for l in range(hierarchy.num_levels - 1):
        Vf, Ff = hierarchy.vertices[l].astype(np.float64), hierarchy.faces[l]
        Vc, Fc = hierarchy.vertices[l + 1].astype(np.float64), hierarchy.faces[l + 1]
        kept = hierarchy.down[l].indices
        nf = vertex_normals(Vf, Ff)[kept]  # fine normals at the coarse vertices
        nc = np.cross(Vc[Fc[:, 1]] - Vc[Fc[:, 0]], Vc[Fc[:, 2]] - Vc[Fc[:, 0]])
        agree = np.einsum("ij,ij->i", nc, nf[Fc].sum(axis=1))
        assert np.all(agree > 0), f"level {l + 1}: {(agree <= 0).sum()} faces flipped"


def test_decimate_result_fields(template):
    V, F = template
    d = decimate(V, F, 389)
    assert d.kept.shape == (389,) and np.all(np.diff(d.kept) > 0)
    assert d.faces.min() == 0 and d.faces.max() == 388
    assert np.array_equal(d.collapse_to[d.kept], d.kept)
    assert np.all(np.isin(d.collapse_to, d.kept))
    assert np.array_equal(d.kept[d.collapse_to_kept], d.collapse_to)


def test_boundary_target(template):
    V, F = template
    d = decimate(V, F, 389, boundary_target=8)
    loops = boundary_loops(d.faces)
    assert len(loops) == 1 and len(loops[0]) == 8
    d = decimate(V, F, 389, boundary_target=16)
    assert sorted(d.kept[boundary_loops(d.faces)[0]].tolist()) == sorted(boundary_loops(F)[0])


def test_decimate_errors():
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=1)
    V, F = np.asarray(s.vertices), np.asarray(s.faces, dtype=np.int64)
    with pytest.raises(ValueError, match="no valid collapse"):
        decimate(V, F, 3)  # a closed sphere cannot go below a tetrahedron
    with pytest.raises(ValueError):
        decimate(V, F, len(V) + 1)
    d = decimate(V, F, 12)
    assert assert_oriented_manifold(V[d.kept], d.faces) == 2


# ---------------------------------------------------------------------------------------------
# down / up sampling


def test_down_selects_kept(hierarchy):
    for l in range(hierarchy.num_levels - 1):
        D = hierarchy.down[l]
        assert isinstance(D, sp.csr_matrix) and D.shape == (hierarchy.counts[l + 1], hierarchy.counts[l])
        assert np.all(np.diff(D.indptr) == 1) and np.all(D.data == 1)
        assert len(np.unique(D.indices)) == D.shape[0]
        np.testing.assert_array_equal(D @ hierarchy.vertices[l], hierarchy.vertices[l + 1])


def test_up_is_barycentric(hierarchy):
    for l in range(hierarchy.num_levels - 1):
        U, D = hierarchy.up[l], hierarchy.down[l]
        assert isinstance(U, sp.csr_matrix) and U.shape == (hierarchy.counts[l], hierarchy.counts[l + 1])
        assert U.data.min() >= 0
        np.testing.assert_allclose(np.asarray(U.sum(axis=1)).ravel(), 1.0, atol=1e-12)
        assert np.diff(U.indptr).max() <= 3
        # kept vertices map to themselves: U @ D restricted to kept rows is the identity
        kept = D.indices
        np.testing.assert_array_equal((U[kept]).toarray(), np.eye(len(kept)))
        # every row's support is a vertex, edge or face of the coarse mesh
        faces = {frozenset(f) for f in hierarchy.faces[l + 1].tolist()}
        for i in range(U.shape[0]):
            cols = frozenset(U.indices[U.indptr[i] : U.indptr[i + 1]].tolist())
            assert len(cols) == 1 or any(cols <= f for f in faces)


def _mean_edge(V, F):
    return float(np.linalg.norm(V[F[:, [1, 2, 0]]] - V[F], axis=2).mean())


def test_up_down_reproduces_smooth_functions(hierarchy):
    """up(down(f)) ~ f.

    For the coordinate function, barycentric interpolation at the closest coarse point reproduces
    that point exactly, so the error at a fine vertex is its distance to the coarse surface. For a
    smooth surface with curvature radius R sampled with edge length h this is the sagitta
    ~ h^2 / (8 R); our surface has R >~ 0.4 (the open end) and h <~ 0.8 at the coarsest level, so
    the worst case is ~ h / 4 and the mean much lower. A wrong weight (e.g. a row on the wrong
    face) gives errors ~ h. The scalar f = sin(x) + y z / 3 has |Hessian| <= 1 + 1/3, so linear
    interpolation on a coarse face of diameter h adds at most (1/2)(4/3)h^2 on top of
    |grad f| * distance (|grad f| <= 1 + 3/3 + 1.5/3 <= 2.5 on this surface).
    """
    total_bound = 0.0
    for l in range(hierarchy.num_levels - 1):
        X = hierarchy.vertices[l].astype(np.float64)
        h = _mean_edge(hierarchy.vertices[l + 1].astype(np.float64), hierarchy.faces[l + 1])
        U, D = hierarchy.up[l], hierarchy.down[l]
        err = np.linalg.norm(U @ (D @ X) - X, axis=1)
        assert err.max() < 0.25 * h, (l, err.max(), h)
        assert err.mean() < 0.05 * h, (l, err.mean(), h)
        total_bound += 0.25 * h

        f = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] / 3
        diam = np.zeros(len(X))  # per fine vertex: diameter of the coarse face/edge it is read from
        Xc = hierarchy.vertices[l + 1].astype(np.float64)
        for i in range(len(X)):
            cols = U.indices[U.indptr[i] : U.indptr[i + 1]]
            diam[i] = max(np.linalg.norm(Xc[a] - Xc[b]) for a in cols for b in cols)
        bound = 0.5 * (4 / 3) * diam**2 + 2.5 * err + 1e-9
        assert np.all(np.abs(U @ (D @ f) - f) <= bound), l

    # all four levels composed: 778 -> 49 -> 778
    X = hierarchy.vertices[0].astype(np.float64)
    D = functools.reduce(lambda acc, m: m @ acc, hierarchy.down)
    U = functools.reduce(lambda acc, m: acc @ m, hierarchy.up)
    assert D.shape == (49, 778) and U.shape == (778, 49)
    np.testing.assert_allclose(np.asarray(U.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    err = np.linalg.norm(U @ (D @ X) - X, axis=1)
    assert err.max() < total_bound, (err.max(), total_bound)


def test_dense_and_torch_sparse(hierarchy):
    import torch

    for l in range(hierarchy.num_levels - 1):
        ud, dd = hierarchy.up_dense(l), hierarchy.down_dense(l)
        assert ud.dtype == torch.float32 and ud.shape == (hierarchy.counts[l], hierarchy.counts[l + 1])
        assert dd.dtype == torch.float32 and dd.shape == (hierarchy.counts[l + 1], hierarchy.counts[l])
        ds, us = hierarchy.to_torch_sparse(l)
        assert torch.equal(ds.to_dense(), dd) and torch.equal(us.to_dense(), ud)


# ---------------------------------------------------------------------------------------------
# spirals


def test_spirals(hierarchy):
    for l in range(hierarchy.num_levels):
        F, n = hierarchy.faces[l], hierarchy.counts[l]
        S = hierarchy.spirals[l]
        assert S.shape == (n, 9) and S.dtype == np.int64
        dist = bfs_dist(F, n)
        directed, _ = edge_stats(F)
        rings = one_rings(F, n)
        for v in range(n):
            s = S[v]
            assert s[0] == v
            assert len(set(s.tolist())) == 9  # every disk here has >= 9 vertices
            ring1 = set(np.flatnonzero(dist[v] == 1).tolist())
            k = len(ring1)
            if k <= 8:
                assert set(s[1 : 1 + k].tolist()) == ring1
            else:
                assert set(s[1:].tolist()) <= ring1
            d = dist[v, s]
            assert np.all(np.diff(d) >= 0) and np.all(np.diff(d) <= 1)
            # the 1-ring is in rotational order: consecutive entries share a face oriented
            # (v, a, b), i.e. directed edge a -> b appears with v as the third corner
            r = rings[v]
            m = min(k, 8)
            assert s[1 : 1 + m].tolist() == r[:m]
            closed = (r[-1], v) in directed and (v, r[0]) in directed and (r[-1], r[0]) in directed
            for a, b in zip(r, r[1:] + (r[:1] if closed else [])):
                assert (v, a) in directed and (a, b) in directed and (b, v) in directed


def test_spiral_boundary_start(hierarchy):
    F = hierarchy.faces[0]
    directed, undirected = edge_stats(F)
    S = hierarchy.spirals[0]
    for loop_v in boundary_loops(F)[0]:
        # first 1-ring entry is the boundary neighbour w with the oriented face (v, w, x)
        w = int(S[loop_v, 1])
        assert undirected[tuple(sorted((loop_v, w)))] == 1
        assert (loop_v, w) in directed


def test_spiral_dilation_and_padding():
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=2)
    F = np.asarray(s.faces, dtype=np.int64)
    n = len(s.vertices)
    full = spirals(F, n, length=18)
    np.testing.assert_array_equal(spirals(F, n, length=9, dilation=2), full[:, ::2])
    np.testing.assert_array_equal(spirals(F, n, length=9), full[:, :9])
    # a single triangle: the disk has 3 vertices, padded by repeating the last one
    tiny = spirals(np.array([[0, 1, 2]]), 3, length=5)
    assert tiny.shape == (3, 5)
    assert tiny[0].tolist()[:3] == [0, 1, 2] and tiny[0, 3] == tiny[0, 4] == tiny[0, 2]


# ---------------------------------------------------------------------------------------------
# determinism and cache


def _assert_same(a: MeshHierarchy, b: MeshHierarchy):
    assert a.counts == b.counts
    for l in range(a.num_levels):
        np.testing.assert_array_equal(a.vertices[l], b.vertices[l])
        np.testing.assert_array_equal(a.faces[l], b.faces[l])
        np.testing.assert_array_equal(a.spirals[l], b.spirals[l])
    for l in range(a.num_levels - 1):
        for ma, mb in ((a.down[l], b.down[l]), (a.up[l], b.up[l])):
            assert ma.shape == mb.shape and (ma != mb).nnz == 0
            np.testing.assert_array_equal(ma.indptr, mb.indptr)
            np.testing.assert_array_equal(ma.indices, mb.indices)
            np.testing.assert_array_equal(ma.data, mb.data)


def test_deterministic(template, hierarchy):
    _assert_same(hierarchy, build_hierarchy(*template))


def test_cache_round_trip_and_corruption(template, hierarchy, tmp_path, monkeypatch):
    calls = []
    original = hier.build_hierarchy

    @functools.wraps(original)
    def counting(*a, **kw):
        calls.append(1)
        return original(*a, **kw)

    monkeypatch.setattr(hier, "build_hierarchy", counting)
    h1 = load_or_build(*template, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(calls) == 1 and len(files) == 1
    assert not list(tmp_path.glob("*.tmp"))
    h2 = load_or_build(*template, cache_dir=tmp_path)
    assert len(calls) == 1  # loaded, not rebuilt
    _assert_same(h1, hierarchy)
    _assert_same(h2, hierarchy)
    assert all(isinstance(m, sp.csr_matrix) for m in h2.down + h2.up)

    # other parameters -> other cache file; explicit defaults -> same file
    load_or_build(*template, cache_dir=tmp_path, factors=(2, 2, 2, 2))
    assert len(calls) == 1
    load_or_build(*template, cache_dir=tmp_path, spiral_length=7)
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npz"))) == 2

    # a corrupt file is rebuilt
    files[0].write_bytes(b"not an npz file")
    h3 = load_or_build(*template, cache_dir=tmp_path)
    assert len(calls) == 3
    _assert_same(h3, hierarchy)
    h4 = load_or_build(*template, cache_dir=tmp_path)
    assert len(calls) == 3
    _assert_same(h4, hierarchy)
    # truncated file too
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])
    _assert_same(load_or_build(*template, cache_dir=tmp_path), hierarchy)
    assert len(calls) == 4


def test_closest_barycentric_matches_brute_force(hierarchy):
    from mobrecon.mesh.hierarchy import _closest_on_triangles, closest_barycentric

    V, F = hierarchy.vertices[2].astype(np.float64), hierarchy.faces[2]
    rng = np.random.default_rng(0)
    P = hierarchy.vertices[0][rng.choice(778, 200, replace=False)] + rng.normal(0, 0.1, (200, 3))
    face, bary, dist = closest_barycentric(P, V, F)
    tri = V[F]
    for p, f, w, d in zip(P, face, bary, dist):
        d2, _ = _closest_on_triangles(np.repeat(p[None], len(F), 0), tri[:, 0], tri[:, 1], tri[:, 2])
        assert f == np.argmin(d2)
        assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
        np.testing.assert_allclose(np.linalg.norm(w @ tri[f] - p), d, atol=1e-12)
        np.testing.assert_allclose(d, np.sqrt(d2.min()), atol=1e-12)

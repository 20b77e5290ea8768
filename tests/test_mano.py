"""MANO loader tests on a fake model file written here (random values, official layout).

The fake file references real ``chumpy.ch.Ch`` / ``chumpy.reordering.Select`` globals (tiny
classes registered under those module names only while pickling), so loading it exercises the
chumpy-free unpickler shim.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.transform import Rotation

from mobrecon.hand.mano import MANO, MANO_TIP_VERTEX_IDS, UnsafePickleError, load_mano_pickle

V, K = 778, 16
PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
TIPS = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "pinky": 671}
# FreiHAND keypoint k <- MANO joint j (int) or tip vertex ("v", id); written out by hand.
FREIHAND_FROM_MANO = [0, 13, 14, 15, ("v", 744), 1, 2, 3, ("v", 320), 4, 5, 6, ("v", 443),
                      10, 11, 12, ("v", 554), 7, 8, 9, ("v", 671)]


# ------------------------------------------------------------------ fake chumpy + fake model file


@contextlib.contextmanager
def fake_chumpy():
    """Register minimal chumpy.ch.Ch / chumpy.reordering.Select classes; remove them afterwards."""
    pkg = types.ModuleType("chumpy")
    ch_mod = types.ModuleType("chumpy.ch")
    re_mod = types.ModuleType("chumpy.reordering")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._cache = {"r": None}  # chumpy drops its caches from the pickled state

        def __getstate__(self):
            state = dict(self.__dict__)
            state.pop("_cache", None)
            state["_dirty_vars"] = set()
            return state

    class Select(Ch):
        def __init__(self, a, idxs, preferred_shape):
            self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape
            self._cache = {}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    Select.__module__, Select.__qualname__ = "chumpy.reordering", "Select"
    ch_mod.Ch, re_mod.Select = Ch, Select
    pkg.ch, pkg.reordering = ch_mod, re_mod
    names = ("chumpy", "chumpy.ch", "chumpy.reordering")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({"chumpy": pkg, "chumpy.ch": ch_mod, "chumpy.reordering": re_mod})
    try:
        yield Ch, Select
    finally:
        for n in names:
            if saved[n] is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = saved[n]


def make_arrays(seed=0, zero_posedirs=False):
    rng = np.random.default_rng(seed)
    v_template = rng.normal(size=(V, 3)) * 0.1
    shapedirs = rng.normal(size=(V, 3, 10)) * 1e-3
    posedirs = rng.normal(size=(V, 3, 135)) * 1e-3 * (not zero_posedirs)
    weights = rng.uniform(0.01, 1.0, size=(V, K)) ** 4
    weights /= weights.sum(1, keepdims=True)
    jreg = np.zeros((K, V))
    for j in range(K):
        idx = rng.choice(V, size=20, replace=False)
        jreg[j, idx] = rng.uniform(0.1, 1.0, size=20)
    jreg /= jreg.sum(1, keepdims=True)
    kintree = np.stack([np.array([2**32 - 1] + PARENTS[1:], dtype=np.int64), np.arange(K, dtype=np.int64)])
    faces = rng.integers(0, V, size=(1538, 3)).astype(np.uint32)
    comps = np.linalg.qr(rng.normal(size=(45, 45)))[0].T
    hands_mean = rng.normal(size=45) * 0.2
    return dict(v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, J_regressor=jreg,
                weights=weights, kintree_table=kintree, f=faces, hands_components=comps, hands_mean=hands_mean)


def write_mano(path, arrays, protocol=2, drop=()):
    with fake_chumpy() as (Ch, Select):
        d = {
            "v_template": Select(Ch(arrays["v_template"].ravel()), np.arange(V * 3), (V, 3)),
            "shapedirs": Ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"],
            "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "weights": Ch(arrays["weights"]),
            "kintree_table": arrays["kintree_table"],
            "f": arrays["f"],
            "hands_components": arrays["hands_components"],
            "hands_mean": arrays["hands_mean"],
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        for key in drop:
            del d[key]
        with open(path, "wb") as fh:
            pickle.dump(d, fh, protocol=protocol)
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mano")
    arrays = make_arrays()
    return {
        "arrays": arrays,
        "main": write_mano(root / "MANO_RIGHT.pkl", arrays),
        "proto0": write_mano(root / "MANO_RIGHT_p0.pkl", arrays, protocol=0),
        "nopd": write_mano(root / "MANO_RIGHT_nopd.pkl", make_arrays(zero_posedirs=True)),
        "root": root,
    }


def load(path, **kw):
    return MANO(path, dtype=torch.float64, **kw)


# ------------------------------------------------------------------ numpy reference (float64)


def reference(arrays, pose, betas, flat_hand_mean=False):
    """Independent MANO forward for one hand: pose (16, 3) as given to forward, betas (10,)."""
    pose = np.array(pose, dtype=np.float64)
    if not flat_hand_mean:
        pose[1:] += arrays["hands_mean"].reshape(15, 3)
    R = Rotation.from_rotvec(pose).as_matrix()
    v = arrays["v_template"] + arrays["shapedirs"] @ betas
    J = arrays["J_regressor"] @ v
    v = v + arrays["posedirs"] @ (R[1:] - np.eye(3)).ravel()
    G = np.zeros((K, 4, 4))
    for k in range(K):
        local = np.eye(4)
        local[:3, :3] = R[k]
        local[:3, 3] = J[k] - (J[PARENTS[k]] if k else 0)
        G[k] = local if k == 0 else G[PARENTS[k]] @ local
    A = G.copy()
    A[:, :3, 3] -= np.einsum("kij,kj->ki", G[:, :3, :3], J)
    T = np.einsum("vk,kij->vij", arrays["weights"], A)
    verts = np.einsum("vij,vj->vi", T[:, :3, :3], v) + T[:, :3, 3]
    skel = G[:, :3, 3]
    joints = np.stack([verts[s[1]] if isinstance(s, tuple) else skel[s] for s in FREIHAND_FROM_MANO])
    return verts, joints


# ------------------------------------------------------------------ tests


def test_tip_constant():
    assert MANO_TIP_VERTEX_IDS == TIPS


@pytest.mark.parametrize("which", ["main", "proto0"])
def test_loads_without_chumpy(files, which):
    assert "chumpy" not in sys.modules
    d = load_mano_pickle(files[which])
    a = files["arrays"]
    np.testing.assert_array_equal(d["v_template"], a["v_template"])
    np.testing.assert_array_equal(d["shapedirs"], a["shapedirs"])
    np.testing.assert_array_equal(d["weights"], a["weights"])
    assert scipy.sparse.issparse(d["J_regressor"])
    np.testing.assert_array_equal(d["J_regressor"].toarray(), a["J_regressor"])
    m = load(files[which])
    assert "chumpy" not in sys.modules
    assert m.num_vertices == V and m.num_shape == 10 and len(m.pose_joint_names) == 16
    assert m.faces.shape == (1538, 3) and m.faces.dtype == torch.long
    assert m.J_regressor.shape == (21, V)
    assert m.parents.tolist() == PARENTS


def test_rest_pose_is_template(files):
    m = load(files["main"], flat_hand_mean=True)
    out = m(pose=torch.zeros(2, 16, 3), shape=torch.zeros(2, 10))
    assert out.vertices.shape == (2, V, 3) and out.joints.shape == (2, 21, 3)
    vt = torch.as_tensor(files["arrays"]["v_template"])
    torch.testing.assert_close(out.vertices[0], vt, atol=1e-12, rtol=0)
    # joints: regressed skeleton + tip vertices, and regress_joints agrees at rest.
    torch.testing.assert_close(out.joints, m.regress_joints(out.vertices), atol=1e-12, rtol=0)
    for k, s in enumerate(FREIHAND_FROM_MANO):
        if isinstance(s, tuple):
            torch.testing.assert_close(out.joints[:, k], out.vertices[:, s[1]], atol=0, rtol=0)
        else:
            expected = torch.as_tensor(files["arrays"]["J_regressor"][s] @ files["arrays"]["v_template"])
            torch.testing.assert_close(out.joints[0, k], expected, atol=1e-12, rtol=0)


def test_hands_mean_convention(files):
    m_mean, m_flat = load(files["main"]), load(files["main"], flat_hand_mean=True)
    zero = m_mean(pose=torch.zeros(1, 16, 3))
    pose = torch.zeros(1, 16, 3)
    pose[0, 1:] = torch.as_tensor(files["arrays"]["hands_mean"]).reshape(15, 3)
    torch.testing.assert_close(zero.vertices, m_flat(pose=pose).vertices)
    assert (zero.vertices - m_flat.v_template).abs().max() > 1e-3


def test_matches_numpy_reference(files):
    rng = np.random.default_rng(1)
    pose = rng.normal(size=(2, 16, 3)) * 0.5
    betas = rng.normal(size=(2, 10))
    for flat in (False, True):
        out = load(files["main"], flat_hand_mean=flat)(pose=torch.as_tensor(pose), shape=torch.as_tensor(betas))
        for b in range(2):
            rv, rj = reference(files["arrays"], pose[b], betas[b], flat_hand_mean=flat)
            np.testing.assert_allclose(out.vertices[b].numpy(), rv, atol=1e-10)
            np.testing.assert_allclose(out.joints[b].numpy(), rj, atol=1e-10)


def test_betas_linear(files):
    m = load(files["main"], flat_hand_mean=True)
    rng = np.random.default_rng(2)
    b1, b2 = torch.as_tensor(rng.normal(size=(1, 10))), torch.as_tensor(rng.normal(size=(1, 10)))
    vt = m.v_template
    d1, d2, d12 = (m(shape=b).vertices - vt for b in (b1, b2, b1 + b2))
    torch.testing.assert_close(d12, d1 + d2, atol=1e-12, rtol=0)
    expected = np.einsum("vcs,s->vc", files["arrays"]["shapedirs"], b1[0].numpy())
    np.testing.assert_allclose(d1[0].numpy(), expected, atol=1e-12)


def test_global_rotation_is_rigid_about_root(files):
    m = load(files["main"])
    rng = np.random.default_rng(3)
    pose = torch.as_tensor(rng.normal(size=(1, 16, 3)) * 0.3)
    pose[0, 0] = 0
    betas = torch.as_tensor(rng.normal(size=(1, 10)))
    base = m(pose=pose, shape=betas)
    aa = np.array([0.3, -1.1, 0.7])
    rot = torch.as_tensor(Rotation.from_rotvec(aa).as_matrix())
    posed = pose.clone()
    posed[0, 0] = torch.as_tensor(aa)
    transl = torch.tensor([[0.1, -0.2, 0.5]], dtype=torch.float64)
    out = m(pose=posed, shape=betas, transl=transl)
    root = base.joints[0, 0]
    torch.testing.assert_close(out.vertices[0], (base.vertices[0] - root) @ rot.T + root + transl[0])
    torch.testing.assert_close(out.joints[0], (base.joints[0] - root) @ rot.T + root + transl[0])
    torch.testing.assert_close(out.joints[0, 0], root + transl[0])
    # regress_joints is exact for rigid motions of the rest pose (regressor rows sum to 1).
    rigid = torch.zeros(1, 16, 3, dtype=torch.float64)
    rigid[0, 0] = torch.as_tensor(aa)
    flat = load(files["main"], flat_hand_mean=True)
    r = flat(pose=rigid, shape=betas, transl=transl)
    torch.testing.assert_close(flat.regress_joints(r.vertices), r.joints)


def test_posedirs_act(files):
    with_pd, without_pd = load(files["main"]), load(files["nopd"])
    zero = torch.zeros(1, 16, 3)
    flat_a = load(files["main"], flat_hand_mean=True)(pose=zero).vertices
    flat_b = load(files["nopd"], flat_hand_mean=True)(pose=zero).vertices
    torch.testing.assert_close(flat_a, flat_b, atol=0, rtol=0)  # no pose -> no correctives
    pose = torch.zeros(1, 16, 3, dtype=torch.float64)
    pose[0, 5] = torch.tensor([0.0, 0.0, 0.8])  # bend one finger joint
    diff = (with_pd(pose=pose).vertices - without_pd(pose=pose).vertices).abs().max()
    assert diff > 1e-4
    # A global rotation alone does not trigger correctives.
    glob = torch.zeros(1, 16, 3, dtype=torch.float64)
    glob[0, 0] = torch.tensor([0.5, 0.2, -0.4])
    a = load(files["main"], flat_hand_mean=True)(pose=glob).vertices
    b = load(files["nopd"], flat_hand_mean=True)(pose=glob).vertices
    torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_batch_and_gradients(files):
    m = MANO(files["main"])  # float32, as used in training
    g = torch.Generator().manual_seed(0)
    pose = (torch.randn(3, 16, 3, generator=g) * 0.3).requires_grad_()
    betas = torch.randn(3, 10, generator=g).requires_grad_()
    transl = torch.randn(3, 3, generator=g).requires_grad_()
    out = m(pose=pose, shape=betas, transl=transl)
    assert out.vertices.shape == (3, V, 3) and out.joints.shape == (3, 21, 3)
    assert out.vertices.dtype == torch.float32
    (out.vertices.square().sum() + out.joints.square().sum()).backward()
    for t in (pose, betas, transl):
        assert t.grad is not None and torch.isfinite(t.grad).all()
        assert (t.grad.flatten(1).abs().sum(1) > 0).all()
    # Each batch element is independent of the others.
    single = m(pose=pose[1:2].detach(), shape=betas[1:2].detach(), transl=transl[1:2].detach())
    torch.testing.assert_close(single.vertices[0], out.vertices[1].detach())
    # (B, 48) pose is accepted too.
    flat48 = m(pose=pose.detach().reshape(3, 48), shape=betas.detach(), transl=transl.detach())
    torch.testing.assert_close(flat48.vertices, out.vertices.detach())


def test_pca_equals_full(files):
    full, pcam = load(files["main"]), load(files["main"], use_pca=True, num_pca_comps=6)
    rng = np.random.default_rng(4)
    pca = torch.as_tensor(rng.normal(size=(2, 6)))
    glob = torch.as_tensor(rng.normal(size=(2, 3)) * 0.5)
    betas = torch.as_tensor(rng.normal(size=(2, 10)))
    comps = torch.as_tensor(files["arrays"]["hands_components"][:6])
    pose = torch.cat([glob[:, None], (pca @ comps).reshape(2, 15, 3)], dim=1)
    expected = full(pose=pose, shape=betas)
    pose_global_only = torch.zeros(2, 16, 3, dtype=torch.float64)
    pose_global_only[:, 0] = glob
    got = pcam(pose=pose_global_only, shape=betas, pca=pca)
    torch.testing.assert_close(got.vertices, expected.vertices)
    torch.testing.assert_close(got.joints, expected.joints)
    # Without pose: batch size from pca.
    assert pcam(pca=pca).vertices.shape == (2, V, 3)
    with pytest.raises(ValueError, match="use_pca"):
        full(pca=pca)
    with pytest.raises(ValueError, match="pca must have shape"):
        pcam(pca=torch.zeros(2, 5))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_refused(files, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": _Evil(marker)}, fh, protocol=2)
    with pytest.raises(UnsafePickleError, match="refusing"):
        MANO(path)
    # The same, spelled literally as os.system in a protocol-0 stream.
    path0 = tmp_path / "evil0.pkl"
    path0.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(UnsafePickleError, match="os.system"):
        load_mano_pickle(path0)
    # Other code-running globals are refused too.
    path1 = tmp_path / "evil1.pkl"
    path1.write_bytes(b"c__builtin__\neval\n(S'1+1'\ntR.")
    with pytest.raises(UnsafePickleError, match="eval"):
        load_mano_pickle(path1)
    assert not marker.exists()


def test_errors(files, tmp_path):
    missing = tmp_path / "nope" / "MANO_RIGHT.pkl"
    with pytest.raises(FileNotFoundError, match="MANO_RIGHT.pkl"):
        MANO(missing)
    nopd = write_mano(tmp_path / "no_posedirs.pkl", files["arrays"], drop=("posedirs",))
    with pytest.raises(ValueError, match="'posedirs'"):
        MANO(nopd)
    # hands_components only needed in PCA mode, hands_mean only without flat_hand_mean.
    nocomp = write_mano(tmp_path / "no_comps.pkl", files["arrays"], drop=("hands_components", "hands_mean"))
    MANO(nocomp, flat_hand_mean=True)
    with pytest.raises(ValueError, match="'hands_components'"):
        MANO(nocomp, use_pca=True, flat_hand_mean=True)
    with pytest.raises(ValueError, match="'hands_mean'"):
        MANO(nocomp)
    bad = dict(files["arrays"], shapedirs=files["arrays"]["shapedirs"][:, :, :8])
    with pytest.raises(ValueError, match="shapedirs.*shape"):
        MANO(write_mano(tmp_path / "bad_shape.pkl", bad))
    notdict = tmp_path / "list.pkl"
    notdict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="dict"):
        MANO(notdict)
    m = MANO(files["main"])
    with pytest.raises(ValueError, match="pose"):
        m(pose=torch.zeros(2, 15, 3))
    with pytest.raises(ValueError, match="transl"):
        m(pose=torch.zeros(2, 16, 3), transl=torch.zeros(3, 3))

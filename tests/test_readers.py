"""Data set readers on tiny fixtures written here in each published layout.

FreiHAND, RHD, HO-3D v2 and the synthetic sets: every key of the sample dict with its shape and
dtype, 2D = projection of 3D, keypoint reordering, left-hand mirroring, the OpenGL -> OpenCV
change of HO-3D, the ratio mixer, spec parsing and DataLoader collation.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mobrecon.data.freihand import FreiHAND
from mobrecon.data.ho3d import HO3D
from mobrecon.data.mixed import MixedDataset, detect_kind, open_dataset, open_mixture
from mobrecon.data.rhd import RHD
from mobrecon.data.sample import KEYS, project
from mobrecon.data.synth import SynthSet

W, H = 64, 48
K0 = np.array([[60.0, 0.0, 31.5], [0.0, 62.0, 23.5], [0.0, 0.0, 1.0]])


def hand_points(seed: int, n: int = 21, depth: float = 0.5) -> np.ndarray:
    """(n, 3) distinct camera-space points (OpenCV) that project inside a W x H image."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-0.08, 0.08, n), rng.uniform(-0.06, 0.06, n),
                     depth + rng.uniform(-0.03, 0.03, n)], 1)


def write_image(path, rgb_color, split_color=None):
    """A W x H photo of one colour (left half ``split_color`` if given), written as BGR."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = rgb_color
    if split_color is not None:
        img[:, : W // 2] = split_color
    assert cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))


def check_sample(s, num_vertices=778):
    assert set(s) == set(KEYS)
    assert s["image"].dtype == np.uint8 and s["image"].shape == (H, W, 3)
    for key, shape in (("K", (3, 3)), ("joints2d", (21, 2)), ("joints2d_valid", (21,)),
                       ("joints3d", (21, 3)), ("vertices", (num_vertices, 3))):
        assert s[key].dtype == np.float32 and s[key].shape == shape, key
    assert s["mask"].dtype == bool and s["mask"].shape == (H, W)
    for key in ("has_joints3d", "has_vertices", "has_mask"):
        assert isinstance(s[key], np.bool_), key
    assert isinstance(s["dataset"], str) and isinstance(s["sequence"], str)
    assert isinstance(s["index"], int) and isinstance(s["frame"], int)


def assert_projects(s, tol=1e-3):
    np.testing.assert_allclose(project(s["joints3d"], s["K"]), s["joints2d"], atol=tol)


# ------------------------------------------------------------------------------ FreiHAND


@pytest.fixture(scope="module")
def freihand_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("freihand")
    n = 3
    xyz = [hand_points(k) for k in range(n)]
    verts = [hand_points(10 + k, 778) for k in range(n)]
    K = [K0 + np.diag([k, k, 0]) for k in range(n)]
    colors = {"gs": (200, 20, 20), "hom": (20, 200, 20), "sample": (20, 20, 200), "auto": (200, 200, 20)}
    for v, (name, color) in enumerate(colors.items()):
        for i in range(n):
            write_image(root / "training" / "rgb" / f"{i + v * n:08d}.jpg", color)
    (root / "training" / "mask").mkdir()
    for i in range(n - 1):  # id 2 has no mask
        m = np.zeros((H, W), np.uint8)
        m[10:20, 5:15] = 255
        assert cv2.imwrite(str(root / "training" / "mask" / f"{i:08d}.jpg"), m)
    for name, data in (("K", K), ("xyz", xyz), ("verts", verts),
                       ("mano", [np.zeros((1, 61)) for _ in range(n)]), ("scale", [0.03] * n)):
        (root / f"training_{name}.json").write_text(json.dumps(np.asarray(data).tolist()))
    for i in range(2):
        write_image(root / "evaluation" / "rgb" / f"{i:08d}.jpg", (90, 90, 90))
    (root / "evaluation_K.json").write_text(json.dumps([K0.tolist()] * 2))
    (root / "evaluation_scale.json").write_text(json.dumps([0.03] * 2))
    return root, xyz, verts, K


def test_freihand_training(freihand_root):
    root, xyz, verts, K = freihand_root
    ds = FreiHAND(root)
    assert len(ds) == 3
    for i in range(3):
        s = ds[i]
        check_sample(s)
        assert s["dataset"] == "freihand" and s["index"] == i and s["sequence"] == "" and s["frame"] == -1
        np.testing.assert_allclose(s["joints3d"], xyz[i], atol=1e-6)
        np.testing.assert_allclose(s["vertices"], verts[i], atol=1e-6)
        np.testing.assert_allclose(s["K"], K[i], atol=1e-6)
        assert s["has_joints3d"] and s["has_vertices"]
        assert s["joints2d_valid"].all()
        assert_projects(s)
        assert np.abs(s["image"].reshape(-1, 3).mean(0) - (200, 20, 20)).max() < 3  # BGR -> RGB
    assert ds[0]["has_mask"] and ds[0]["mask"][10:20, 5:15].all() and ds[0]["mask"].sum() == 100
    assert not ds[2]["has_mask"] and not ds[2]["mask"].any()


def test_freihand_versions(freihand_root):
    root = freihand_root[0]
    hom = FreiHAND(root, version="hom")
    assert np.abs(hom[1]["image"].reshape(-1, 3).mean(0) - (20, 200, 20)).max() < 3
    assert hom.image_path(1).name == f"{1 + 3:08d}.jpg"
    every = FreiHAND(root, version="all", load_vertices=False)
    assert len(every) == 12
    s = every[3 * 3 + 2]  # auto version of id 2
    assert np.abs(s["image"].reshape(-1, 3).mean(0) - (200, 200, 20)).max() < 3
    np.testing.assert_allclose(s["joints3d"], freihand_root[1][2], atol=1e-6)
    assert not s["has_vertices"]
    with pytest.raises(ValueError, match="version"):
        FreiHAND(root, version="fancy")


def test_freihand_evaluation_without_annotations(freihand_root):
    ds = FreiHAND(freihand_root[0], split="evaluation")
    assert len(ds) == 2
    s = ds[1]
    check_sample(s)
    assert not s["has_joints3d"] and not s["has_vertices"] and not s["has_mask"]
    assert (s["joints2d_valid"] == 0).all() and (s["joints2d"] == 0).all()
    np.testing.assert_allclose(s["K"], K0, atol=1e-6)


def test_freihand_evaluation_with_released_annotations(tmp_path):
    root = tmp_path / "fh"
    write_image(root / "evaluation" / "rgb" / "00000000.jpg", (90, 90, 90))
    xyz = hand_points(5)
    (root / "evaluation_K.json").write_text(json.dumps([K0.tolist()]))
    (root / "evaluation_xyz.json").write_text(json.dumps([xyz.tolist()]))
    (root / "evaluation_verts.json").write_text(json.dumps([hand_points(6, 778).tolist()]))
    seg = np.zeros((H, W), np.uint8)
    seg[5:9, 40:50] = 3  # a part label
    (root / "evaluation" / "segmap").mkdir()
    assert cv2.imwrite(str(root / "evaluation" / "segmap" / "00000000.png"), seg)
    s = FreiHAND(root, split="evaluation")[0]
    check_sample(s)
    assert s["has_joints3d"] and s["has_vertices"] and s["has_mask"] and s["mask"].sum() == 40
    assert_projects(s)


def test_freihand_errors(tmp_path, freihand_root):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FreiHAND(tmp_path / "nowhere")
    (tmp_path / "training" / "rgb").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="training_K.json"):
        FreiHAND(tmp_path)


# ------------------------------------------------------------------------------ RHD

# FreiHAND keypoint k <- RHD keypoint (within one hand), written out by hand: RHD lists each
# finger tip first, FreiHAND from the palm outwards.
RHD_EXPECTED = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rhd")
    anno = {}
    # ids 0 and 7 (ids need not be contiguous): 0 shows the right hand, 7 the left one
    for sid, vis_left, vis_right in ((0, 5, 18), (7, 20, 3)):
        xyz = hand_points(100 + sid, 42)
        K = K0.copy()
        K[0, 1] = 0.5  # a skew, to check that mirroring handles it
        uv = project(xyz, K)
        vis = np.zeros(42)
        vis[:vis_left] = 1
        vis[21:21 + vis_right] = 1
        anno[sid] = {"uv_vis": np.concatenate([uv, vis[:, None]], 1), "xyz": xyz, "K": K}
        write_image(root / "training" / "color" / f"{sid:05d}.png", (0, 0, 255), split_color=(255, 0, 0))
        labels = np.zeros((H, W), np.uint8)
        labels[:, 40:] = 1  # the person
        labels[2:6, 2:10] = 5  # a left-hand part
        labels[30:40, 50:60] = 20  # a right-hand part
        (root / "training" / "mask").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "training" / "mask" / f"{sid:05d}.png"), labels)
    with open(root / "training" / "anno_training.pickle", "wb") as fh:
        pickle.dump(anno, fh, protocol=2)
    (root / "evaluation" / "color").mkdir(parents=True)
    write_image(root / "evaluation" / "color" / "00003.png", (10, 10, 10))
    with open(root / "evaluation" / "anno_evaluation.pickle", "wb") as fh:
        pickle.dump({3: anno[0]}, fh, protocol=2)
    return root, anno


def test_rhd_right_hand_reordering(rhd_root):
    root, anno = rhd_root
    ds = RHD(root)
    assert len(ds) == 2 and ds.ids == [0, 7]
    s = ds[0]
    check_sample(s)
    assert ds.side(0) == "right" and s["dataset"] == "rhd" and s["index"] == 0
    xyz, uv = anno[0]["xyz"], anno[0]["uv_vis"][:, :2]
    for k, j in enumerate(RHD_EXPECTED):
        np.testing.assert_allclose(s["joints3d"][k], xyz[21 + j], atol=1e-6)
        np.testing.assert_allclose(s["joints2d"][k], uv[21 + j], atol=1e-4)
    np.testing.assert_allclose(s["joints3d"][4], xyz[22], atol=1e-6)  # thumb tip = RHD right 1
    np.testing.assert_allclose(s["joints3d"][17], xyz[41], atol=1e-6)  # pinky MCP = RHD right 20
    assert s["has_joints3d"] and not s["has_vertices"]
    assert_projects(s)
    assert s["has_mask"] and s["mask"].sum() == 100 and s["mask"][30:40, 50:60].all()  # right part only
    assert (s["image"][0, 0] == (255, 0, 0)).all() and (s["image"][0, -1] == (0, 0, 255)).all()
    np.testing.assert_array_equal(ds.visibility(0), (np.arange(21) < 18)[RHD_EXPECTED].astype(np.float32))


def test_rhd_left_hand_is_mirrored(rhd_root):
    root, anno = rhd_root
    ds = RHD(root)
    s = ds[1]
    check_sample(s)
    assert ds.side(1) == "left"
    xyz, uv, K = anno[7]["xyz"], anno[7]["uv_vis"][:, :2], anno[7]["K"]
    for k, j in enumerate(RHD_EXPECTED):
        np.testing.assert_allclose(s["joints3d"][k], xyz[j] * (-1, 1, 1), atol=1e-6)
        np.testing.assert_allclose(s["joints2d"][k], (W - 1 - uv[j, 0], uv[j, 1]), atol=1e-4)
    np.testing.assert_allclose(s["K"][0, 2], W - 1 - K[0, 2], atol=1e-5)
    assert_projects(s)  # mirrored 3D through the mirrored K lands on the mirrored 2D
    assert (s["image"][0, 0] == (0, 0, 255)).all() and (s["image"][0, -1] == (255, 0, 0)).all()
    assert s["mask"].sum() == 32 and s["mask"][2:6, W - 10:W - 2].all()  # left part, flipped


def test_rhd_forced_hand_and_evaluation(rhd_root):
    root, anno = rhd_root
    s = RHD(root, hand="right")[1]
    np.testing.assert_allclose(s["joints3d"][0], anno[7]["xyz"][21], atol=1e-6)
    ev = RHD(root, split="evaluation")
    s = ev[0]
    check_sample(s)
    assert not s["has_mask"] and ev.ids == [3]
    with pytest.raises(ValueError, match="hand"):
        RHD(root, hand="both")


def test_rhd_refuses_foreign_pickle(tmp_path):
    (tmp_path / "training").mkdir()
    with open(tmp_path / "training" / "anno_training.pickle", "wb") as fh:
        pickle.dump({0: Counter()}, fh)
    with pytest.raises(ValueError, match="anno_training.pickle"):
        RHD(tmp_path)


# ------------------------------------------------------------------------------ HO-3D

HO3D_FROM_FREIHAND_ORDER = np.argsort([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])
GL = np.array([1.0, -1.0, -1.0])


def write_meta(path, meta):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(meta, fh, protocol=2)


@pytest.fixture(scope="module")
def ho3d_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ho3d")
    joints_cv = {}
    for fid in ("0000", "0012"):
        j = hand_points(200 + int(fid))
        joints_cv[fid] = j
        write_image(root / "train" / "SEQA" / "rgb" / f"{fid}.png", (30, 60, 90))
        write_meta(root / "train" / "SEQA" / "meta" / f"{fid}.pkl", {
            "handJoints3D": (j * GL)[HO3D_FROM_FREIHAND_ORDER],  # OpenGL, HO-3D order
            "handPose": np.zeros(48), "handBeta": np.zeros(10), "handTrans": np.array([0.0, 0.0, -0.5]),
            "camMat": K0, "objName": "011_banana", "objRot": np.zeros((3, 1)),
        })
    (root / "train.txt").write_text("SEQA/0000\nSEQA/0012\n")
    write_image(root / "evaluation" / "SEQB" / "rgb" / "0003.png", (30, 60, 90))
    write_meta(root / "evaluation" / "SEQB" / "meta" / "0003.pkl", {
        "handJoints3D": np.array([0.01, -0.02, -0.45]), "handBoundingBox": np.array([5.0, 6.0, 40.0, 42.0]),
        "camMat": K0, "handPose": None, "handBeta": None, "handTrans": None,
    })
    (root / "evaluation.txt").write_text("SEQB/0003\n")
    return root, joints_cv


def test_ho3d_train(ho3d_root):
    root, joints_cv = ho3d_root
    ds = HO3D(root)
    assert len(ds) == 2
    s = ds[1]
    check_sample(s)
    assert s["dataset"] == "ho3d" and s["sequence"] == "SEQA" and s["frame"] == 12 and s["index"] == 1
    np.testing.assert_allclose(s["joints3d"], joints_cv["0012"], atol=1e-6)
    assert (s["joints3d"][:, 2] > 0).all()  # OpenGL's negative z became positive
    assert_projects(s)
    assert s["joints2d_valid"].all() and s["has_joints3d"]
    assert not s["has_vertices"] and not s["has_mask"]


def test_ho3d_evaluation(ho3d_root):
    ds = HO3D(ho3d_root[0], split="evaluation")
    s = ds[0]
    check_sample(s)
    assert not s["has_joints3d"] and (s["joints2d_valid"] == 0).all() and s["sequence"] == "SEQB"
    np.testing.assert_allclose(ds.box(0), [5, 6, 40, 42])
    np.testing.assert_allclose(ds.root_joint(0), [0.01, 0.02, 0.45], atol=1e-6)


def test_ho3d_errors(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="train.txt"):
        HO3D(tmp_path)
    (tmp_path / "train.txt").write_text("SEQ/0000\n")
    ds = HO3D(tmp_path)
    with pytest.raises(FileNotFoundError, match="0000.pkl"):
        ds[0]


def fake_mano_pickle(path, seed=0):
    """A MANO_RIGHT.pkl-shaped file of random values (plain arrays; see tests/test_mano.py)."""
    rng = np.random.default_rng(seed)
    V, J = 778, 16
    parents = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
    weights = rng.uniform(0.01, 1.0, (V, J)) ** 4
    jreg = np.zeros((J, V))
    for j in range(J):
        jreg[j, rng.choice(V, 20, replace=False)] = 1.0 / 20
    d = {
        "v_template": rng.normal(size=(V, 3)) * 0.05,
        "shapedirs": rng.normal(size=(V, 3, 10)) * 1e-3,
        "posedirs": rng.normal(size=(V, 3, 135)) * 1e-3,
        "J_regressor": jreg,
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.stack([np.array([2**32 - 1] + parents[1:]), np.arange(J)]),
        "f": rng.integers(0, V, (1538, 3)).astype(np.uint32),
        "hands_mean": rng.normal(size=45) * 0.2,
        "hands_components": np.eye(45),
    }
    with open(path, "wb") as fh:
        pickle.dump(d, fh, protocol=2)
    return path


def test_ho3d_mano_vertices(tmp_path):
    from mobrecon.hand.mano import MANO

    mano_path = fake_mano_pickle(tmp_path / "MANO_RIGHT.pkl")
    flat = MANO(mano_path, flat_hand_mean=True, dtype=torch.float64)
    rng = np.random.default_rng(3)
    pose, beta, trans = rng.normal(size=48) * 0.3, rng.normal(size=10), np.array([0.02, -0.01, -0.5])
    with torch.no_grad():
        out = flat(pose=torch.tensor(pose)[None], shape=torch.tensor(beta)[None], transl=torch.tensor(trans)[None])
    verts_gl, joints_gl = out.vertices[0].numpy(), out.joints[0].numpy()  # FreiHAND order
    root = tmp_path / "ho3d"
    write_image(root / "train" / "S" / "rgb" / "0001.png", (1, 2, 3))
    write_meta(root / "train" / "S" / "meta" / "0001.pkl", {
        "handJoints3D": joints_gl[HO3D_FROM_FREIHAND_ORDER], "handPose": pose, "handBeta": beta,
        "handTrans": trans, "camMat": K0})
    (root / "train.txt").write_text("S/0001\n")
    for mano in (mano_path, MANO(mano_path)):  # a path, or a model with the mean pose added
        s = HO3D(root, mano=mano)[0]
        check_sample(s)
        assert s["has_vertices"] and s["frame"] == 1
        np.testing.assert_allclose(s["vertices"], verts_gl * GL, atol=1e-5)
        np.testing.assert_allclose(s["joints3d"], joints_gl * GL, atol=1e-6)
        assert (s["vertices"][:, 2] > 0).all()
    from mobrecon.hand.openhand import OpenHand

    with pytest.raises(ValueError, match="MANO"):
        HO3D(root, mano=OpenHand())


# ------------------------------------------------------------------------------ synthetic sets


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mobrecon.synth import storage

    root = tmp_path_factory.mktemp("synth")
    n, V = 3, 778
    rng = np.random.default_rng(0)
    encoded, ann = [], {name: np.zeros((n,) + shape, dt) for name, (dt, shape, _) in storage.ANNOTATIONS.items()}
    if "frame" in ann:  # image sets mark "no video" with frame -1
        ann["frame"][:] = -1
    verts_rel = rng.normal(size=(n, V, 3)) * 0.03
    for i in range(n):
        label = np.zeros((H, W), np.uint8)
        label[10:20, 10:30] = 1
        label[12:14, 12:14] = 2
        rgb = np.full((H, W, 3), (10 * i, 100, 200), np.uint8)
        encoded.append(storage.encode_sample(rgb, label, np.zeros((H, W), np.float32)))
        j3 = hand_points(300 + i)
        ann["index"][i], ann["K"][i], ann["joints3d"][i] = i, K0, j3
        ann["joints2d"][i], ann["root"][i] = project(j3, K0), j3[0]
    storage.write_shard(storage.shard_dir(root, 0), encoded, verts_rel, ann)
    return root, ann, verts_rel


def test_synth_adapter(synth_root):
    root, ann, verts_rel = synth_root
    ds = SynthSet(root)
    assert len(ds) == 3
    s = ds[2]
    check_sample(s)
    assert s["dataset"] == "synth" and s["sequence"] == "" and s["frame"] == -1 and s["index"] == 2
    np.testing.assert_allclose(s["vertices"], verts_rel[2].astype(np.float16) + ann["root"][2], atol=1e-5)
    np.testing.assert_allclose(s["joints3d"], ann["joints3d"][2], atol=1e-6)
    assert_projects(s)
    assert s["has_mask"] and s["mask"].sum() == 200 and s["has_vertices"]


def test_synth_adapter_passes_video_ids(synth_root):
    ds = SynthSet(synth_root[0])
    images = ds.source

    class VideoItems:  # a video set's items carry sequence / frame
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return {**images[i], "sequence": np.str_("seq_00002"), "frame": np.int32(7)}

    ds.source = VideoItems()
    s = ds[1]
    check_sample(s)
    assert s["sequence"] == "seq_00002" and type(s["sequence"]) is str and s["frame"] == 7


# ------------------------------------------------------------------------------ mixing, specs


class Numbers(Dataset):
    def __init__(self, name, n):
        self.name, self.n = name, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return (self.name, i)


def test_mixed_ratios_and_determinism():
    a, b, c = Numbers("a", 10), Numbers("b", 1000), Numbers("c", 5)
    mix = MixedDataset([a, b, c], [0.6, 0.3, 0.1], length=1000, seed=4)
    items = [mix[i] for i in range(len(mix))]
    counts = Counter(name for name, _ in items)
    assert counts == {"a": 600, "b": 300, "c": 100}
    assert Counter(j for name, j in items if name == "a") == {j: 60 for j in range(10)}  # cycled evenly
    assert len({j for name, j in items if name == "b"}) == 300  # no repeats when a set is large
    again = MixedDataset([a, b, c], [6, 3, 1], length=1000, seed=4)
    assert [again[i] for i in range(1000)] == items
    again.set_epoch(1)
    epoch1 = [again[i] for i in range(1000)]
    assert epoch1 != items and Counter(n for n, _ in epoch1) == counts
    assert [MixedDataset([a, b, c], [6, 3, 1], length=1000, seed=5)[i] for i in range(1000)] != items
    # a plain random draw would be within a few percent; the plan is exact per epoch
    small = MixedDataset([a, b], [0.7, 0.3], length=33, seed=0)
    assert Counter(small[i][0] for i in range(33)) == {"a": 23, "b": 10}
    assert len(MixedDataset([a, b], [1, 1])) == 1010


def test_mixed_errors():
    with pytest.raises(ValueError, match="ratios"):
        MixedDataset([Numbers("a", 3)], [0.5, 0.5])
    with pytest.raises(ValueError, match="empty"):
        MixedDataset([Numbers("a", 3), Numbers("b", 0)], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        MixedDataset([Numbers("a", 3)], [-1])
    with pytest.raises(IndexError):
        MixedDataset([Numbers("a", 3)], [1], length=5)[5]


def test_open_dataset_detects_layouts(freihand_root, rhd_root, ho3d_root, synth_root):
    assert detect_kind(freihand_root[0]) == "freihand"
    assert detect_kind(rhd_root[0]) == "rhd"
    assert detect_kind(ho3d_root[0]) == "ho3d"
    assert detect_kind(synth_root[0]) == "synth"
    assert isinstance(open_dataset(str(freihand_root[0])), FreiHAND)
    ev = open_dataset(f"{rhd_root[0]}:evaluation")
    assert isinstance(ev, RHD) and ev.split == "evaluation"
    assert open_dataset(f"rhd:{rhd_root[0]}:eval").split == "evaluation"
    assert open_dataset(f"ho3d:{ho3d_root[0]}:training").split == "train"
    assert isinstance(open_dataset(f"synth:{synth_root[0]}"), SynthSet)
    assert len(open_dataset(f"freihand:{freihand_root[0]}", version="all", load_vertices=False)) == 12


def test_open_dataset_errors(tmp_path, freihand_root):
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        open_dataset(f"freihand:{tmp_path / 'missing_dir'}")
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        open_dataset(str(tmp_path / "missing_dir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="unknown data set layout"):
        open_dataset(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="anno_training.pickle"):
        open_dataset(f"rhd:{tmp_path / 'empty'}")
    with pytest.raises(ValueError, match="no splits"):
        open_dataset(f"synth:{tmp_path / 'empty'}:train")


def test_open_mixture_and_collate(freihand_root, rhd_root, ho3d_root, tmp_path):
    spec = f"freihand:{freihand_root[0]}=0.5,rhd:{rhd_root[0]}=0.5"
    mix = open_mixture(spec, length=8, seed=1)
    assert len(mix) == 8 and Counter(mix.locate(i)[0] for i in range(8)) == {0: 4, 1: 4}
    batch = next(iter(DataLoader(mix, batch_size=8, shuffle=False)))
    assert set(batch) == set(KEYS)
    assert batch["image"].shape == (8, H, W, 3) and batch["image"].dtype == torch.uint8
    assert batch["vertices"].shape == (8, 778, 3) and batch["has_vertices"].dtype == torch.bool
    assert sorted(set(batch["dataset"])) == ["freihand", "rhd"] and isinstance(batch["sequence"], list)
    assert batch["frame"].tolist() == [-1] * 8
    # keyword options reach only the readers that take them
    mano = fake_mano_pickle(tmp_path / "MANO_RIGHT.pkl")
    mix = open_mixture(f"{freihand_root[0]},ho3d:{ho3d_root[0]}", mano=mano, version="hom")
    assert mix.datasets[0].versions == ("hom",) and mix.datasets[1].mano is not None
    assert np.allclose(mix.ratios, 0.5)
    with pytest.raises(ValueError, match="ratio"):
        open_mixture(f"{freihand_root[0]}=0.5,{rhd_root[0]}")

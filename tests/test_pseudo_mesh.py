"""Pseudo-meshes: the OpenHand fitter recovers known hands from teacher-like labels."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from mobrecon.data.pseudo_mesh import (FitConfig, _JointRig, fit_hands, fit_labels, mirror_labels,
                                       pseudo_mesh_sample, read_labels, similarity_align, synthetic_labels)
from mobrecon.hand.lbs import axis_angle_to_matrix, matrix_to_axis_angle
from mobrecon.hand.load import load_hand


@pytest.fixture(scope="module")
def hand():
    torch.set_num_threads(1)
    return load_hand("openhand")


@pytest.fixture(scope="module")
def problem(hand):
    lab = synthetic_labels(hand, 12, seed=3, noise_2d=0.003, noise_3d=0.002)
    return lab, fit_hands(hand, lab["keypoints2d"], lab["world"], lab["K"], FitConfig())


def test_joint_rig_matches_the_model(hand):
    g = torch.Generator().manual_seed(0)
    lim = hand.joint_limits[1:]
    angles = lim[..., 0] + torch.rand(5, 15, 3, generator=g) * (lim[..., 1] - lim[..., 0])
    shape = torch.randn(5, 6, generator=g)
    rot = axis_angle_to_matrix(torch.randn(5, 3, generator=g))
    ref = hand(hand.angles_to_pose(angles, matrix_to_axis_angle(rot)), shape).joints
    assert torch.allclose(_JointRig(hand).joints(rot, angles, shape), ref, atol=1e-4)


def test_fit_recovers_known_hands(hand, problem):
    lab, fit = problem
    assert fit["residual_2d"].max() < 0.02  # 2 % of the box
    assert fit["residual_3d"].max() < 8.0  # mm, with 2 mm noise per coordinate
    gt, pj = torch.as_tensor(lab["joints3d"]), torch.as_tensor(fit["joints3d"])
    pa = (similarity_align(pj, gt) - gt).norm(dim=-1).mean(1) * 1000
    assert pa.max() < 6.0, pa  # mm against the truth, after a similarity
    assert fit["keep"].all() and (fit["confidence"] > 0.5).all()
    # The stored pose, shape and translation reproduce the stored mesh and joints.
    out = hand(torch.as_tensor(fit["pose"]), torch.as_tensor(fit["shape"]), torch.as_tensor(fit["transl"]))
    assert np.allclose(out.vertices.numpy(), fit["vertices"], atol=1e-5)
    assert hand.within_limits(torch.as_tensor(fit["pose"])).all()
    q = fit["joints3d"] @ fit["K"][0].T
    assert np.allclose(q[..., :2] / q[..., 2:], fit["joints2d"], atol=1e-2)


def test_fit_notices_inconsistent_labels(hand, problem):
    """World landmarks of another hand: the residuals say the fit is bad."""
    lab, fit = problem
    bad = fit_hands(hand, lab["keypoints2d"][:4], lab["world"][4:8], lab["K"][:4], FitConfig())
    assert (bad["residual_3d"] + 100 * bad["residual_2d"]).min() > (fit["residual_3d"] + 100 * fit["residual_2d"]).max()


def test_mirror_labels():
    kp = np.array([[[10.0, 5.0]] * 21, [[10.0, 5.0]] * 21], np.float32)
    world = np.array([[[0.01, 0.02, 0.03]] * 21] * 2, np.float32)
    size = np.array([[100, 50], [640, 480]])
    mk, mw = mirror_labels(kp, world, size, np.array([True, False]))
    assert np.allclose(mk[0, :, 0], 89.0) and np.allclose(mk[0, :, 1], 5.0)
    assert np.allclose(mw[0], [-0.01, 0.02, 0.03])
    assert np.array_equal(mk[1], kp[1]) and np.array_equal(mw[1], world[1])
    assert np.array_equal(kp[0, 0], [10.0, 5.0])  # inputs untouched


def _labels_file(path, hand, left=False):
    lab = synthetic_labels(hand, 2, seed=5, size=(160, 120))
    kp, world = lab["keypoints2d"], lab["world"]
    side = np.array(["left" if left else "right"] * 2)
    if left:  # what the teacher would have seen: the mirror image of a right hand
        kp, world = mirror_labels(kp, world, lab["size"], np.ones(2, bool))
    arrays = {"format": np.str_("mobrecon-teacher-labels/1"), "teacher": np.str_("test"),
              "root": np.str_(str(path.parent)), "files": np.array(["a.png"]), "size": np.array([[160, 120]], np.int32),
              "status": np.array([1], np.int8), "n_hands": np.array([2], np.int16), "image": np.zeros(2, np.int32),
              "keypoints2d": kp, "world": world, "hand": side}
    np.savez(path, **arrays)
    return lab


def test_left_hands_fit_in_the_mirrored_photo(hand, tmp_path):
    lab = _labels_file(tmp_path / "l.npz", hand, left=True)
    labels = read_labels(tmp_path / "l.npz")
    fits = fit_labels(hand, labels, lab["K"], FitConfig(iters=100))
    assert fits["mirrored"].all() and (fits["residual_2d"] < 0.03).all()
    assert np.allclose(fits["keypoints2d"], lab["keypoints2d"], atol=1e-3)
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = 255  # left half white: after the mirror, the right half is
    s = pseudo_mesh_sample(fits, 0, image)
    assert s["image"][:, 100:].min() == 255 and s["has_vertices"] and s["vertices"].shape == (778, 3)


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mobrecon.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_fit_writes_fits(hand, tmp_path):
    _labels_file(tmp_path / "lab.npz", hand)
    r = run("fit", str(tmp_path / "lab.npz"), "--out", str(tmp_path / "fits.npz"), "--quiet")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "fits.npz") as z:
        assert z["vertices"].shape == (2, 778, 3) and z["K"].shape == (2, 3, 3) and str(z["format"]).startswith("mobrecon")
        assert (z["residual_2d"] < 0.05).all()
    assert not list(tmp_path.glob(".*"))
    again = run("fit", str(tmp_path / "lab.npz"), "--out", str(tmp_path / "fits.npz"), "--quiet")
    assert again.returncode == 2 and "exists" in again.stderr


@pytest.mark.parametrize("content,needle", [
    (None, "no such labels file"),
    (b"not a zip", "not a readable .npz"),
    ({"x": np.zeros(3)}, "not a teacher labels file"),
    ({"format": np.str_("other/1"), "root": np.str_("/"), "files": np.array(["a"]), "size": np.zeros((1, 2)),
      "image": np.zeros(1, np.int32), "keypoints2d": np.zeros((1, 21, 2)), "world": np.zeros((1, 21, 3)),
      "hand": np.array(["right"])}, "labels format"),
    ({"format": np.str_("mobrecon-teacher-labels/1"), "root": np.str_("/"), "files": np.array(["a"]),
      "size": np.zeros((1, 2)), "image": np.zeros(1, np.int32), "keypoints2d": np.zeros((1, 20, 2)),
      "world": np.zeros((1, 21, 3)), "hand": np.array(["right"])}, "keypoints2d has shape"),
])
def test_cli_fit_bad_labels_is_one_clear_line(tmp_path, content, needle):
    path = tmp_path / "lab.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.savez(path, **content)
    r = run("fit", str(path), "--out", str(tmp_path / "fits.npz"), "--quiet")
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "fits.npz").exists()

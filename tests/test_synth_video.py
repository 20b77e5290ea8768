"""Synthetic hand videos (mobrecon.synth.video, mobrecon.synth.trajectories): smooth motion,
jittered crops, sequence / frame fields, determinism, resume, and old sets still readable."""

import json

import numpy as np
import pytest
import torch

from mobrecon.synth import storage
from mobrecon.synth import trajectories as tr
from mobrecon.synth.dataset import SynthDataset
from mobrecon.synth.generator import SynthConfig, generate
from mobrecon.synth.video import VideoConfig, frame_intrinsics, generate_video, plan_sequence

CFG = dict(sequences=2, frames=24, size=64, seed=5)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("video") / "set"
    summary = generate_video(root, VideoConfig(**CFG), workers=1, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def hand():
    from mobrecon.hand.load import load_hand

    return load_hand("openhand")


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("shard_*/*"))}


def _ratio(x: np.ndarray) -> float:
    """Mean |second difference| / mean |first difference| of a (F, ..., d) track."""
    v = np.linalg.norm(np.diff(x, axis=0), axis=-1).mean()
    return float(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean() / v)


# ------------------------------------------------------------------------------ the set
def test_summary_and_config(made):
    root, summary = made
    assert summary["count"] == 48 and summary["complete"] and summary["sequences"] == 2
    assert summary["fps"] == 30 and summary["mode"] == "video" and summary["frames"] == 24
    assert json.loads((root / "config.json").read_text())["fps"] == 30
    assert json.loads((root / "summary.json").read_text())["count"] == 48
    assert sum(summary["view_histogram"]) == 48 and sum(summary["background_histogram"]) == 48
    motion = summary["ground_truth_motion"]
    assert all(v is not None and v > 0 for v in motion.values())
    np.testing.assert_allclose(summary["K_frame"], frame_intrinsics(VideoConfig(**CFG)))


def test_sequences_and_frames_read_back_in_order(made):
    ds = SynthDataset(made[0])
    assert len(ds) == 48 and ds.fps == 30 and ds.config["frames"] == 24
    for i in range(len(ds)):
        s = ds[i]
        assert s["sequence"] == f"seq_{i // 24:05d}" and s["frame"] == i % 24 and s["index"] == i
        assert isinstance(s["sequence"], str) and isinstance(s["frame"], int)
    seqs = ds.sequences()
    assert list(seqs) == ["seq_00000", "seq_00001"]
    np.testing.assert_array_equal(seqs["seq_00001"], np.arange(24, 48))


def test_joints2d_project_from_joints3d_and_crop(made):
    ds = SynthDataset(made[0])
    K_frame = frame_intrinsics(VideoConfig(**CFG))
    for i in range(0, len(ds), 3):
        s = ds[i]
        proj = s["joints3d"] @ s["K"].T
        assert np.abs(proj[:, :2] / proj[:, 2:] - s["joints2d"]).max() < 1e-2
        # joints2d is the frame projection seen through the crop window
        pf = s["joints3d"].astype(np.float64) @ K_frame.T
        in_crop = tr.frame_to_crop(pf[:, :2] / pf[:, 2:], s["crop"], 64)
        assert np.abs(in_crop - s["joints2d"]).max() < 1e-2
        assert s["mask"].sum() > 200 and (s["depth"][s["mask"]] > 0).all()
        assert np.abs(s["vertices"] - s["root"] - (s["vertices"] - s["joints3d"][0])).max() < 1e-6
        inside = ((s["joints2d"] > -2) & (s["joints2d"] < 66)).all(1)
        assert inside.mean() > 0.8  # the crop follows the hand


def test_pose_parameters_rebuild_the_mesh(made, hand):
    from mobrecon.hand.lbs import axis_angle_to_matrix

    ds = SynthDataset(made[0])
    for i in (0, 30):
        s = ds[i]
        finger = torch.as_tensor(s["pose"]).clone()
        finger[0] = 0  # hand frame; R, t take it to the camera (x_cam = R x_hand + t)
        v = hand(finger[None], torch.as_tensor(s["shape"])[None]).vertices[0].numpy()
        assert np.abs(v @ s["R"].T + s["t"] - s["vertices"]).max() < 1e-3  # float16 storage
        R = axis_angle_to_matrix(torch.as_tensor(s["pose"][:1]))[0].numpy()
        assert np.abs(R - s["R"]).max() < 1e-5


def test_motion_is_smooth_and_appearance_constant(made):
    root = made[0]
    for s in range(2):
        with np.load(storage.shard_dir(root, s) / "annotations.npz") as z:
            a = {k: z[k] for k in z.files}
        j3 = a["joints3d"].astype(np.float64)
        frame2d = tr.crop_to_frame(a["joints2d"], a["crop"], 64)
        r3, rf, rc = _ratio(j3), _ratio(frame2d), _ratio(a["joints2d"].astype(np.float64))
        assert r3 < 0.35 and rf < 0.35, (r3, rf)
        assert rc > 2 * rf, (rc, rf)  # crop jitter: the crop-space 2D joints are much rougher
        # accelerations stay physical: < 30 m/s^2 for every joint at every frame
        assert np.linalg.norm(np.diff(j3, 2, axis=0), axis=-1).max() * 30**2 < 30.0
        for k in ("skin", "light_dir", "light_color", "ambient", "background", "shape"):
            assert (a[k] == a[k][:1]).all(), k
        assert not a["occluded"].any()
        assert (a["sequence"] == f"seq_{s:05d}").all()
        np.testing.assert_array_equal(a["frame"], np.arange(24))
    with np.load(storage.shard_dir(root, 0) / "annotations.npz") as z0, \
            np.load(storage.shard_dir(root, 1) / "annotations.npz") as z1:
        assert not np.allclose(z0["skin"][0], z1["skin"][0])


def test_same_seed_same_bytes_resume_and_refusal(made, tmp_path):
    root, _ = made
    again = tmp_path / "again"
    generate_video(again, VideoConfig(**CFG), workers=1, progress=False)
    assert _files(again) == _files(root)
    (again / "shard_00001" / "annotations.npz").unlink()
    before = (again / "shard_00000" / "rgb.bin").stat().st_mtime_ns
    summary = generate_video(again, VideoConfig(**CFG), workers=1, progress=False)
    assert summary["last_run"]["images"] == 24
    assert (again / "shard_00000" / "rgb.bin").stat().st_mtime_ns == before
    assert _files(again) == _files(root)
    with pytest.raises(ValueError, match="other settings"):
        generate_video(again, VideoConfig(**{**CFG, "fps": 25}), workers=1, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        generate(again, SynthConfig(count=4, size=64), workers=1, progress=False)


def test_image_sets_and_old_sets(tmp_path):
    root = tmp_path / "img"
    generate(root, SynthConfig(count=3, shard_size=3, size=64, mode="random"), workers=1, progress=False)
    ds = SynthDataset(root)
    s = ds[1]
    assert s["sequence"] == "" and s["frame"] == -1 and ds.fps is None and ds.sequences() == {}
    np.testing.assert_allclose(s["crop"], storage.identity_crop(64))
    with pytest.raises(ValueError, match="other settings"):
        generate_video(root, VideoConfig(**CFG), workers=1, progress=False)
    # a set written before sequence / frame / crop existed
    path = storage.shard_dir(root, 0) / "annotations.npz"
    with np.load(path) as z:
        old = {k: z[k] for k in z.files if k not in ("sequence", "frame", "crop")}
    np.savez(path, **old)
    old_item = SynthDataset(root)[1]
    assert old_item["sequence"] == "" and old_item["frame"] == -1
    np.testing.assert_allclose(old_item["crop"], storage.identity_crop(64))
    np.testing.assert_array_equal(old_item["image"], s["image"])


@pytest.mark.parametrize("kw, msg", [
    (dict(sequences=0, frames=3), "--sequences"), (dict(sequences=1, frames=0), "--frames"),
    (dict(sequences=1, frames=3, fps=0), "--fps"), (dict(sequences=1, frames=3, keys="x"), "--keys"),
    (dict(sequences=1, frames=3, size=8), "--size"),
])
def test_config_checks(kw, msg):
    with pytest.raises(ValueError, match=msg):
        VideoConfig(**kw).check()


# ---------------------------------------------------------------------- the motion itself
def test_plan_stays_in_limits_and_is_deterministic(hand):
    cfg = VideoConfig(sequences=1, frames=60, size=64, seed=2)
    plan = plan_sequence(hand, cfg, 0)
    lim = hand.joint_limits[1:].double().numpy()
    ang = plan.poses.angles
    assert (ang >= lim[..., 0] - 1e-9).all() and (ang <= lim[..., 1] + 1e-9).all()
    assert (plan.poses.penetration <= 2e-3 + 1e-9).all()
    with torch.no_grad():
        keys = hand.angles_to_pose(torch.as_tensor(plan.poses.keys, dtype=torch.float32))
        pen = hand.penetration(keys, torch.as_tensor(plan.shape, dtype=torch.float32)[None].expand(len(keys), -1))
    assert (pen <= 2e-3 + 1e-6).all()
    assert np.abs(np.diff(plan.R, axis=0)).max() < 0.1  # no camera flips
    assert (plan.view.lat >= 0).all() and (plan.view.lat <= 1.1 + 1e-9).all()
    assert (plan.view.distance >= 0.3 - 1e-9).all() and (plan.view.distance <= 0.6 + 1e-9).all()
    again = plan_sequence(hand, cfg, 0)
    np.testing.assert_array_equal(again.K, plan.K)
    np.testing.assert_array_equal(again.vertices, plan.vertices)
    other = plan_sequence(hand, cfg, 1)
    assert not np.allclose(other.joints, plan.joints)


def test_uniform_keys(hand):
    from mobrecon.synth.pose_space import uniform_poses

    table = uniform_poses(hand).angles.double().numpy()
    track = tr.pose_track(hand, np.random.default_rng(0), 40, 30.0, 0.3, source="uniform", table=table,
                          hold_prob=0.0)
    from_table = [np.abs(table - k).reshape(len(table), -1).max(1).min() < 1e-9 for k in track.keys]
    assert np.mean(from_table) >= 0.5  # table poses, unless pulled towards the previous key
    assert (track.penetration <= 2e-3).all()
    assert track.angles.shape == (40, 15, 3)
    np.testing.assert_allclose(track.angles[0], track.keys[0])


def test_min_jerk_and_bspline():
    tau = np.linspace(0, 1, 101)
    s = tr.min_jerk(tau)
    assert s[0] == 0 and s[-1] == 1 and (np.diff(s) >= 0).all()
    assert tr.min_jerk(-1.0) == 0 and tr.min_jerk(2.0) == 1
    w = tr.bspline_basis(tau)
    assert np.allclose(w.sum(1), 1) and (w >= 0).all()
    rng = np.random.default_rng(0)
    ctrl = rng.uniform(-1, 1, (8, 2))
    u = np.linspace(0, 5, 501)
    x = tr.bspline(ctrl, u)
    assert (x >= ctrl.min(0) - 1e-12).all() and (x <= ctrl.max(0) + 1e-12).all()  # convex hull
    d2 = np.diff(x, 2, axis=0) / (u[1] - u[0]) ** 2  # C2: the second derivative has no jumps
    assert np.abs(np.diff(d2, axis=0)).max() < 0.2 * np.abs(d2).max()
    with pytest.raises(ValueError):
        tr.bspline(ctrl, [6.0])
    times = np.array([0.0, 1.0, 2.5])
    keys = np.array([[0.0], [1.0], [-1.0]])
    y = tr.piecewise_min_jerk(keys, times, [0.0, 0.5, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(y[:, 0], [0.0, 0.5, 1.0, -1.0, -1.0])


def test_crop_maps():
    rng = np.random.default_rng(1)
    K_frame = np.array([[500.0, 0, 319.5], [0, 500.0, 319.5], [0, 0, 1]])
    crops = np.array([[300.0, 340.0, 200.0], [100.0, 50.0, 80.0]])
    pts = rng.uniform(0, 640, (2, 21, 2))
    back = tr.crop_to_frame(tr.frame_to_crop(pts, crops, 128), crops, 128)
    np.testing.assert_allclose(back, pts, atol=1e-9)
    X = np.concatenate([rng.uniform(-0.1, 0.1, (2, 21, 2)), rng.uniform(0.3, 0.6, (2, 21, 1))], -1)
    K = tr.crop_intrinsics(K_frame, crops, 128)
    via_k = np.einsum("fij,fnj->fni", K, X)
    pf = X @ K_frame.T
    np.testing.assert_allclose(via_k[..., :2] / via_k[..., 2:], tr.frame_to_crop(pf[..., :2] / pf[..., 2:], crops, 128),
                               atol=1e-9)
    # the crop window's edges land on the image's outer pixel borders
    edge = tr.frame_to_crop(np.array([[[200.0, 240.0]]]), crops[:1], 128)
    np.testing.assert_allclose(edge, [[[-0.5, -0.5]]])
    boxes = tr.square_boxes(np.array([[[0.0, 0.0], [4.0, 2.0]]]))
    np.testing.assert_allclose(boxes, [[2.0, 1.0, 4.0]])
    smooth, jit = tr.crop_track(rng, np.repeat(boxes, 50, 0), 30.0, fill=0.5, smooth_s=0.1, jitter=0.0)
    np.testing.assert_allclose(smooth, [[2.0, 1.0, 8.0]] * 50)
    np.testing.assert_allclose(jit, smooth)

"""The synthetic data generator end to end: annotations agree with the images, the set is
reproducible byte for byte, resumable, and readable by the Dataset and the CLI."""

import json

import numpy as np
import pytest
import torch

from mobrecon.cli import main
from mobrecon.synth.dataset import SynthDataset
from mobrecon.synth.generator import SynthConfig, generate

CFG = dict(count=24, seed=3, shard_size=12, size=128, occluder_prob=0.3)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "set"
    summary = generate(root, SynthConfig(**CFG), workers=1, progress=False)
    return root, summary


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("shard_*/*"))}


def test_summary_counts(made):
    root, summary = made
    assert summary["count"] == 24 and summary["complete"]
    assert sum(summary["view_histogram"]) == 24 and sum(summary["pose_histogram"]) == 24
    assert sum(summary["background_histogram"]) == 24
    assert json.loads((root / "summary.json").read_text())["count"] == 24


def test_joints_project_to_2d_annotations(made):
    ds = SynthDataset(made[0])
    assert len(ds) == 24
    for i in range(len(ds)):
        s = ds[i]
        proj = s["joints3d"] @ s["K"].T
        assert np.abs(proj[:, :2] / proj[:, 2:] - s["joints2d"]).max() < 0.5
        assert np.abs(s["vertices"][:, 2]).min() > 0.05  # in front of the camera


def test_visible_joints_fall_on_the_silhouette(made):
    ds = SynthDataset(made[0])
    checked = 0
    for i in range(len(ds)):
        s = ds[i]
        if s["occluded"]:
            continue
        mask = s["mask"]
        h, w = mask.shape
        for u, v in s["joints2d"]:
            c, r = int(round(u)), int(round(v))
            if 1 <= c < w - 1 and 1 <= r < h - 1:
                # joints lie inside the hand (tips on its surface): on the silhouette up to 1 px
                assert mask[r - 1:r + 2, c - 1:c + 2].any(), (i, u, v)
                checked += 1
    assert checked > 100


def test_depth_on_the_silhouette(made):
    ds = SynthDataset(made[0])
    for i in range(0, len(ds), 3):
        s = ds[i]
        z = s["vertices"][:, 2]
        d = s["depth"][s["mask"]]
        assert s["mask"].sum() > 200
        assert (d > 0).all()
        assert d.min() >= z.min() - 1e-3 and d.max() <= z.max() + 1e-3
        assert (s["depth"][~s["mask"]] == 0).all()
        assert not (s["visible"] & ~s["mask"]).any()


def test_pose_parameters_rebuild_the_mesh(made):
    from mobrecon.hand.load import load_hand

    hand = load_hand("openhand")
    s = SynthDataset(made[0])[5]
    out = hand(torch.as_tensor(s["pose"])[None], torch.as_tensor(s["shape"])[None],
               torch.as_tensor(s["t"])[None])
    assert np.abs(out.vertices[0].numpy() - s["vertices"]).max() < 1e-3  # float16 storage


def test_same_seed_same_bytes_and_resume(made, tmp_path):
    root, _ = made
    again = tmp_path / "again"
    generate(again, SynthConfig(**CFG), workers=1, progress=False)
    assert _files(again) == _files(root)
    # an interrupted run: one shard lost its completion marker -> only it is redone, identically
    (again / "shard_00001" / "annotations.npz").unlink()
    before = (again / "shard_00000" / "rgb.bin").stat().st_mtime_ns
    summary = generate(again, SynthConfig(**CFG), workers=1, progress=False)
    assert summary["last_run"]["images"] == 12
    assert (again / "shard_00000" / "rgb.bin").stat().st_mtime_ns == before
    assert _files(again) == _files(root)
    # other settings in the same directory are refused
    with pytest.raises(ValueError, match="other settings"):
        generate(again, SynthConfig(**{**CFG, "seed": 4}), workers=1, progress=False)


def test_other_seed_differs(made, tmp_path):
    other = tmp_path / "other"
    generate(other, SynthConfig(**{**CFG, "seed": 4, "count": 12}), workers=1, progress=False)
    a = (made[0] / "shard_00000" / "rgb.bin").read_bytes()
    assert (other / "shard_00000" / "rgb.bin").read_bytes() != a


def test_random_mode_and_workers(tmp_path):
    root = tmp_path / "rand"
    summary = generate(root, SynthConfig(count=8, seed=1, shard_size=4, mode="random", size=64),
                       workers=2, progress=False)
    assert summary["count"] == 8 and summary["pose_histogram"] == []
    s = SynthDataset(root)[7]
    assert s["image"].shape == (64, 64, 3) and s["pose_id"] == -1


def test_cli_synth_and_preview(made, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--count", "6", "--shard-size", "3", "--quiet",
                 "--size", "96", "--seed", "2"]) == 0
    assert "6 of 6 images" in capsys.readouterr().out
    png = tmp_path / "grid.png"
    assert main(["synth", "--preview", str(made[0]), "--png", str(png), "--n", "4"]) == 0
    import cv2

    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 100 and img.std() > 10


@pytest.mark.parametrize("argv, msg", [
    (["synth", "--out", "X", "--count", "0"], "--count"),
    (["synth", "--out", "X", "--count", "5", "--size", "8"], "--size"),
    (["synth", "--preview", "/nonexistent/dir", "--png", "g.png"], "no such directory"),
    (["synth", "--count", "5"], "--out"),
    (["synth", "--out", "X", "--count", "5", "--forearm", "2"], "--forearm"),
    (["synth", "--video", "--out", "X", "--sequences", "1", "--frames", "2", "--camera-fx", "-1"], "--camera-fx"),
])
def test_cli_synth_bad_input(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err


def test_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data directory"):
        SynthDataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no complete shards"):
        SynthDataset(tmp_path / "empty")

"""Crops, losses, the two-stage trainer (resume, signals, DDP) and ``mobrecon train``/``eval``."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mobrecon.data.crop import CropBox, apply_affine, crop_image, crop_intrinsics, crop_matrix, hand_box
from mobrecon.data.sample import make_sample, project
from mobrecon.data.transform import AugmentConfig, EvalTransform, TrainTransform
from mobrecon.train import losses as L

REPO = Path(__file__).resolve().parents[1]


def _sample(rng, w=320, h=240):
    K = np.array([[300.0, 0, 150], [0, 300.0, 110], [0, 0, 1]], np.float32)
    j3 = (rng.normal(size=(21, 3)) * 0.03 + [0.02, 0.01, 0.5]).astype(np.float32)
    v = (rng.normal(size=(778, 3)) * 0.03 + [0.02, 0.01, 0.5]).astype(np.float32)
    return make_sample(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), K, joints3d=j3, vertices=v)


# --- crops --------------------------------------------------------------------------------------

def test_hand_box_margin_and_centre():
    j = np.array([[10.0, 20.0], [50.0, 40.0]] + [[30.0, 30.0]] * 19)
    b = hand_box(j, margin=1.3)
    assert (b.cx, b.cy) == (30.0, 30.0) and b.side == pytest.approx(52.0)
    with pytest.raises(ValueError, match="no valid 2D joints"):
        hand_box(j, np.zeros(21))


def test_crop_maps_box_onto_output_and_pixels_follow():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40, 120] = 255
    box = CropBox(120.0, 40.0, 32.0)
    M = crop_matrix(box, 64)
    assert np.allclose(apply_affine(M, [[120.0, 40.0]]), [[31.5, 31.5]])
    assert np.allclose(apply_affine(M, [[104.0, 24.0]]), [[-0.5, -0.5]])  # window corner -> crop corner
    crop = crop_image(img, CropBox(120.0, 40.0, 64.0), 64)  # scale 1: the pixel lands between centres
    ys, xs = np.nonzero(crop[..., 0])
    assert abs(xs.mean() - 31.5) <= 0.5 and abs(ys.mean() - 31.5) <= 0.5


@pytest.mark.parametrize("rot", [0.0, 0.7, -1.4])
def test_rotated_crop_is_an_exact_camera(rot):
    K = np.array([[300.0, 0, 150], [0, 300.0, 110], [0, 0, 1]])
    box = CropBox(140.0, 100.0, 90.0, rot)
    M3 = np.vstack([crop_matrix(box, 128), [0, 0, 1]])
    from mobrecon.data.crop import crop_rotation

    Kc = crop_intrinsics(K, box, 128)
    assert np.allclose(M3 @ K, Kc @ crop_rotation(box))
    assert abs(Kc[0, 1]) < 1e-9 and abs(Kc[1, 0]) < 1e-9


def test_train_views_project_exactly_and_satisfy_consistency():
    rng = np.random.default_rng(0)
    s = _sample(rng)
    out = TrainTransform(AugmentConfig())(s, rng)
    assert out["image"].shape == (2, 3, 128, 128) and out["vertices"].shape == (2, 778, 3)
    for v in range(2):
        p = project(out["joints3d"][v] + out["root"][v], out["K"][v])
        assert np.abs(p - out["joints2d"][v]).max() < 1e-3
        assert np.allclose(out["joints3d"][v][0], 0)
    # the ground truth of the two views is related exactly by T_1->2 and R_1->2 (Eq. 11)
    t = lambda k: torch.from_numpy(out[k][None])  # noqa: E731
    con2d, con3d = L.consistency_losses(t("joints2d"), t("vertices"), t("M"), t("R"), 128)
    assert con2d.item() < 1e-6 and con3d.item() < 1e-6
    assert out["box"][0, 3] != out["box"][1, 3]  # the two views differ


def test_eval_transform_is_deterministic_and_unrotated():
    s = _sample(np.random.default_rng(1))
    a, b = EvalTransform()(s), EvalTransform()(s)
    assert np.array_equal(a["image"], b["image"]) and a["box"][3] == 0
    assert np.allclose(a["R"], np.eye(3))


# --- losses -------------------------------------------------------------------------------------

def test_losses_vanish_at_the_ground_truth_and_grow_away_from_it():
    torch.manual_seed(0)
    from mobrecon.hand.load import load_hand

    hand = load_hand("openhand")
    v = hand(torch.zeros(2, 16, 3)).vertices
    faces = hand.faces
    has = torch.tensor([True, True])
    assert L.mesh_loss(v, v, has).item() == 0
    assert L.edge_loss(v, v, faces, has).item() < 1e-7
    assert L.normal_loss(v, v, faces, has).item() < 1e-4  # edges lie in their face's plane
    noisy = v + 0.003 * torch.randn_like(v)
    assert L.edge_loss(noisy, v, faces, has).item() > 1e-4
    assert L.normal_loss(noisy, v, faces, has).item() > 0.05
    assert L.mesh_loss(v + 0.01, v, has).item() == pytest.approx(0.01, rel=1e-4)
    assert L.mesh_loss(v + 0.01, v, torch.tensor([False, False])).item() == 0  # no annotation, no loss


def test_pose2d_loss_skips_invalid_joints():
    uv = torch.zeros(1, 21, 2)
    gt = torch.zeros(1, 21, 2)
    gt[0, 5] = 1.0
    valid = torch.ones(1, 21)
    valid[0, 5] = 0
    assert L.pose2d_loss(uv, gt, valid).item() == 0
    valid[0, 5] = 1
    assert L.pose2d_loss(uv, gt, valid).item() == pytest.approx(2 / 42)


def test_heatmap_loss_prefers_the_true_position():
    uv = torch.tensor([[[8.5 / 32, 24.5 / 32]] * 21])
    target = L.gaussian_heatmaps(uv, 32)
    assert target[0, 0].argmax().item() == (24 * 32 + 8)  # row 24 (y), column 8 (x)
    good = 10 * target
    bad = 10 * L.gaussian_heatmaps(torch.tensor([[[0.7, 0.2]] * 21]), 32)
    valid = torch.ones(1, 21)
    assert L.heatmap_loss(good, uv, valid) < L.heatmap_loss(bad, uv, valid)


# --- the trainer --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from mobrecon.synth.generator import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(count=12, seed=3, size=96, shard_size=12), workers=1, progress=False)
    return root


def _cfg(synth_set, **kw):
    from mobrecon.train.config import DataConfig, TrainConfig

    base = TrainConfig(batch_size=2, epochs=2, epoch_steps=2, log_every=1, checkpoint_every=1, threads=1,
                       data=DataConfig(train=f"synth:{synth_set}", workers=0))
    return replace(base, **kw)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_resume_continues_exactly(synth_set, tmp_path):
    from mobrecon.train.trainer import train

    full = train(_cfg(synth_set), tmp_path / "full", progress=False)
    assert full["status"] == "done" and full["step"] == 4 and full["epoch"] == 2
    part = train(_cfg(synth_set, max_steps=3), tmp_path / "part", progress=False)
    assert part["status"] == "max_steps" and part["step"] == 3
    with pytest.raises(ValueError, match="already holds a run"):
        train(_cfg(synth_set), tmp_path / "part", progress=False)
    again = train(_cfg(synth_set), tmp_path / "part", resume=True, progress=False)
    assert again["step"] == 4
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(x) for x in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "total" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert {"mesh", "pose2d", "normal", "edge", "con2d", "con3d", "samples_per_s"} <= set(steps[0])
    assert all(math.isfinite(r["total"]) for r in steps)
    assert (tmp_path / "full" / "model.pt").is_file()


def test_stage1_then_stage2_and_eval(synth_set, tmp_path):
    from mobrecon.models.weights import load_model
    from mobrecon.train.trainer import train

    s1 = train(_cfg(synth_set, stage="pose2d", epochs=1, max_steps=2), tmp_path / "s1", progress=False)
    ck = torch.load(s1["checkpoint"], weights_only=True)
    assert ck["stage"] == "pose2d" and any(k.startswith("aux.") for k in ck["model"])
    s2 = train(_cfg(synth_set, init=s1["checkpoint"], epochs=1, max_steps=1), tmp_path / "s2", progress=False)
    log = (tmp_path / "s2" / "log.jsonl").read_text()
    assert "stage-1 checkpoint" in log
    model = load_model(s2["model"])
    # the stage-2 start carried the stage-1 encoder: one step later it is close to it, not random
    # (Adam moves each weight by about lr = 1e-3 per step; BN running statistics move more)
    enc = {k: v for k, v in ck["model"].items() if k.startswith("encoder.") and "running" not in k
           and v.is_floating_point()}
    own = model.state_dict()
    assert max((own[k].float() - enc[k]).abs().max().item() for k in enc) < 5e-3

    out = subprocess.run([sys.executable, "-m", "mobrecon.cli", "eval", "--checkpoint", s2["model"], "--data",
                          str(synth_set), "--count", "4", "--json", "--freihand-json", str(tmp_path / "pred.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    for k in ("mpjpe_mm", "pa_mpjpe_mm", "mpvpe_mm", "pa_mpvpe_mm", "auc3d_pa", "auc2d", "f5", "f15"):
        assert math.isfinite(r[k])
    assert r["pa_mpjpe_mm"] <= r["mpjpe_mm"] + 1e-6 and r["samples"] == 4
    xyz, verts = json.loads((tmp_path / "pred.json").read_text())
    assert np.asarray(xyz).shape == (4, 21, 3) and np.asarray(verts).shape == (4, 778, 3)
    assert (np.asarray(xyz)[..., 2] > 0).all()  # root recovery put the hands in front of the camera


def test_a_model_file_starts_a_cosine_continuation(synth_set, tmp_path):
    """init = a shipped-format model file: training continues those weights, and the cosine
    schedule warms up, peaks at lr and ends at min_lr."""
    from mobrecon.models.weights import load_model
    from mobrecon.train.config import OptimConfig
    from mobrecon.train.schedule import cosine_factor
    from mobrecon.train.trainer import train

    first = train(_cfg(synth_set, epochs=1, max_steps=1), tmp_path / "a", progress=False)
    optim = OptimConfig(lr=1e-3, schedule="cosine", min_lr=1e-5, warmup_steps=1)
    cont = train(_cfg(synth_set, init=first["model"], optim=optim), tmp_path / "b", progress=False)
    log = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert any("model file" in r.get("event", "") for r in log)
    lrs = [r["lr"] for r in log if "total" in r]  # the rate each step used
    assert lrs == pytest.approx([1e-3 * cosine_factor(i, 4, 1, 0.01) for i in range(4)])
    assert lrs[0] == lrs[1] == pytest.approx(1e-3) and lrs[1] > lrs[2] > lrs[3]
    start = load_model(first["model"]).state_dict()
    end = load_model(cont["model"]).state_dict()
    # it moved from the file's weights, but not far: 4 Adam steps of lr <= 1e-3
    w = [k for k in start if start[k].is_floating_point() and "running" not in k and "num_batches" not in k]
    moved = max((end[k].float() - start[k].float()).abs().max().item() for k in w)
    assert 0 < moved < 1e-2
    with pytest.raises(ValueError, match="can start a 'mesh' run only"):
        train(_cfg(synth_set, stage="pose2d", init=first["model"]), tmp_path / "c", progress=False)


def test_validation_every_n_epochs_and_after_the_last(synth_set, tmp_path):
    from mobrecon.train.config import DataConfig
    from mobrecon.train.trainer import train

    data = DataConfig(train=f"synth:{synth_set}", val=f"synth:{synth_set}", val_count=2, val_every=2, workers=0)
    train(_cfg(synth_set, epochs=3, epoch_steps=1, data=data), tmp_path / "v", progress=False)
    log = [json.loads(x) for x in (tmp_path / "v" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if "val" in r] == [2, 3]
    with pytest.raises(ValueError, match="val_every must be at least 1"):
        train(_cfg(synth_set, data=replace(data, val_every=0)), tmp_path / "w", progress=False)


def test_channels_last_and_compiled_forward_train_the_same_network(synth_set, tmp_path):
    """channels_last and a torch.compile backend change how the forward pass runs, not what it
    computes. The 'eager' backend traces the model with dynamo but runs it as is: the same
    weights after two steps. channels_last sums in another order, which a random tiny network
    amplifies: the first step's losses agree to 1 %, the weights to a few Adam steps' size (Adam
    turns tiny gradient differences into lr-sized moves)."""
    from mobrecon.train.trainer import train

    runs = {name: train(_cfg(synth_set, epochs=1, **kw), tmp_path / name, progress=False)
            for name, kw in (("plain", {}), ("compiled", {"compile": "eager"}), ("nhwc", {"channels_last": True}))}
    w = {name: _weights(r["checkpoint"]) for name, r in runs.items()}
    first = {name: next(json.loads(x) for x in (tmp_path / name / "log.jsonl").read_text().splitlines()
                        if '"total"' in x) for name in runs}
    a = w["plain"]
    params = [k for k in a if a[k].is_floating_point() and "running" not in k]
    for name, tol, rel in (("compiled", 1e-6, 1e-6), ("nhwc", 1e-2, 1e-2)):
        assert w[name].keys() == a.keys()
        assert first[name]["total"] == pytest.approx(first["plain"]["total"], rel=rel), name
        assert max((a[k] - w[name][k]).abs().max().item() for k in params) < tol
    with pytest.raises(ValueError, match="unknown torch.compile backend 'nope'"):
        train(_cfg(synth_set, compile="nope"), tmp_path / "bad", progress=False)


def test_cosine_factor_shape():
    from mobrecon.train.schedule import cosine_factor

    assert cosine_factor(0, 100, 10, 0.01) == pytest.approx(0.1)
    assert cosine_factor(10, 100, 10, 0.01) == pytest.approx(1.0)
    assert cosine_factor(55, 100, 10, 0.01) == pytest.approx(0.505)
    assert cosine_factor(100, 100, 10, 0.01) == pytest.approx(0.01)
    assert cosine_factor(500, 100, 10, 0.01) == pytest.approx(0.01)


def _run_cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "mobrecon.cli", *args], capture_output=True, text=True, **kw)


def test_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: mobrecon_ghoststack\nbatch_sise: 4\n")
    r = _run_cli(["train", "--config", str(bad), "--out", str(tmp_path / "r")])
    assert r.returncode == 2 and "unknown key 'batch_sise'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad.write_text("epochs: many\n")
    r = _run_cli(["train", "--config", str(bad)])
    assert r.returncode == 2 and "epochs" in r.stderr
    r = _run_cli(["train", "--config", str(tmp_path / "none.yaml")])
    assert r.returncode == 2 and "no such config file" in r.stderr
    r = _run_cli(["eval", "--checkpoint", str(bad), "--data", str(tmp_path)])
    assert r.returncode == 2 and "not a readable model file" in r.stderr


def _write_cfg(path, synth_set, **extra):
    import yaml

    d = {"model": "mobrecon_ghoststack", "epochs": 1000, "batch_size": 2, "log_every": 1, "checkpoint_every": 1000,
         "threads": 1, "data": {"train": f"synth:{synth_set}", "workers": 0}, **extra}
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_a_signal_writes_a_checkpoint_and_resume_goes_on(synth_set, tmp_path, how):
    # SIGTERM to the process (a scheduler), or SIGINT to its whole process group with a
    # DataLoader worker in it (Ctrl-C in a terminal): either way a checkpoint, exit code 130
    cfg = _write_cfg(tmp_path / "c.yaml", synth_set, data={"train": f"synth:{synth_set}",
                                                             "workers": 1 if how == "ctrl-c" else 0})
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "mobrecon.cli", "train", "--config", str(cfg), "--out", str(run),
                          "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    log = run / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and '"step": 2' in log.read_text()):
        time.sleep(0.2)
    if how == "sigterm":
        p.send_signal(signal.SIGTERM)
    else:
        os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["step"] >= 2 and "interrupted" in log.read_text()
    assert not (run / "model.pt").exists()  # an interrupted run is not a finished model
    (run / ".last.pt.k9k9.tmp").write_bytes(b"\0" * 64)  # as a kill -9 during a checkpoint write leaves
    r = _run_cli(["train", "--config", str(cfg), "--out", str(run), "--resume", "--max-steps", str(ck["step"] + 1),
                  "--quiet"])
    assert r.returncode == 0, r.stderr
    assert torch.load(run / "last.pt", weights_only=True)["step"] == ck["step"] + 1
    assert (run / "model.pt").is_file() and not list(run.glob(".last.pt.*"))
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines() if "total" in x]
    assert steps == sorted(set(steps))  # no step logged twice


def test_torchrun_two_processes_gloo(synth_set, tmp_path):
    cfg = _write_cfg(tmp_path / "c.yaml", synth_set, epochs=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "mobrecon.cli", "train", "--config", str(cfg), "--out", str(tmp_path / "ddp"),
                        "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("done at step 3") == 1  # 12 samples / 2 processes / batch 2; one process reports
    ck = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert ck["step"] == 3 and ck["epoch"] == 1


def test_precise_batchnorm_statistics_are_the_plain_average():
    from mobrecon.train.precise_bn import recompute_batchnorm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    batches = [torch.randn(5, 3, 4, 4) * (i + 1) for i in range(3)]
    assert recompute_batchnorm(net, batches) == 3 and not net.training
    feats = [net[0](b).detach() for b in batches]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    assert torch.allclose(net[1].running_mean, mean, atol=1e-5) and torch.allclose(net[1].running_var, var, rtol=1e-4)
    assert net[1].momentum == 0.1  # restored
    before = net[1].running_mean.clone()
    assert recompute_batchnorm(net, []) == 0 and torch.equal(net[1].running_mean, before)  # nothing seen: kept


def test_precise_bn_setting_rewrites_the_model_files_statistics_only(synth_set, tmp_path):
    from mobrecon.models.weights import load_model
    from mobrecon.train.config import DataConfig
    from mobrecon.train.trainer import train

    data = DataConfig(train=f"synth:{synth_set}", val=f"synth:{synth_set}", val_count=2, workers=0)
    r = train(_cfg(synth_set, epochs=1, precise_bn=3, data=data), tmp_path / "p", progress=False)
    log = [json.loads(x) for x in (tmp_path / "p" / "log.jsonl").read_text().splitlines()]
    done = [x for x in log if "precise_bn" in x.get("event", "")]
    assert len(done) == 1 and "averaged over 2 batches" in done[0]["event"] and "val" in done[0]  # 2 steps/epoch
    trained = _weights(r["checkpoint"])
    shipped = load_model(r["model"]).state_dict()
    stats = [k for k in trained if "running_" in k]
    assert stats and any(not torch.allclose(trained[k].float(), shipped[k].float(), rtol=1e-2, atol=1e-3) for k in stats)
    w = [k for k in trained if trained[k].is_floating_point() and "running" not in k]
    assert all(torch.allclose(trained[k].half().float(), shipped[k].float()) for k in w)
    with pytest.raises(ValueError, match="precise_bn must be"):
        train(_cfg(synth_set, precise_bn=-1), tmp_path / "q", progress=False)

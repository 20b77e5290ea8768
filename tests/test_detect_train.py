"""Training the hand detector: starting from weights (init), several composite sets, the device
setting, the time-budgeted schedule, and the device script's syntax. Tiny networks and sets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from mobrecon.cli import main
from mobrecon.detect.centernet import CenterNet, CenterNetConfig
from mobrecon.detect.composites import CompositeConfig, generate_composites
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.train import DetectorTrainConfig, _initial_model, train_detector
from mobrecon.detect.weights import load_detector_model, save_detector

ROOT = Path(__file__).resolve().parents[1]
TINY = {"widths": [8, 8, 8, 8, 8], "depths": [0, 0, 0, 0, 0], "neck": 8, "head": 8}
PLAIN = dict(p_zero=0.0, p_two=0.0, forearm_prob=0.0, distractor_prob=0.0, occluder_prob=0.0, photometric=False)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("composites")
    generate_composites(root / "a", CompositeConfig(count=6, seed=4, shard_size=3, **PLAIN), progress=False)
    generate_composites(root / "b", CompositeConfig(count=4, seed=5, max_box=250.0, **PLAIN), progress=False)
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(123)
    model = CenterNet(CenterNetConfig.from_dict(TINY))
    return save_detector(tmp_path_factory.mktemp("w") / "start.pt", model, meta={"note": "test"})


def _cfg(data, **kw) -> DetectorTrainConfig:
    base = dict(data=data, steps=2, batch_size=2, lr=1e-3, warmup=1, workers=0, threads=1,
                checkpoint_every=100, device="cpu")
    base.update(kw)
    return DetectorTrainConfig(**base)


def test_several_composite_sets_are_concatenated(sets):
    a, b = sets
    one, two = CompositeDataset(a), CompositeDataset(b)
    for data in ([a, b], f"{a},{b}", [str(a), str(b)]):
        both = CompositeDataset(data)
        assert len(both) == len(one) + len(two) == 10
        assert np.array_equal(both.raw(len(one) + 1)["image"], two.raw(1)["image"])
        assert np.array_equal(both.raw(2)["boxes"], one.raw(2)["boxes"])
    with pytest.raises(FileNotFoundError, match="nope"):
        CompositeDataset(f"{a},{a.parent / 'nope'}")


def test_init_starts_a_new_run_from_weights(sets, weights, tmp_path):
    start, _ = load_detector_model(weights)
    cfg = _cfg(list(map(str, sets)), init=str(weights))
    model0 = _initial_model(cfg)  # what step 0 trains: exactly the file's weights and architecture
    assert model0.cfg == start.cfg
    for k, v in start.state_dict().items():
        assert torch.equal(model0.state_dict()[k], v), k
    res = train_detector(cfg, tmp_path / "run", progress=False)
    assert res["status"] == "done" and res["step"] == 2 and res["device"] == "cpu"
    ck = torch.load(res["checkpoint"], map_location="cpu", weights_only=True)
    assert ck["scheduler"]["last_epoch"] == 2            # a fresh schedule ...
    assert all(int(s["step"]) == 2 for s in ck["optimizer"]["state"].values())   # ... and optimizer
    assert all(v.device.type == "cpu" for v in ck["model"].values())
    trained, meta = load_detector_model(res["model"])
    assert trained.cfg == start.cfg and meta["init"] == str(weights) and meta["images"] == 10
    moved = [k for k, v in start.state_dict().items() if v.is_floating_point() and
             not torch.allclose(trained.state_dict()[k], v, atol=1e-3)]
    assert moved                                          # training proceeded from there
    # a run's detector.pt (or last.pt) is itself a valid init
    res2 = train_detector(_cfg(str(sets[0]), init=res["checkpoint"], steps=1), tmp_path / "run2", progress=False)
    assert res2["status"] == "done"
    # resuming ignores init: the checkpoint holds the weights
    again = train_detector(_cfg(str(sets[0]), init=str(weights), steps=3), tmp_path / "run", resume=True, progress=False)
    assert again["step"] == 3


def test_init_with_other_model_settings_is_refused(sets, weights, tmp_path):
    with pytest.raises(ValueError, match="architecture"):
        train_detector(_cfg(str(sets[0]), init=str(weights), model={"neck": 16}), tmp_path / "r", progress=False)


def test_bad_init_is_a_one_line_error(sets, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    torch.save({"format": "something-else", "x": torch.zeros(2)}, junk)
    text = tmp_path / "notes.txt"
    text.write_text("not weights\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {sets[0]}\nsteps: 1\nbatch_size: 2\nworkers: 0\ndevice: cpu\n")
    for bad, what in ((tmp_path / "missing.pt", "no such detector file"), (junk, "not a mobrecon hand detector"),
                      (text, "not a readable detector file")):
        rc = main(["detect-train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--init", str(bad),
                   "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and str(bad) in err and what in err, err
        assert not (tmp_path / "run" / "last.pt").exists()
    rc = main(["detect-train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--init", str(junk),
               "--resume"])
    assert rc == 2 and "--init" in capsys.readouterr().err


def test_cpu_device_and_time_budget(sets, tmp_path, capsys):
    with pytest.raises(ValueError, match="device"):
        _cfg(str(sets[0]), device="tpu").check()
    # a schedule of 1 ms of training time: done (detector written) after the first step
    res = train_detector(_cfg(str(sets[0]), model=TINY, steps=1000, schedule_minutes=1e-5), tmp_path / "t",
                         progress=False)
    assert res["status"] == "done" and res["step"] == 1 and "model" in res
    # the command line: --device cpu, several --data sets
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: nowhere\nsteps: 2\nbatch_size: 2\nworkers: 0\nmodel: {TINY}\n")
    rc = main(["detect-train", "--config", str(cfg), "--data", f"{sets[0]},{sets[1]}", "--device", "cpu",
               "--out", str(tmp_path / "cli"), "--quiet"])
    assert rc == 0 and "done at step 2 on cpu" in capsys.readouterr().out
    rc = main(["detect-eval", str(sets[1]), "--detector", str(tmp_path / "cli" / "detector.pt"), "--device",
               "cpu", "--json"])
    assert rc == 0 and '"device": "cpu"' in capsys.readouterr().out


def test_device_script_parses():
    script = ROOT / "tools" / "device" / "detector.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    DetectorTrainConfig.from_yaml(ROOT / "configs" / "hand_detector_gpu.yaml").check()

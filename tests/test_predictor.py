"""Root recovery, the predictor end to end, its outputs and ``mobrecon reconstruct``."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mobrecon.data.crop import check_box
from mobrecon.data.root import default_intrinsics, recover_root
from mobrecon.image import read_image
from mobrecon.infer.predictor import Predictor, check_K
from mobrecon.models.weights import shipped_weights


def _project(p, K):
    q = p @ K.T
    return q[:, :2] / q[:, 2:]


@pytest.mark.parametrize("skew", [0.0, 2.0])
def test_root_recovery_is_exact_on_noise_free_projections(skew):
    rng = np.random.default_rng(0)
    rel = rng.normal(size=(21, 3)) * 0.04
    rel[0] = 0
    K = np.array([[520.0, skew, 318.0], [0, 505.0, 242.0], [0, 0, 1]])
    for t in ([0.05, -0.03, 0.45], [-0.2, 0.1, 1.3]):
        t = np.array(t)
        uv = _project(rel + t, K)
        assert np.abs(recover_root(rel, uv, K, refine=0) - t).max() < 1e-9  # the linear solve alone
        assert np.abs(recover_root(rel, uv, K) - t).max() < 1e-9


def test_root_recovery_with_noise_and_degenerate_hands():
    rng = np.random.default_rng(1)
    rel = rng.normal(size=(21, 3)) * 0.04
    rel[0] = 0
    K = default_intrinsics(640, 480)
    t = np.array([0.02, 0.01, 0.5])
    uv = _project(rel + t, K) + rng.normal(size=(21, 2))
    assert np.abs(recover_root(rel, uv, K) - t).max() < 0.01
    flat = recover_root(rel * 1e-6, uv, K)  # an untrained network's collapsed hand
    assert np.isfinite(flat).all() and flat[2] > 0
    with pytest.raises(ValueError, match="two valid"):
        recover_root(rel, uv, K, valid=np.eye(21)[0])


def test_input_checks_are_one_line_errors(tmp_path):
    from mobrecon.infer import predictor

    assert predictor.read_image is read_image  # where docs/API.md names it
    with pytest.raises(FileNotFoundError, match="no such image"):
        read_image(tmp_path / "none.jpg")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="uint8"):
        read_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="zero or negative size"):
        check_box((10, 10, 10, 20), 100, 100)
    with pytest.raises(ValueError, match="outside"):
        check_box((200, 10, 220, 20), 100, 100)
    with pytest.raises(ValueError, match="fx,fy,cx,cy"):
        check_K([1, 2, 3], 100, 100)
    assert check_K([500, 500, 50, 40], 100, 100)[0, 2] == 50


@pytest.fixture(scope="module")
def predictor():
    from mobrecon.models import build

    torch.manual_seed(0)
    return Predictor(build("mobrecon_ghoststack").eval(), name="random")


def _generated_image():
    from mobrecon.hand.load import load_hand
    from mobrecon.viz.render import MeshRenderer

    hand = load_hand("openhand")
    v = hand(torch.zeros(1, 16, 3)).vertices[0].numpy() + [0, 0, 0.45]
    K = default_intrinsics(320, 240)
    with MeshRenderer() as r:
        img = r.render(v, hand.faces.numpy(), K, 320, 240, background=(40, 90, 140)).rgb
    return img, K


def test_predictor_end_to_end_shapes_and_geometry(predictor):
    img, K = _generated_image()
    from PIL import Image

    for image in (img, Image.fromarray(img)):
        r = predictor.predict(image, box=(100, 60, 220, 180), K=K)
        assert r.vertices.shape == (778, 3) and r.joints3d.shape == (21, 3) and r.joints2d.shape == (21, 2)
        assert r.faces.shape[1] == 3 and np.isfinite(r.vertices).all() and np.isfinite(r.joints2d).all()
        assert np.allclose(r.joints3d[0], r.root, atol=1e-6)
        # the camera-space mesh is placed so that its joints reproject near the predicted 2D joints
        assert np.median(np.linalg.norm(_project(r.joints3d.astype(np.float64), K) - r.joints2d, axis=1)) < 40
    whole = predictor.predict(img)
    assert not whole.K_given and whole.crop.side == 320
    batch = predictor.predict_batch([img, img], boxes=[None, (100, 60, 220, 180)], batch_size=1)
    assert np.allclose(batch[0].joints2d, whole.joints2d, atol=1e-3)


def test_predict_video_tracks_and_reports_acceleration(predictor):
    img, K = _generated_image()
    frames = [np.roll(img, 3 * i, axis=1) for i in range(5)]
    results, report = predictor.predict_video(frames, box=(100, 60, 220, 180), K=K, fps=25)
    assert len(results) == 5 and report["frames"] == 5
    assert np.isfinite(report["accel2d_px_s2"]) and np.isfinite(report["accel3d_mm_s2"])
    assert results[1].crop != results[0].crop  # frame 2 on is cropped around frame 1's joints


def test_reconstruct_cli_writes_outputs_and_reports_bad_inputs(predictor, tmp_path):
    from mobrecon.models.weights import save_model

    img, _ = _generated_image()
    cv2.imwrite(str(tmp_path / "hand.png"), img[:, :, ::-1])
    (tmp_path / "broken.jpg").write_text("x")
    model = save_model(tmp_path / "m.pt", predictor.model, "mobrecon_ghoststack")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "mobrecon.cli", "reconstruct", str(tmp_path / "hand.png"),
                        str(tmp_path / "broken.jpg"), str(tmp_path / "missing.png"), "--model", str(model),
                        "--out", str(out), "--K", "300,300,159.5,119.5", "--quiet", "--no-detect"], capture_output=True, text=True)
    assert r.returncode == 2
    errs = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errs) == 2 and "broken.jpg: not an image" in errs[0] and "missing.png: no such image" in errs[1]
    for suffix in (".obj", ".json", "_overlay.png", "_side.png"):
        assert (out / f"hand{suffix}").is_file()
    meta = json.loads((out / "hand.json").read_text())
    assert np.asarray(meta["joints2d"]).shape == (21, 2) and meta["K_given"] and meta["mobrecon_version"]
    overlay = cv2.imread(str(out / "hand_overlay.png"))
    assert overlay.shape == img.shape
    for bad, msg in ((["--box", "1,2,3"], "expected 4"), (["--box", "50,50,10,80"], "zero or negative"),
                     (["--K", "a,b,c,d"], "expected 4")):
        r = subprocess.run([sys.executable, "-m", "mobrecon.cli", "reconstruct", str(tmp_path / "hand.png"),
                            "--model", str(model), "--out", str(out), "--quiet", *bad], capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_load_names_refuse_missing_weights_clearly(tmp_path):
    import mobrecon

    if shipped_weights("mobrecon_resnet18stack").exists():
        pytest.skip("weights shipped")
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        mobrecon.load("mobrecon_resnet18stack")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        mobrecon.load(tmp_path / "none.pt")


def test_package_load_takes_every_option_of_the_predictor_load():
    """``mobrecon.load`` is the documented entry point: it accepts (with the same defaults) every
    argument of :func:`mobrecon.infer.predictor.load`, e.g. ``refine=False``."""
    import inspect

    import mobrecon
    from mobrecon.infer.predictor import load

    ours, theirs = inspect.signature(mobrecon.load).parameters, inspect.signature(load).parameters
    assert list(ours) == list(theirs)
    assert {k: v.default for k, v in ours.items()} == {k: v.default for k, v in theirs.items()}

"""Real photos as training samples (data/pseudo_labelled.py) and the 3D loss unit (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import cv2

from mobrecon.data.mixed import open_dataset, open_mixture
from mobrecon.data.pseudo_mesh import FITS_FORMAT
from mobrecon.data.pseudo_labelled import PseudoLabelledSet
from mobrecon.data.sample import project
from mobrecon.data.transform import TrainTransform
from mobrecon.hand.load import load_hand
from mobrecon.train.losses import LossWeights, mesh_recon_losses


def _fits(tmp_path, n_images: int = 3):
    """A tiny close-ups layout (100 x 100 photos, left half dark) and a fits file of one hand per
    photo: hand 0 kept, hand 1 a left hand (mirrored), hand 2 dropped by the fit, plus a tiny
    spurious hand on photo 0 (a box of 10 px in a 100 px photo)."""
    root = tmp_path / "sign-language-digits"
    files = []
    for d in range(n_images):
        img = np.full((100, 100, 3), 200, np.uint8)
        img[:, :50] = 20
        path = root / "Dataset" / str(d) / f"IMG_{d}.JPG"
        path.parent.mkdir(parents=True)
        cv2.imwrite(str(path), img)
        files.append(f"Dataset/{d}/IMG_{d}.JPG")
    hand = load_hand("openhand")
    with torch.no_grad():
        out = hand()
    K = np.array([[107.2, 0, 49.5], [0, 107.2, 49.5], [0, 0, 1]], np.float32)
    j3 = out.joints[0].numpy() - out.joints[0].numpy().mean(0) + [0, 0, 0.35]
    v = out.vertices[0].numpy() - out.joints[0].numpy().mean(0) + [0, 0, 0.35]
    kp = project(j3, K)
    small = (kp - kp.mean(0)) * 10 / np.ptp(kp, 0).max() + 50
    H = 4
    fits = {
        "format": np.str_(FITS_FORMAT), "root": np.str_(str(root)), "files": np.array(files),
        "size": np.full((n_images, 2), 100, np.int32), "image": np.array([0, 1, 2, 0], np.int32),
        "hand": np.array(["right", "left", "right", "right"]), "mirrored": np.array([False, True, False, False]),
        "keypoints2d": np.stack([kp, kp, kp, small]).astype(np.float32),
        "joints3d": np.repeat(j3[None], H, 0).astype(np.float32),
        "vertices": np.repeat(v[None], H, 0).astype(np.float32),
        "K": np.repeat(K[None], H, 0), "confidence": np.array([0.8, 0.5, 0.1, 0.9], np.float32),
        "keep": np.array([True, True, False, True]),
    }
    path = tmp_path / "fits.npz"
    np.savez(path, **fits)
    return path, root


def test_pseudo_labelled_samples(tmp_path):
    path, root = _fits(tmp_path)
    ds = PseudoLabelledSet(path)
    assert ds.kind == "closeups" and len(ds) == 2  # the dropped fit and the tiny hand are left out
    a, b = ds[0], ds[1]
    assert a["has_vertices"] == pytest.approx(0.8) and b["has_joints3d"] == pytest.approx(0.5)
    assert a["image"][50, 10].max() < 60 and b["image"][50, 10].min() > 150  # the left hand's photo mirrored
    assert np.allclose(a["joints2d"], project(a["joints3d"], a["K"]), atol=1e-3)
    assert PseudoLabelledSet(path, confidence=False)[1]["has_vertices"] == 1.0
    assert len(PseudoLabelledSet(path, min_box=0.0)) == 3
    assert len(open_dataset(f"pseudo:{path}")) == 2
    # through the training transform and into the losses beside a synthetic-like sample
    views = TrainTransform()(a, np.random.default_rng(0))
    assert views["image"].shape == (2, 3, 128, 128) and float(views["has_vertices"]) == pytest.approx(0.8)


def test_pseudo_labelled_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such fits file"):
        PseudoLabelledSet(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", format=np.str_("something-else"))
    with pytest.raises(ValueError, match="not a pseudo-mesh fits file"):
        PseudoLabelledSet(tmp_path / "other.npz")
    path, root = _fits(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing or not a real photo set"):
        PseudoLabelledSet(path, images=tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="no such fits file"):
        open_mixture(f"pseudo:{tmp_path / 'none.npz'}")


def test_3d_terms_in_the_configured_unit():
    """The same 2 cm error is a mesh loss of 0.02 in metres and 0.1 in units of 0.2 m; 2D terms
    do not change."""
    B, V = 2, 778
    hand = load_hand("openhand")
    with torch.no_grad():
        verts = hand().vertices.expand(B, V, 3).clone()
    out = {"vertices": verts + 0.02, "uv": torch.full((B, 21, 2), 0.5), "joints2d": torch.zeros(B, 21, 2),
           "joints3d": torch.zeros(B, 21, 3)}
    batch = {"vertices": verts[:, None], "joints2d": torch.full((B, 1, 21, 2), 63.5),
             "joints2d_valid": torch.ones(B, 1, 21), "joints3d": torch.zeros(B, 1, 21, 3),
             "has_vertices": torch.tensor([True, True]), "has_joints3d": torch.tensor([True, True])}
    metres = mesh_recon_losses(out, batch, hand.faces, LossWeights(), 1, 128)
    unit = mesh_recon_losses(out, batch, hand.faces, LossWeights(unit3d=0.2), 1, 128)
    assert metres["mesh"].item() == pytest.approx(0.02, rel=1e-4)
    assert unit["mesh"].item() == pytest.approx(0.1, rel=1e-4)
    assert unit["pose2d"].item() == pytest.approx(metres["pose2d"].item())
    # a fit's confidence weighs the 3D terms: rows of weight 0 do not count
    batch["has_vertices"] = torch.tensor([1.0, 0.0])
    out["vertices"][1] += 1.0
    assert mesh_recon_losses(out, batch, hand.faces, LossWeights(), 1, 128)["mesh"].item() == \
        pytest.approx(0.02, rel=1e-4)


def test_training_reexecs_with_jemalloc(monkeypatch, tmp_path):
    """`mobrecon train` starts again with jemalloc preloaded when the library is there, and
    when it was preloaded by hand without its configuration, and leaves things alone when it is
    loaded and configured, absent, or turned off."""
    from mobrecon.train import allocator

    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    calls = []
    monkeypatch.setattr(allocator, "CANDIDATES", (str(lib),))
    monkeypatch.setattr(allocator.os, "execve", lambda exe, args, env: calls.append((args, env)))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("MOBRECON_ALLOCATOR", raising=False)
    allocator.reexec_with_jemalloc(["train", "--config", "c.yaml"])
    (args, env), = calls
    assert args[1:] == ["-m", "mobrecon.cli", "train", "--config", "c.yaml"]
    assert env["LD_PRELOAD"] == str(lib) and "dirty_decay_ms:-1" in env["MALLOC_CONF"]
    monkeypatch.delenv("MALLOC_CONF", raising=False)
    monkeypatch.setenv("LD_PRELOAD", str(lib))  # preloaded by hand without the configuration:
    allocator.reexec_with_jemalloc(["train"])  # started again with it, the preload kept
    assert len(calls) == 2 and calls[1][1]["LD_PRELOAD"] == str(lib)
    assert calls[1][1]["MALLOC_CONF"] == allocator.CONF
    monkeypatch.setenv("MALLOC_CONF", "dirty_decay_ms:1000")  # both given: the user's choice stands
    allocator.reexec_with_jemalloc(["train"])
    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.delenv("MALLOC_CONF")
    monkeypatch.setenv("MOBRECON_ALLOCATOR", "system")
    allocator.reexec_with_jemalloc(["train"])
    monkeypatch.delenv("MOBRECON_ALLOCATOR")
    monkeypatch.setattr(allocator, "CANDIDATES", (str(tmp_path / "none.so"),))
    allocator.reexec_with_jemalloc(["train"])
    assert len(calls) == 2

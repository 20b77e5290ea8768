"""tools/device/pack_real.py: the real photos' training hands packed small for a GPU machine
(signer frames cut around their hands, labels moved with the cut; 3D labels dropped and
recomputed) must give the same training samples as the originals."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from mobrecon.data.pseudo_labelled import PseudoLabelledSet
from mobrecon.data.pseudo_mesh import FITS_FORMAT
from mobrecon.data.sample import project
from mobrecon.hand.load import load_hand

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "device"))
import pack_real  # noqa: E402

W, H = 240, 160


def _signers(tmp_path):
    """A tiny signer-frames layout (W x H frames whose red / green encode x / y) and a fits file:
    a right hand on frame 0 near the left edge, a left (mirrored) hand on frame 1 near the right."""
    root = tmp_path / "rf100-hand-gestures"
    (root / "train" / "labels").mkdir(parents=True)
    (root / "train" / "images").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [a]\n")
    x, y = np.meshgrid(np.linspace(0, 255, W), np.linspace(0, 255, H))
    rgb = np.stack([x, y, np.full_like(x, 128)], -1).astype(np.uint8)
    files = []
    for i in range(2):
        files.append(f"train/images/f{i}.jpg")
        cv2.imwrite(str(root / files[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    hand = load_hand("openhand")
    pose, shape = torch.zeros(2, 16, 3), torch.zeros(2, 6)
    with torch.no_grad():
        rest = hand(pose, shape).joints.mean(1)
    K = np.array([[200.0, 0, (W - 1) / 2], [0, 200.0, (H - 1) / 2], [0, 0, 1]], np.float32)
    # hand 0 centred at x = 50 px; hand 1 at x = 190 px in the photo, i.e. 49 px in the mirrored one
    target = torch.tensor([[(50 - K[0, 2]) * 0.5 / 200, 0.0, 0.5], [(49 - K[0, 2]) * 0.5 / 200, 0.0, 0.5]])
    transl = target - rest
    with torch.no_grad():
        out = hand(pose, shape, transl)
    j3 = out.joints.numpy()
    kp = np.stack([project(j, K) for j in j3]).astype(np.float32)
    fits = {"format": np.str_(FITS_FORMAT), "teacher": np.str_("test"), "root": np.str_(str(root)),
            "files": np.array(files), "size": np.full((2, 2), [W, H], np.int32), "image": np.array([0, 1], np.int32),
            "hand": np.array(["right", "left"]), "mirrored": np.array([False, True]), "keypoints2d": kp,
            "joints2d": kp.copy(), "joints3d": j3, "vertices": out.vertices.numpy(), "pose": pose.numpy(),
            "shape": shape.numpy(), "transl": transl.numpy(), "K": np.stack([K, K]),
            "confidence": np.array([0.9, 0.7], np.float32), "keep": np.array([True, True])}
    path = tmp_path / "signers_fits.npz"
    np.savez(path, **fits)
    return path


def test_packed_signers_give_the_same_samples(tmp_path):
    path = _signers(tmp_path)
    out = tmp_path / "pack"
    hands = pack_real.pack_set("signers", path, out, quality=95, keep=2.0)
    assert list(hands) == [0, 1]
    packed = np.load(out / "signers_pack.npz")
    assert "vertices" not in packed and (packed["size"] < [W, H]).any()  # cut, 3D labels dropped
    fits = pack_real.unpack_set("signers", out, load_hand("openhand"))
    a, b = PseudoLabelledSet(path), PseudoLabelledSet(fits)
    assert len(a) == len(b) == 2
    for i in range(2):
        sa, sb = a[i], b[i]
        assert sb["image"].shape[:2] == tuple(packed["size"][i][::-1])
        assert np.allclose(sb["vertices"], sa["vertices"], atol=1e-6)
        assert np.allclose(sb["joints2d"], project(sb["joints3d"], sb["K"]), atol=1e-3)
        # the same photo content under each keypoint (red / green encode the original x / y)
        for (ua, va), (ub, vb) in zip(np.round(sa["joints2d"]).astype(int), np.round(sb["joints2d"]).astype(int)):
            assert np.abs(sa["image"][va, ua].astype(int) - sb["image"][vb, ub].astype(int)).max() <= 6

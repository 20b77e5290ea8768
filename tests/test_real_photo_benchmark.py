"""The real-photo benchmark: box-share metrics, the average-hand baselines, and a smoke run of
benchmarks/real_photos_eval.py on a tiny generated close-up set with a random model."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mobrecon.data.teacher_labels import ImageRecord, assemble, save_labels
from mobrecon.eval.average_hand import (average_hand_2d, average_hand_3d, keypoint_boxes, normalise_to_box,
                                        place_in_boxes)
from mobrecon.eval.box_errors import box_errors, box_side, summarise_box_errors
from mobrecon.eval.metrics import pa_mpjpe
from mobrecon.hand.skeleton import TIPS

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("real_photos_eval", REPO / "benchmarks" / "real_photos_eval.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _hand(rng, n=1, side=60.0, at=(50.0, 50.0)):
    """(n, 21, 2) made-up keypoints: a fixed fan-shaped hand, jittered, about ``side`` px tall."""
    base = np.array([[0, 0.5]] + [[(f - 2) * 0.12 + (f - 2) * 0.05 * s, 0.3 - 0.2 * s]
                                  for f in range(5) for s in range(4)], np.float64)
    kp = base[None] + rng.normal(0, 0.02, (n, 21, 2))
    return kp * side + np.asarray(at)


# ------------------------------------------------------------------------------- metrics
def test_box_side_is_the_longer_side_of_the_keypoint_box():
    kp = np.zeros((2, 21, 2))
    kp[0, 1] = [30, 10]
    kp[1, 1] = [5, 40]
    assert box_side(kp).tolist() == [30, 40]
    with pytest.raises(ValueError, match="box_side"):
        box_side(np.zeros((21, 2)))


def test_box_errors_pck_and_fingertips():
    rng = np.random.default_rng(0)
    ref = _hand(rng, 3)
    side = box_side(ref)
    pred = ref.copy()
    pred[..., 0] += 0.15 * side[:, None]  # every joint off by 0.15 of its hand's box
    err = box_errors(pred, ref)
    assert np.allclose(err, 0.15)
    s = summarise_box_errors(err)
    assert s["hands"] == 3 and s["mean"] == pytest.approx(0.15) and s["tips"] == pytest.approx(0.15)
    assert s["pck@0.1"] == 0 and s["pck@0.2"] == 1
    tips_only = ref.copy()
    tips_only[:, list(TIPS), 1] += 0.3 * side[:, None]
    s = summarise_box_errors(box_errors(tips_only, ref))
    assert s["tips"] == pytest.approx(0.3) and s["mean"] == pytest.approx(0.3 * 5 / 21)
    assert s["pck@0.1"] == pytest.approx(16 / 21) and s["pck@0.2"] == pytest.approx(16 / 21)
    assert np.isnan(summarise_box_errors(np.zeros((0, 21)))["mean"])
    with pytest.raises(ValueError, match="differ in shape"):
        box_errors(ref[:2], ref)


def test_average_hand_2d_recovers_moved_scaled_and_mirrored_copies():
    rng = np.random.default_rng(1)
    shape = _hand(rng, 1)[0]
    hands, left = [], np.array([False, True, False, True])
    for k, (s, dx) in enumerate([(1.0, 0), (2.0, 300), (0.5, -40), (3.0, 17)]):
        h = shape * s + [dx, 2 * dx]
        if left[k]:
            h[:, 0] = 500 - h[:, 0]  # a left hand: the mirror image
        hands.append(h)
    hands = np.stack(hands)
    mean = average_hand_2d(hands, left)
    assert np.allclose(mean, normalise_to_box(shape[None])[0])
    placed = place_in_boxes(mean, keypoint_boxes(hands), left)
    assert np.allclose(placed, hands)
    assert np.allclose(box_errors(placed, hands), 0)
    wrong = place_in_boxes(mean, keypoint_boxes(hands))  # handedness ignored: mirrored the wrong way
    assert box_errors(wrong, hands)[left].mean() > 0.05
    corner = average_hand_2d(hands, left, anchor="corner")
    assert np.allclose(place_in_boxes(corner, keypoint_boxes(hands), left, anchor="corner"), hands)
    # the shorter side of the box grown (same centre, same longer side): the centred mean does not
    # move, the corner-hung one does
    box = keypoint_boxes(hands[:1])
    w, h = box[0, 2:] - box[0, :2]
    d = 0.4 * abs(w - h)
    grown = box + ([[0, -d, 0, d]] if w > h else [[-d, 0, d, 0]])
    assert np.allclose(place_in_boxes(mean, grown), place_in_boxes(mean, box))
    assert np.abs(place_in_boxes(corner, grown, anchor="corner") - place_in_boxes(corner, box, anchor="corner")
                  ).max() == pytest.approx(d)
    with pytest.raises(ValueError, match="anchor"):
        normalise_to_box(hands, anchor="middle")


def test_average_hand_3d_of_rotated_copies_is_the_hand():
    rng = np.random.default_rng(2)
    hand = rng.normal(0, 0.04, (21, 3))
    copies = np.stack([Rotation.random(random_state=k).apply(hand) + rng.normal(0, 1, 3) for k in range(6)])
    mean = average_hand_3d(copies)
    assert np.allclose(mean[0], 0)
    assert pa_mpjpe(mean[None], hand[None])[0] < 1e-6
    with pytest.raises(ValueError):
        average_hand_3d(np.zeros((0, 21, 3)))


# ------------------------------------------------------------------------------ smoke run
def _fake_closeups(tmp_path: Path, n: int = 6):
    """A close-up set of n generated 100x100 photos, its teacher labels and pseudo-mesh fits."""
    rng = np.random.default_rng(3)
    root = tmp_path / "realdata" / "sign-language-digits"
    records = []
    for i in range(n):
        folder = root / "Dataset" / str(i % 10)
        folder.mkdir(parents=True, exist_ok=True)
        img = np.full((100, 100, 3), 200, np.uint8)
        kp = _hand(rng, 1, side=60, at=(50 + rng.uniform(-5, 5), 45))[0]
        side = "left" if i == 1 else "right"
        if side == "left":
            kp[:, 0] = 99 - kp[:, 0]
        for p in kp.astype(int):
            cv2.circle(img, tuple(int(v) for v in p), 3, (150, 100, 80), -1)
        path = folder / f"IMG_{i + 1}.png"
        cv2.imwrite(str(path), img)
        sha = hashlib.sha1(path.read_bytes()).hexdigest()
        hands = {"keypoints2d": kp[None].astype(np.float32),
                 "world": rng.normal(0, 0.04, (1, 21, 3)).astype(np.float32),
                 "hand": np.array([side]), "hand_score": np.array([0.9], np.float32),
                 "score": np.array([0.9], np.float32),
                 "box": keypoint_boxes(kp[None]).astype(np.float32)}
        if i == n - 1:  # the teacher found no hand here
            hands = {k: v[:0] for k, v in hands.items()}
        records.append(ImageRecord(path.relative_to(root).as_posix(), sha, (100, 100), 1, hands))
    labels = assemble(records, "made-up teacher", root)
    lab_dir = tmp_path / "labels"
    save_labels(lab_dir / "closeups.npz", labels)
    h = labels.num_hands
    np.savez(lab_dir / "closeups_fits.npz", format=np.str_("mobrecon-pseudo-meshes/1"), files=labels.files,
             image=labels.arrays["image"], joints3d=rng.normal(0, 0.04, (h, 21, 3)).astype(np.float32),
             keep=np.arange(h) != 0, mirrored=labels.arrays["hand"] == "left")
    return tmp_path / "realdata", lab_dir


def test_benchmark_smoke_on_a_tiny_generated_set(tmp_path, capsys):
    from mobrecon.models import build
    from mobrecon.models.weights import save_model

    bench = _bench()
    realdata, lab_dir = _fake_closeups(tmp_path)
    torch.manual_seed(0)
    model = save_model(tmp_path / "tiny.pt", build("mobrecon_ghoststack").eval(), "mobrecon_ghoststack")
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    args = ["--labels", str(lab_dir), "--realdata", str(realdata), "--sets", "closeups", "--split", "all",
            "--no-shipped", "--model", f"tiny={model}", "--json", str(out_json), "--png", str(out_png),
            "--per-set", "2"]
    assert bench.main(args) == 0
    printed = capsys.readouterr().out
    assert "| closeups all (whole photo) | tiny |" in printed and "longer side" in printed
    rec = json.loads(out_json.read_text())
    s = rec["sets"]["closeups"]
    assert s["hands"] == 5 and s["images"] == 5 and s["left_hands"] == 1 and s["fits"]
    rows = s["rows"]
    assert set(rows) == {"teacher (MediaPipe Hands)", "tiny", "average hand"}
    assert rows["teacher (MediaPipe Hands)"]["mean"] == 0 and rows["teacher (MediaPipe Hands)"]["pck@0.1"] == 1
    for r in rows.values():
        assert r["fits_kept"] == 4 and np.isfinite(r["pa_mpjpe_mm"])
    assert 0 <= rows["tiny"]["handedness_agreement"] <= 1 and np.isfinite(rows["tiny"]["mean"])
    assert rows["average hand"]["mean"] < 0.1  # the made-up hands all share one shape
    assert rows["average hand"]["corner_anchored"]["mean"] < 0.1
    png = cv2.imread(str(out_png))
    assert png is not None and png.shape[0] == 2 * 160  # the teacher's row and the model's
    # bad input: one line, exit code 2, nothing overwritten
    before = out_json.read_bytes()
    assert bench.main(args) == 2
    assert "exists" in capsys.readouterr().err and out_json.read_bytes() == before
    assert bench.main(["--labels", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert bench.main(["--labels", str(lab_dir), "--realdata", str(realdata), "--sets", "closeups",
                       "--split", "all", "--no-shipped", "--model", str(tmp_path / "none.pt")]) == 2
    assert "no such model file" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("MOBRECON_LABELS"), reason="real-photo labels absent (set MOBRECON_LABELS)")
def test_benchmark_on_a_few_real_held_out_photos(tmp_path):
    bench = _bench()
    realdata = Path(os.environ.get("MOBRECON_REALDATA", REPO.parent / "shared" / "realdata"))
    if not (realdata / "sign-language-digits").is_dir():
        pytest.skip(f"real photos absent ({realdata})")
    out = tmp_path / "r.json"
    assert bench.main(["--sets", "closeups", "--limit", "6", "--no-shipped", "--model",
                       str(REPO / "src/mobrecon/weights/mobrecon_ghoststack.pt"), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["sets"]["closeups"]["rows"]
    assert rows["mobrecon_ghoststack"]["hands"] == 6 and rows["mobrecon_ghoststack"]["mean"] < 0.5

"""Score threshold calibration (issue 20): best-F1 threshold, stored in the detector file and
used by HandDetector.load; ``mobrecon detect-calibrate``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from mobrecon.detect.ap import average_precision, best_f1_threshold, precision_recall
from mobrecon.detect.calibrate import calibrate_threshold
from mobrecon.detect.centernet import CenterNet, CenterNetConfig
from mobrecon.detect.composites import CompositeConfig, generate_composites
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.detector import DEFAULT_THRESHOLD, Detection, HandDetector
from mobrecon.detect.weights import load_detector_model, save_detector


def test_best_f1_threshold_closed_form():
    gt = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 40, 40]]), np.array([[50, 50, 60, 60]])]
    # scores: hit 0.9, miss 0.8, hit 0.6, hit 0.3 -> at 0.9: P 1, R 1/3 (F1 .5); 0.8: P .5, R 1/3 (.4);
    # 0.6: P 2/3, R 2/3 (.667); 0.3: P 3/4, R 1 (.857): the lowest cut wins here
    dets = [np.array([[0, 0, 10, 10, 0.9], [70, 70, 80, 80, 0.8]]), np.array([[20, 20, 40, 40, 0.6]]),
            np.array([[50, 50, 60, 60, 0.3]])]
    scores, prec, rec = precision_recall(dets, gt)
    assert scores.tolist() == [0.9, 0.8, 0.6, 0.3]
    assert prec == pytest.approx([1, 0.5, 2 / 3, 0.75]) and rec == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1])
    best = best_f1_threshold(dets, gt)
    assert best["threshold"] == 0.3 and best["f1"] == pytest.approx(6 / 7)
    # two more confident false positives at 0.2 and 0.1 would not move it
    dets2 = dets + [np.array([[90, 90, 99, 99, 0.2], [0, 90, 9, 99, 0.1]])]
    assert best_f1_threshold(dets2, gt + [np.zeros((0, 4))])["threshold"] == 0.3
    # ties: a threshold keeps every detection of that score
    tie = [np.array([[0, 0, 10, 10, 0.5]]), np.array([[70, 70, 80, 80, 0.5]])]
    assert best_f1_threshold(tie, gt[:1] + [np.zeros((0, 4))])["precision"] == pytest.approx(0.5)
    assert best_f1_threshold([np.zeros((0, 5))], gt[:1])["f1"] == 0.0
    assert average_precision(dets, gt)["tp"] == 3


class _Scripted:
    """A detector stand-in whose detections are fixed per image index (read from the image)."""

    def __init__(self, table):
        self.table, self.threshold = table, 0.5

    def detect(self, image, threshold=None):
        rows = self.table[int(image[0, 0, 0])]
        return [Detection(box=tuple(r[:4]), score=r[4], handedness="right") for r in rows if r[4] >= (threshold or 0)]


class _Set:
    def __init__(self, boxes):
        self.boxes = boxes

    def __len__(self):
        return len(self.boxes)

    def raw(self, i):
        img = np.zeros((8, 8, 3), np.uint8)
        img[0, 0, 0] = i
        return {"image": img, "boxes": self.boxes[i]}


def test_calibrate_threshold_pools_the_sets_and_reports_each():
    table = {0: [(0, 0, 10, 10, 0.3)], 1: [(5, 5, 9, 9, 0.4)]}
    res = calibrate_threshold(_Scripted(table), {"a": _Set([np.array([[0, 0, 10, 10]]), np.zeros((0, 4))])})
    # the hit scores 0.3, a false positive 0.4: the best cut keeps both (F1 2/3) rather than none
    assert res["threshold"] == pytest.approx(0.3) and res["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert res["sets"]["a"]["at_old"]["recall"] == 0.0 and res["sets"]["a"]["at_new"]["recall"] == 1.0
    with pytest.raises(ValueError, match="have none"):
        calibrate_threshold(_Scripted(table), {"a": _Set([np.zeros((0, 4))])})


def test_a_calibrated_threshold_travels_with_the_file(tmp_path):
    model = CenterNet(CenterNetConfig())
    save_detector(tmp_path / "plain.pt", model)
    save_detector(tmp_path / "cal.pt", model, meta={"threshold": 0.07})
    assert HandDetector.load(tmp_path / "plain.pt").threshold == DEFAULT_THRESHOLD
    assert HandDetector.load(tmp_path / "cal.pt").threshold == pytest.approx(0.07)
    assert HandDetector.load(tmp_path / "cal.pt", threshold=0.5).threshold == 0.5  # an explicit one wins
    # the flip test goes with the threshold it was calibrated with; off for files without it
    save_detector(tmp_path / "flip.pt", model, meta={"threshold": 0.07, "flip_test": True})
    assert not HandDetector.load(tmp_path / "cal.pt").flip_test and HandDetector.load(tmp_path / "flip.pt").flip_test
    assert not HandDetector.load(tmp_path / "flip.pt", flip_test=False).flip_test


def test_cli_detect_calibrate_writes_a_new_file(tmp_path):
    torch.manual_seed(0)
    save_detector(tmp_path / "det.pt", CenterNet(CenterNetConfig()))
    generate_composites(tmp_path / "val", CompositeConfig(count=3, seed=4, shard_size=3), workers=1, progress=False)
    cmd = [sys.executable, "-m", "mobrecon.cli", "detect-calibrate", str(tmp_path / "det.pt"),
           "--data", str(tmp_path / "val"), "--out", str(tmp_path / "cal.pt"), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert 0 <= rec["threshold"] <= 1 and rec["sets"][f"composites:{tmp_path / 'val'}"]["images"] == 3
    _, meta = load_detector_model(tmp_path / "cal.pt")
    assert meta["threshold"] == rec["threshold"] and meta["calibration"]["f1"] == rec["f1"]
    assert meta["flip_test"] is False  # as in the file calibrated
    flip = subprocess.run(cmd[:-3] + ["--out", str(tmp_path / "cal_flip.pt"), "--flip-test"], capture_output=True, text=True)
    assert flip.returncode == 0, flip.stderr
    assert load_detector_model(tmp_path / "cal_flip.pt")[1]["flip_test"] is True
    again = subprocess.run(cmd, capture_output=True, text=True)  # never replaced silently
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.splitlines()) == 1
    none = subprocess.run(cmd[:5] + ["--out", str(tmp_path / "x.pt")], capture_output=True, text=True)
    assert none.returncode == 2 and "validation images" in none.stderr
    assert len(CompositeDataset(tmp_path / "val")) == 3

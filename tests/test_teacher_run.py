"""The real teacher (MediaPipe Hands in .venv-teacher, `make teacher`) on the bundled photos: skipped
with the reason when the teacher environment is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mobrecon.data.mediapipe_hands import convert_hands
from mobrecon.data.teacher_labels import load_labels
from mobrecon.data.teacher_process import TeacherMissing, find_teacher

REPO = Path(__file__).resolve().parents[1]
REC = json.loads((REPO / "tests" / "data" / "teacher_samples.json").read_text())

try:
    TEACHER = find_teacher()
except TeacherMissing as e:
    TEACHER, WHY = None, str(e)
pytestmark = pytest.mark.skipif(TEACHER is None, reason=f"teacher environment absent ({WHY if TEACHER is None else ''})")


def test_teacher_labels_the_bundled_left_hands(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("hand_img-1842.jpg", "hand_open.png"):
        (photos / name).write_bytes((REPO / "samples" / name).read_bytes())
    img = cv2.imread(str(REPO / "samples" / "hand_open.png"))
    cv2.imwrite(str(photos / "hand_open_mirrored.png"), img[:, ::-1])
    (photos / "broken.jpg").write_bytes(b"no image")
    out = tmp_path / "labels.npz"
    cmd = [sys.executable, "-m", "mobrecon.cli", "label", str(photos), "--out", str(out), "--json", "--teacher", str(TEACHER)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr  # the broken file is reported (one line) and recorded
    assert [ln for ln in r.stderr.splitlines() if "broken.jpg" in ln] and "Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    assert summary["hands"] == 3 and summary["unreadable"] == [str(photos / "broken.jpg")]
    lab = load_labels(out)
    rows = lab.row_of()
    assert lab.arrays["status"][rows["broken.jpg"]] == -1
    # the true hands: the bundled photos are left hands, their mirror image a right hand
    for name, hand in (("hand_img-1842.jpg", "left"), ("hand_open.png", "left"), ("hand_open_mirrored.png", "right")):
        h = lab.hands(rows[name])
        assert list(h["hand"]) == [hand], name
        # and the numbers agree with the recording the teacher-free tests use
        rec = convert_hands(REC["records"][name], REC["landmarks"])["keypoints2d"][0]
        assert np.abs(h["keypoints2d"][0] - rec).max() < 1.0, name
    # a rerun takes everything from the cache
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert json.loads(r.stdout)["new"] == 0

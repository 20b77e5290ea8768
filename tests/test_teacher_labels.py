"""Teacher labels without MediaPipe: the landmark mapping, the pixel and handedness conventions on a
recorded teacher output (tests/data/teacher_samples.json: MediaPipe Hands 0.10.21 on two of the
bundled left-hand photos and on one of them mirrored), the set-box rule, the labels file, and the
resumable, sha1-cached labelling loop with a stand-in teacher that replays the recording."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mobrecon.data.labelling import LabelsMismatch, label_images, partial_path, previous_labels
from mobrecon.data.mediapipe_hands import (MEDIAPIPE_LANDMARKS, convert_hands, freihand_from_mediapipe,
                                           inside_set_boxes, to_pixels, true_hand)
from mobrecon.data.teacher_labels import FORMAT, assemble, load_labels, save_labels
from mobrecon.hand.skeleton import BONES, JOINT_NAMES, TIPS

REC = json.loads((Path(__file__).parent / "data" / "teacher_samples.json").read_text())

# MediaPipe's documented finger chains (hand_landmarker: HAND_CONNECTIONS without the palm edges)
MEDIAPIPE_FINGER_BONES = {(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
                          (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)}


def test_landmark_mapping_is_the_identity_and_keeps_the_bones():
    perm = freihand_from_mediapipe(REC["landmarks"])  # the names the real teacher reported
    assert tuple(REC["landmarks"]) == MEDIAPIPE_LANDMARKS
    assert np.array_equal(perm, np.arange(21))
    # every project bone (parent, child) is a MediaPipe finger bone after the mapping
    assert {(int(perm[p]), int(perm[c])) for p, c in BONES} == MEDIAPIPE_FINGER_BONES
    assert [JOINT_NAMES[i] for i in TIPS] == [f"{f}_tip" for f in ("thumb", "index", "middle", "ring", "pinky")]
    # a shuffled name list gives the matching permutation, and wrong names are refused
    shuffled = list(MEDIAPIPE_LANDMARKS[::-1])
    assert [shuffled[i] for i in freihand_from_mediapipe(shuffled)] == list(MEDIAPIPE_LANDMARKS)
    with pytest.raises(ValueError):
        freihand_from_mediapipe(["wrist"] * 21)


def test_recorded_open_hand_has_outward_chains():
    """On the open hand the converted keypoints run from the wrist out along each finger."""
    raw = REC["records"]["hand_open.png"]
    k = convert_hands(raw, REC["landmarks"])["keypoints2d"][0]
    for f in range(5):
        d = np.linalg.norm(k[1 + 4 * f: 5 + 4 * f] - k[0], axis=1)
        assert np.all(np.diff(d) > 0), (f, d)
    assert ((k >= -0.5) & (k <= np.array([raw["width"], raw["height"]]) - 0.5)).all()


def test_pixels_and_handedness_on_the_recording():
    assert np.allclose(to_pixels(np.array([[0.0, 0.0, 0], [1.0, 1.0, 0]]), 200, 100), [[-0.5, -0.5], [199.5, 99.5]])
    assert true_hand("Left") == "right" and true_hand("Right") == "left"
    with pytest.raises(ValueError):
        true_hand("both")
    a = convert_hands(REC["records"]["hand_open.png"], REC["landmarks"])
    b = convert_hands(REC["records"]["hand_open_mirrored.png"], REC["landmarks"])
    left = convert_hands(REC["records"]["hand_img-1842.jpg"], REC["landmarks"])
    # samples/ are left hands (MediaPipe says "Right"); the mirrored photo is a right hand
    assert list(a["hand"]) == ["left"] and list(left["hand"]) == ["left"] and list(b["hand"]) == ["right"]
    # the mirrored photo's keypoints are the original's at x -> W - 1 - x (pixel centres at integers)
    w = REC["records"]["hand_open.png"]["width"]
    mirrored = b["keypoints2d"][0].copy()
    mirrored[:, 0] = w - 1 - mirrored[:, 0]
    assert np.abs(mirrored - a["keypoints2d"][0]).mean() < 2.0
    assert np.allclose(a["box"][0], [*a["keypoints2d"][0].min(0), *a["keypoints2d"][0].max(0)])
    assert a["world"].shape == (1, 21, 3) and np.abs(a["world"]).max() < 0.3  # metres


def test_set_box_rule():
    boxes = np.array([[100, 100, 200, 200]], np.float32)
    near = [110, 110, 190, 190]
    beside = [190, 120, 250, 180]   # centre inside the box widened by 25 %, but further from its centre
    far = [400, 400, 450, 450]
    assert list(inside_set_boxes(np.array([far, beside, near]), boxes)) == [2]
    assert list(inside_set_boxes(np.array([far, beside]), boxes)) == [1]
    assert list(inside_set_boxes(np.array([far]), boxes)) == []
    assert list(inside_set_boxes(np.array([near]), np.zeros((0, 4)))) == []
    two = np.array([[100, 100, 200, 200], [300, 100, 400, 200]])
    assert list(inside_set_boxes(np.array([[310, 110, 390, 190], near]), two)) == [0, 1]


class ReplayTeacher:
    """Stands in for TeacherProcess: the recorded open hand for every readable image, scaled to its size."""
    teacher = "replay " + REC["teacher"]
    names = REC["landmarks"]

    def __init__(self, stop_after: int | None = None, no_hand: tuple[str, ...] = ()):
        self.calls, self.stop_after, self.no_hand = [], stop_after, no_hand

    def label(self, path):
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt
        self.calls.append(Path(path).name)
        img = cv2.imread(str(path))
        if img is None:
            return {"path": str(path), "ok": False, "error": "not a readable image"}
        h, w = img.shape[:2]
        hands = [] if Path(path).name in self.no_hand else REC["records"]["hand_open.png"]["hands"]
        return {"path": str(path), "ok": True, "width": w, "height": h, "hands": hands}


def make_images(folder: Path, n: int = 5) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        p = folder / f"img{i}.png"
        cv2.imwrite(str(p), np.full((40 + i, 50, 3), 20 * i, np.uint8))
        files.append(p)
    return files


def test_labels_file_round_trip_and_checks(tmp_path):
    files = make_images(tmp_path / "imgs", 3)
    labels = assemble([], "t", tmp_path)
    assert labels.arrays["keypoints2d"].shape == (0, 21, 2)
    out = tmp_path / "l.npz"
    label_images(files, tmp_path / "imgs", out, ReplayTeacher(no_hand=("img1.png",)), progress=False)
    lab = load_labels(out)
    a = lab.arrays
    assert str(a["format"]) == FORMAT and list(a["files"]) == ["img0.png", "img1.png", "img2.png"]
    assert list(a["n_hands"]) == [1, 0, 1] and list(a["image"]) == [0, 2] and list(a["status"]) == [1, 1, 1]
    assert a["size"].tolist() == [[50, 40], [50, 41], [50, 42]]
    assert a["keypoints2d"].dtype == np.float32 and a["hand"].tolist() == ["left", "left"]
    assert lab.hands(1)["keypoints2d"].shape == (0, 21, 2) and lab.hands(2)["box"].shape == (1, 4)
    with np.load(out, allow_pickle=False) as z:  # plain arrays, no pickles
        assert set(z.files) >= {"sha1", "world", "hand_score", "score", "teacher", "root"}
    bad = dict(a)
    bad["box"] = a["box"][:1]
    save_labels(tmp_path / "bad.npz", type(lab)(bad))
    with pytest.raises(ValueError, match="box has shape"):
        load_labels(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        load_labels(tmp_path / "junk.npz")


def test_labelling_resumes_caches_and_refuses_other_images(tmp_path):
    folder = tmp_path / "imgs"
    files = make_images(folder, 5)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    files.append(folder / "broken.jpg")
    out = tmp_path / "labels.npz"
    with pytest.raises(KeyboardInterrupt):
        label_images(files, folder, out, ReplayTeacher(stop_after=3), save_every=2, progress=False)
    assert not out.exists() and partial_path(out).is_file()
    assert len(load_labels(partial_path(out))) == 3
    again, lines = ReplayTeacher(), []
    summary = label_images(files, folder, out, again, progress=False, report=lines.append)
    assert again.calls == ["img3.png", "img4.png", "broken.jpg"]  # only what was left
    assert summary["reused"] == 3 and summary["new"] == 3 and summary["unreadable"] == [str(folder / "broken.jpg")]
    assert len(lines) == 1 and "broken.jpg" in lines[0]
    assert out.is_file() and not partial_path(out).exists()
    a = load_labels(out).arrays
    assert list(a["status"]) == [1, 1, 1, 1, 1, -1] and summary["hands"] == 5
    # finished: a rerun labels nothing; a changed image is refused, as is a file of another folder
    third = ReplayTeacher()
    assert label_images(files, folder, out, third, progress=False, report=lines.append)["new"] == 0 and not third.calls
    cv2.imwrite(str(files[0]), np.full((40, 50, 3), 99, np.uint8))
    with pytest.raises(LabelsMismatch, match="img0.png has another sha1"):
        previous_labels(out, folder, files)
    other = make_images(tmp_path / "other", 2)
    with pytest.raises(LabelsMismatch, match="another image set"):
        label_images(other, tmp_path / "other", out, ReplayTeacher(), progress=False)
    assert load_labels(out).arrays["sha1"].tolist() == a["sha1"].tolist()  # untouched


def test_signer_boxes_filter_hands(tmp_path):
    files = make_images(tmp_path / "imgs", 2)
    out = tmp_path / "l.npz"
    k = convert_hands({**REC["records"]["hand_open.png"], "width": 50, "height": 40})["box"][0]
    boxes = {0: np.array([k]), 1: np.array([[0, 0, 2, 2]])}  # image 1's box is far from its hand
    s = label_images(files, tmp_path / "imgs", out, ReplayTeacher(), boxes_of=lambda i, w, h: boxes[i], progress=False)
    assert s["hands"] == 1 and s["dropped"] == 1
    assert "keep=nearest-in-set-box" in load_labels(out).teacher


def test_one_hand_rule_keeps_the_largest(tmp_path):
    from mobrecon.data.mediapipe_hands import largest

    assert list(largest(np.array([[0, 0, 10, 10], [0, 0, 30, 20], [5, 5, 9, 9]]))) == [1]
    assert list(largest(np.zeros((0, 4)))) == []

    class TwoHands(ReplayTeacher):
        def label(self, path):
            rec = super().label(path)
            small = [[[0.5 + 0.1 * (x - 0.5), 0.5 + 0.1 * (y - 0.5), z] for x, y, z in rec["hands"][0]["landmarks"]]]
            rec["hands"] = [{**rec["hands"][0], "landmarks": small[0], "label": "Left"}] + rec["hands"]
            return rec

    files = make_images(tmp_path / "imgs", 1)
    s = label_images(files, tmp_path / "imgs", tmp_path / "l.npz", TwoHands(), one_hand=True, progress=False)
    a = load_labels(tmp_path / "l.npz").arrays
    assert s["hands"] == 1 and s["dropped"] == 1 and list(a["hand"]) == ["left"]  # the big one ("Right" -> left)
    assert a["teacher"].item().endswith("keep=largest-hand")


def run_cli(*args, env=None, cwd=None):
    import os
    import subprocess
    import sys

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "mobrecon.cli", *args], capture_output=True, text=True, env=e, cwd=cwd)


def one_line_error(r, needle):
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_label_cli_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "l.npz"
    one_line_error(run_cli("label", str(tmp_path / "empty"), "--out", str(out)), "holds no images")
    one_line_error(run_cli("label", str(tmp_path / "nope"), "--out", str(out)), "no such file or folder")
    files = make_images(tmp_path / "imgs", 2)
    one_line_error(run_cli("label", str(files[0]), "--out", str(out), "--teacher", str(tmp_path / "none" / "python")),
                   "make teacher")
    one_line_error(run_cli("label", str(files[0]), "--out", str(tmp_path / "l.txt")), "must end in .npz")
    one_line_error(run_cli("label", str(files[0]), "--out", str(out), "--split", "test"), "--split goes with --set")
    # a labels file of another image set is refused before any teacher is needed
    label_images(files, tmp_path / "imgs", out, ReplayTeacher(), progress=False)
    before = out.read_bytes()
    other = make_images(tmp_path / "other", 1)
    one_line_error(run_cli("label", str(other[0]), "--out", str(out), "--teacher", str(tmp_path / "none")),
                   "another image set")
    assert out.read_bytes() == before and not partial_path(out).exists()

"""Real photos as detector training data and the real-photo detector scores
(:mod:`mobrecon.detect.real_boxes`, :mod:`mobrecon.detect.real_eval`); the parts that read the
real sets skip when ../shared/realdata or the teacher labels are absent."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from torch.utils.data import Subset

from mobrecon.data.crop import BOX_MARGIN, DETECTION_MARGIN, crop_for, hand_box
from mobrecon.data.real_photos import CloseUps, SignerFrames, default_realdata
from mobrecon.detect.real_boxes import (MixedDetectionSet, RealBoxes, _entry, build_real_boxes,
                                        closeup_entries, signer_entries)
from mobrecon.detect.real_eval import (TRAIN_CROP_MARGIN, WHOLE_HAND_WIDEN, signer_ap, teacher_boxes, teacher_hands,
                                      whole_hand_box)

REAL = default_realdata()
LABELS = Path("/work/labels")
needs_real = pytest.mark.skipif(not (REAL / "rf100-hand-gestures").is_dir() or not (LABELS / "signers.npz").is_file(),
                                reason=f"real photo sets ({REAL}) or teacher labels ({LABELS}) absent")


def test_whole_hand_box_widens_about_the_centre():
    b = whole_hand_box(np.array([[10.0, 20.0, 30.0, 60.0]]), widen=1.5)
    np.testing.assert_allclose(b, [[5.0, 10.0, 35.0, 70.0]])
    assert whole_hand_box(np.array([0.0, 0, 10, 10])).shape == (4,)


def test_detected_box_crop_matches_the_training_crop():
    """A whole-hand box of a hand's keypoints, widened by DETECTION_MARGIN, is the crop the
    network was trained on (1.3 x the keypoint box); a given box keeps BOX_MARGIN."""
    kp = np.array([[40.0, 30.0], [80.0, 50.0], [60.0, 110.0]])
    lo, hi = kp.min(0), kp.max(0)
    whole = whole_hand_box(np.r_[lo, hi])
    crop, _ = crop_for(200, 200, whole, DETECTION_MARGIN)
    want = hand_box(kp, margin=TRAIN_CROP_MARGIN)
    assert crop.side == pytest.approx(want.side) and (crop.cx, crop.cy) == pytest.approx((want.cx, want.cy))
    assert crop_for(200, 200, whole)[0].side == pytest.approx(BOX_MARGIN * WHOLE_HAND_WIDEN * 80)


def test_entry_maps_boxes_into_the_letterbox():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 100:140] = 255
    boxed, boxes, left = _entry(img, np.array([[100.0, 40.0, 139.0, 59.0]]), [True], 64)
    assert boxed.shape == (64, 64, 3) and left.tolist() == [True]
    ys, xs = np.nonzero(boxed[..., 0] > 127)
    assert boxes[0, 0] == pytest.approx(xs.min(), abs=1) and boxes[0, 2] == pytest.approx(xs.max(), abs=1)
    assert boxes[0, 1] == pytest.approx(ys.min(), abs=1) and boxes[0, 3] == pytest.approx(ys.max(), abs=1)


class _Comp:
    """A stand-in for an augmented CompositeDataset: item ``epoch * n + i``."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"composite": i}


def test_cache_and_mixed_set_mirror_swaps_handedness(tmp_path):
    img = np.full((64, 64, 3), 90, np.uint8)
    entries = [(img, np.array([[10.0, 10.0, 30.0, 40.0]], np.float32), np.array([False]), "closeups")] * 3
    path = build_real_boxes(tmp_path / "real.npz", entries)
    real = RealBoxes(path)
    assert len(real) == 3 and real.raw(0)["boxes"].shape == (1, 4)
    mixed = MixedDetectionSet(_Comp(2), [real], repeat=2, seed=0)
    assert len(mixed) == 2 + 6
    assert mixed[1] == {"composite": 1} and mixed[len(mixed) + 1] == {"composite": 3}
    classes = set()
    for k in range(2, 8):
        for epoch in range(4):
            it = mixed[epoch * len(mixed) + k]
            assert it["input"].shape == (3, 64, 64)
            if it["mask"].sum():
                classes |= set(np.nonzero(it["heatmap"].max(axis=(1, 2)) == 1.0)[0].tolist())
    assert classes == {0, 1}  # right as labelled, left when mirrored
    with pytest.raises(FileNotFoundError, match="no such real-box cache"):
        RealBoxes(tmp_path / "missing.npz")


@needs_real
def test_real_entries_from_the_train_splits():
    signers = SignerFrames(REAL / "rf100-hand-gestures", "train", labels=LABELS / "signers.npz")
    img, boxes, left, src = next(signer_entries(Subset(signers, range(3)), size=128))
    assert img.shape == (128, 128, 3) and src == "signers" and len(boxes) == len(left) >= 1
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    closeups = CloseUps(REAL / "sign-language-digits", "train", labels=LABELS / "closeups.npz")
    img, boxes, left, src = next(closeup_entries(closeups, size=128))
    assert src == "closeups" and boxes.shape == (1, 4)


class _Signers:
    """Two fake signer frames: a set (gesture) box around both hands, two teacher hands."""

    files = ["a.jpg", "b.jpg"]

    def __init__(self):
        img = np.zeros((100, 200, 3), np.uint8)
        self.items = [{"image": img, "boxes": np.array([[20.0, 10.0, 180.0, 90.0]]),
                       "box": np.array([[30.0, 20.0, 70.0, 60.0], [120.0, 30.0, 160.0, 80.0]]),
                       "hand": np.array(["left", "right"])},
                      {"image": img, "boxes": np.array([[20.0, 10.0, 180.0, 90.0]]),
                       "box": np.zeros((0, 4)), "hand": np.array([], str)}]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_signer_entries_use_the_teachers_whole_hand_boxes_or_the_set_boxes():
    signers = _Signers()
    teacher = list(signer_entries(signers, size=200))
    assert len(teacher) == 1  # the frame without a teacher hand is left out
    img, boxes, left, src = teacher[0]
    want = _entry(signers[0]["image"], whole_hand_box(signers[0]["box"]), [True, False], 200)[1]
    np.testing.assert_allclose(boxes, want)
    assert left.tolist() == [True, False] and src == "signers"
    (_, set_boxes, set_left, _), = list(signer_entries(signers, size=200, boxes="set"))
    assert set_boxes.shape == (1, 4) and set_left.tolist() == [False]  # nearest teacher hand: the right
    with pytest.raises(ValueError, match="boxes="):
        next(signer_entries(signers, boxes="gesture"))


def test_signer_ap_against_teacher_boxes():
    class Det:
        threshold = 0.2

        def detect(self, image, threshold=0.0):
            b = whole_hand_box(np.array([[30.0, 20.0, 70.0, 60.0], [120.0, 30.0, 160.0, 80.0]]))
            return [SimpleNamespace(box=tuple(x), score=0.9) for x in b]

    signers = _Signers()
    t = signer_ap(Det(), signers, boxes="teacher")
    assert t["ap50"] == pytest.approx(1.0) and t["images"] == 1 and t["boxes"] == 2
    s = signer_ap(Det(), signers, boxes="set")
    assert s["ap50"] < 0.5 and s["images"] == 2  # hand boxes do not match one gesture box


def _all_hands_file(path):
    """A teacher labels file as `mobrecon label` writes it on plain images: frame a.jpg with
    two hands, b.jpg with one (the frame the per-gesture-box labels had none for)."""
    np.savez(path, files=np.array(["a.jpg", "b.jpg", "c.jpg"]), image=np.array([0, 0, 1]),
             box=np.array([[30.0, 20.0, 70.0, 60.0], [120.0, 30.0, 160.0, 80.0], [10.0, 10.0, 30.0, 40.0]]),
             hand=np.array(["left", "right", "left"]))
    return path


def test_every_teacher_hand_as_reference_and_training_boxes(tmp_path):
    hands = teacher_hands(_all_hands_file(tmp_path / "all.npz"))
    assert sorted(hands) == ["a.jpg", "b.jpg"]  # c.jpg: no hand, not a reference frame
    assert hands["a.jpg"][1].tolist() == [True, False] and hands["b.jpg"][0].shape == (1, 4)
    entries = list(signer_entries(_Signers(), size=200, boxes="all", all_hands=hands))
    assert len(entries) == 2 and [len(e[1]) for e in entries] == [2, 1]
    np.testing.assert_allclose(entries[1][1], _entry(np.zeros((100, 200, 3)), whole_hand_box(hands["b.jpg"][0]),
                                                      [True], 200)[1])
    with pytest.raises(ValueError, match="all_hands"):
        next(signer_entries(_Signers(), boxes="all"))

    class Det:  # finds only the first frame's two hands
        threshold = 0.2

        def detect(self, image, threshold=0.0):
            if image is not _Signers.first:
                return []
            return [SimpleNamespace(box=tuple(x), score=0.9) for x in whole_hand_box(hands["a.jpg"][0])]

    signers = _Signers()
    _Signers.first = signers[0]["image"]
    r = signer_ap(Det(), signers, boxes=teacher_boxes(tmp_path / "all.npz"))
    assert r["images"] == 2 and r["boxes"] == 3 and r["recall"] == pytest.approx(2 / 3, abs=1e-3)

"""Readers of the real photo sets: on tiny layouts made here (always), and on the shared copies in
../shared/realdata or $MOBRECON_REALDATA (skipped with the reason when absent)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mobrecon.data.labelling import label_images
from mobrecon.data.mixed import detect_kind, open_dataset, open_mixture
from mobrecon.data.real_photos import (FOLDERS, CloseUps, HagridSamples, SignerFrames, closeup_people,
                                       default_realdata, list_images, make_closeups_test, read_split_list)
from mobrecon.data.teacher_labels import load_labels

from test_teacher_labels import ReplayTeacher

REAL = default_realdata()
needs_real = pytest.mark.skipif(not (REAL / FOLDERS["closeups"]).is_dir(),
                                reason=f"no real photo sets at {REAL} (set MOBRECON_REALDATA)")


def write(path: Path, w: int = 60, h: int = 40, value: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


def test_closeup_grouping_keeps_people_together():
    files = [f"Dataset/{d}/IMG_{100 + d}.JPG" for d in range(10)] + \
            [f"Dataset/{d}/IMG_{120 + d}.JPG" for d in (0, 1, 2, 4)] + [f"Dataset/{d}/IMG_{140 + d}.JPG" for d in range(10)]
    groups = closeup_people(files)
    assert [len(g) for g in groups] == [10, 4, 10]
    test = make_closeups_test(files, share=0.2, seed=0)
    assert any(set(test) == set(g) for g in groups)  # one whole person (>= 20 % of 24 photos)


def test_readers_on_tiny_layouts_with_labels(tmp_path):
    c = tmp_path / "closeups"
    for d in (0, 1):
        write(c / "Dataset" / str(d) / f"IMG_{10 + d}.JPG", 100, 100, 50 + d)
    s = tmp_path / "signers"
    write(s / "train" / "images" / "a_1_jpg.rf.x.jpg", 80, 40)
    (s / "train" / "labels").mkdir(parents=True)
    (s / "train" / "labels" / "a_1_jpg.rf.x.txt").write_text("1 0.5 0.5 0.25 0.5")
    (s / "data.yaml").write_text("names: ['0', '1']\n")
    assert detect_kind(c) == "closeups" and detect_kind(s) == "signers"

    ds = CloseUps(c, "all")
    assert ds.files == ["Dataset/0/IMG_10.JPG", "Dataset/1/IMG_11.JPG"] and ds.num_hands == 0
    item = ds[1]
    assert item["image"].shape == (100, 100, 3) and item["category"] == "1" and not item["labelled"]
    assert item["boxes"].shape == (0, 4) and item["keypoints2d"].shape == (0, 21, 2)

    sf = SignerFrames(s, "train")
    it = sf[0]
    assert np.allclose(it["boxes"], [[30 - 0.5, 10 - 0.5, 50 - 0.5, 30 - 0.5]]) and list(it["box_classes"]) == ["1"]
    assert it["category"] == "a"

    out = tmp_path / "closeups.npz"
    label_images([ds.image_path(i) for i in range(len(ds))], c, out, ReplayTeacher(no_hand=("IMG_11.JPG",)),
                 progress=False)
    lab = CloseUps(c, "all", labels=out)
    assert lab.num_hands == 1 and lab.hand_index.tolist() == [[0, 0]]
    x = lab[0]
    assert x["labelled"] and x["keypoints2d"].shape == (1, 21, 2) and list(x["hand"]) == ["left"]
    assert lab[1]["labelled"] and lab[1]["keypoints2d"].shape == (0, 21, 2)
    h = lab.hand_sample(0)
    assert h["image"].shape == (100, 100, 3) and h["keypoints2d"].shape == (21, 2) and h["hand"] == "left"
    assert h["box"].shape == (4,) and h["world"].shape == (21, 3) and h["index"] == 0
    # labels of another folder are refused; a changed photo is caught when read
    with pytest.raises(ValueError, match="none of the 1 images"):
        SignerFrames(s, "train", labels=load_labels(out))
    write(c / "Dataset" / "0" / "IMG_10.JPG", 100, 100, 7)
    with pytest.raises(ValueError, match="sha1 mismatch"):
        lab[0]


def test_hagrid_refuses_training(tmp_path):
    write(tmp_path / "call" / "x.jpg")
    write(tmp_path / "rock" / "y.jpg")
    with pytest.raises(ValueError, match="evaluation only"):
        HagridSamples(tmp_path, "train")
    with pytest.raises(ValueError, match="evaluation only"):
        open_dataset(f"hagrid:{tmp_path}:train")
    with pytest.raises(ValueError, match="cannot be mixed into training"):
        open_mixture(f"hagrid:{tmp_path}")


@needs_real
def test_shared_sets_and_committed_splits():
    c, s, g = (REAL / FOLDERS[k] for k in ("closeups", "signers", "hagrid"))
    train, test = CloseUps(c, "train"), CloseUps(c, "test")
    assert (len(train), len(test)) == (1649, 413) and not set(train.files) & set(test.files)
    # the committed list is what the seeded, person-grouped shuffle gives, and splits no person
    on_disk = [p.relative_to(c).as_posix() for p in list_images(c / "Dataset")]
    assert make_closeups_test(on_disk) == read_split_list("closeups_test")
    held = set(test.files)
    assert all(len({f in held for f in grp}) == 1 for grp in closeup_people(on_disk))
    assert [len(SignerFrames(s, k)) for k in ("train", "valid", "test")] == [642, 178, 94]
    assert len(HagridSamples(g)) == 40
    assert [detect_kind(p) for p in (c, s, g)] == ["closeups", "signers", "hagrid"]
    assert len(open_dataset(f"closeups:{c}")) == 1649 and len(open_dataset(f"signers:{s}:test")) == 94
    assert len(open_dataset(str(g))) == 40
    fr = SignerFrames(s, "test")
    for i in (0, len(fr) - 1):
        it = fr[i]
        h, w = it["image"].shape[:2]
        b = it["boxes"]
        assert len(b) >= 1 and (b[:, :2] >= -0.5).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()

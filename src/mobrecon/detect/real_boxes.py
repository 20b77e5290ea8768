"""Real photographs as detector training images, mixed with composites.

:func:`build_real_boxes` letterboxes every training photo to the detector's input size (as
:class:`~mobrecon.detect.detector.HandDetector` does) and keeps its hand boxes and handedness:

* signer frames (train split): with ``boxes="teacher"`` (the default) the teacher's hand
  nearest each gesture box, its keypoint box widened to the whole hand like the close-ups';
  with ``boxes="all"`` every hand the teacher found in the frame (labels made on the images
  themselves, :data:`~mobrecon.detect.real_eval.ALL_HANDS_LABELS`: with one hand per gesture
  box, the second hand of 58 % of the frames was taught as background); with ``boxes="set"``
  the set's own boxes, which are the annotators' *gesture* boxes (often both hands and part of
  the forearm, median 2.3x the hand), each classed as the teacher's hand whose keypoint box
  centre lies nearest. Frames where the teacher found no hand are left out (their hands and
  classes are unknown);
* close-ups (train split, one hand each): the teacher's keypoint box widened to the whole hand
  (:func:`~mobrecon.detect.real_eval.whole_hand_box`), the class the teacher's hand.

The result is a small cache (``.npz``: ``images`` (N, S, S, 3) uint8, ``boxes`` (N, 2, 4)
float32 NaN padded, ``left`` (N, 2) bool, ``n_boxes`` (N,), ``source`` (N,) str), written
atomically. :class:`MixedDetectionSet` serves composites and cached real images together for
:mod:`mobrecon.detect.train`, the real ones augmented like composites (a left-right flip that
swaps handedness half the time, a random zoom and shift).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.crop import to_tensor_image
from mobrecon.data.real_photos import CloseUps, SignerFrames
from mobrecon.detect.dataset import CompositeDataset, augment
from mobrecon.detect.detector import letterbox
from mobrecon.detect.real_eval import ALL_HANDS_LABELS, teacher_hands, whole_hand_box
from mobrecon.detect.targets import encode_targets
from mobrecon.io_utils import atomic_save_npz

MAX_BOXES = 2
SIGNER_BOXES = ("teacher", "all", "set")


def _entry(image: np.ndarray, boxes: np.ndarray, left: np.ndarray, size: int) -> tuple:
    """(letterboxed image (S, S, 3), boxes in input pixels (n, 4), left (n,))."""
    boxed, lb = letterbox(image, size)
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] + 0.5) * lb.scale_x - 0.5 + lb.pad_x
    b[:, [1, 3]] = (b[:, [1, 3]] + 0.5) * lb.scale_y - 0.5 + lb.pad_y
    return boxed, np.clip(b, -0.5, size - 0.5).astype(np.float32), np.asarray(left, bool).reshape(-1)


def signer_entries(signers, size: int = 256, boxes: str = "teacher", all_hands: dict | None = None):
    """Yield (image, boxes, left, 'signers') for the frames of ``signers`` (teacher labels
    attached) that have a set box and a teacher hand; ``boxes``: "teacher" (whole-hand boxes of
    the teacher's hands), "all" (of every hand in ``all_hands``, a
    :func:`~mobrecon.detect.real_eval.teacher_hands` mapping) or "set" (the set's gesture boxes)."""
    if boxes not in SIGNER_BOXES:
        raise ValueError(f"boxes={boxes!r}: expected one of {', '.join(SIGNER_BOXES)}")
    if boxes == "all" and all_hands is None:
        raise ValueError('boxes="all" needs the all_hands mapping')
    for i in range(len(signers)):
        if boxes == "all":
            if signers.files[i] not in all_hands:
                continue
            kp, left = all_hands[signers.files[i]]
            yield (*_entry(signers[i]["image"], whole_hand_box(kp[:MAX_BOXES]), left[:MAX_BOXES], size), "signers")
            continue
        it = signers[i]
        if not len(it["boxes"]) or not len(it["box"]):
            continue
        if boxes == "teacher":
            hands = whole_hand_box(it["box"][:MAX_BOXES])
            lefts = [str(h) == "left" for h in it["hand"][:MAX_BOXES]]
            yield (*_entry(it["image"], hands, lefts, size), "signers")
            continue
        tc = (it["box"][:, :2] + it["box"][:, 2:]) / 2
        lefts = []
        for b in it["boxes"][:MAX_BOXES]:
            c = (b[:2] + b[2:]) / 2
            lefts.append(str(it["hand"][int(np.argmin(((tc - c) ** 2).sum(1)))]) == "left")
        yield (*_entry(it["image"], it["boxes"][:MAX_BOXES], lefts, size), "signers")


def closeup_entries(closeups, size: int = 256):
    """Yield (image, boxes, left, 'closeups') for every teacher hand of ``closeups``."""
    for j in range(closeups.num_hands):
        s = closeups.hand_sample(j)
        yield (*_entry(s["image"], whole_hand_box(s["box"])[None], [s["hand"] == "left"], size), "closeups")


def build_real_boxes(out: str | Path, entries) -> Path:
    """Write the cache of ``entries`` (an iterable of (image, boxes, left, source)) to ``out``."""
    images, boxes, lefts, counts, sources = [], [], [], [], []
    for img, b, lf, src in entries:
        pad_b = np.full((MAX_BOXES, 4), np.nan, np.float32)
        pad_l = np.zeros(MAX_BOXES, bool)
        n = min(len(b), MAX_BOXES)
        pad_b[:n], pad_l[:n] = b[:n], lf[:n]
        images.append(img)
        boxes.append(pad_b)
        lefts.append(pad_l)
        counts.append(n)
        sources.append(src)
    if not images:
        raise ValueError(f"{out}: no real training images to cache")
    atomic_save_npz(out, {"images": np.stack(images), "boxes": np.stack(boxes), "left": np.stack(lefts),
                          "n_boxes": np.array(counts, np.int16), "source": np.array(sources, dtype=str)})
    return Path(out)


class RealBoxes:
    """A cache written by :func:`build_real_boxes`: ``raw(i)`` as :meth:`CompositeDataset.raw`."""

    def __init__(self, path: str | Path):
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such real-box cache (make it with mobrecon detect-real)")
        with np.load(p) as z:
            missing = {"images", "boxes", "left", "n_boxes"} - set(z.files)
            if missing:
                raise ValueError(f"{p}: not a real-box cache (missing {', '.join(sorted(missing))})")
            self.images, self.boxes, self.left, self.n = z["images"], z["boxes"], z["left"], z["n_boxes"]

    def __len__(self) -> int:
        return len(self.images)

    def raw(self, i: int) -> dict:
        n = int(self.n[i])
        return {"image": self.images[i], "boxes": self.boxes[i, :n].copy(), "left": self.left[i, :n].copy(),
                "index": int(i)}


class MixedDetectionSet(Dataset):
    """Composites (augmented by :class:`CompositeDataset`) followed by ``repeat`` copies of the
    real caches. Index ``epoch * len + i`` as the trainer's sampler gives it; real items are
    augmented from (seed, epoch, i) with :func:`~mobrecon.detect.dataset.augment`."""

    def __init__(self, composites: CompositeDataset, real: Sequence[RealBoxes], repeat: int = 1, seed: int = 0):
        self.comp, self.real, self.repeat, self.seed = composites, list(real), int(repeat), int(seed)
        self._starts = np.concatenate([[0], np.cumsum([len(r) for r in self.real])])
        self.n_real = int(self._starts[-1])

    def __len__(self) -> int:
        return len(self.comp) + self.repeat * self.n_real

    def __getitem__(self, idx: int) -> dict:
        epoch, i = divmod(int(idx), len(self))
        nc = len(self.comp)
        if i < nc:
            return self.comp[epoch * nc + i]
        j = (i - nc) % self.n_real
        s = int(np.searchsorted(self._starts, j, side="right") - 1)
        item = self.real[s].raw(j - int(self._starts[s]))
        rng = np.random.default_rng([self.seed, epoch, i, 7])
        img, boxes, left = augment(rng, item["image"], item["boxes"], item["left"])
        t = encode_targets(boxes, left.astype(np.int64), img.shape[0])
        return {"input": to_tensor_image(img), **t}


CACHE_SPLITS = ("train", "valid")


def make_real_cache(realdata: str | Path, labels: str | Path, out: str | Path, size: int = 256,
                    signer_boxes: str = "teacher", split: str = "train") -> dict:
    """A cache of real photos with hand boxes from ``realdata`` with the teacher's ``labels``
    folder (``signers.npz``, ``closeups.npz``), never of a test split nor of HaGRID: ``split``
    "train", the signer frames' and the close-ups' training splits (to train on); "valid", the
    signer frames' validation split (to calibrate on; the close-ups have none).
    ``signer_boxes`` as :func:`signer_entries`'s ``boxes``; returns counts per source."""
    if split not in CACHE_SPLITS:
        raise ValueError(f"split must be one of {', '.join(CACHE_SPLITS)}, got {split!r}")
    realdata, labels = Path(realdata), Path(labels)
    needed = ("signers.npz", "closeups.npz") + ((ALL_HANDS_LABELS,) if signer_boxes == "all" else ())
    how = {ALL_HANDS_LABELS: " on the signer frames' image folders, without --set"}
    for name in needed:
        if not (labels / name).is_file():
            raise FileNotFoundError(f"{labels / name}: teacher labels missing (make them with mobrecon label"
                                    f"{how.get(name, '')})")
    signers = SignerFrames(realdata / "rf100-hand-gestures", split, labels=labels / "signers.npz")
    all_hands = teacher_hands(labels / ALL_HANDS_LABELS) if signer_boxes == "all" else None

    def entries():
        yield from signer_entries(signers, size, signer_boxes, all_hands)
        if split == "train":
            yield from closeup_entries(CloseUps(realdata / "sign-language-digits", "train",
                                                labels=labels / "closeups.npz"), size)

    build_real_boxes(out, entries())
    with np.load(out) as z:
        src = z["source"]
        return {"images": int(len(src)), **{s: int((src == s).sum()) for s in np.unique(src)}}

"""Hand crops for the handedness classifier, from generated sets.

Two kinds of set are read, told apart by their annotations:

* still sets (``mobrecon synth``): one right hand per image, its window the box of its 2D joints;
* composite sets (``mobrecon detect-data``): every hand of every image, its window its
  ground-truth box, its label the stored handedness.

``HandCrops(roots)[i]`` is a dict ``input`` (3, S, S) float32 (normalised crop) and ``left``
(float32 0 / 1).

With ``augment`` the window is scaled (x0.8-1.45), shifted (up to 15 % of its side), turned
(up to 46 degrees, or any angle one time in five), photometrically jittered, and mirrored half
the time -- a mirrored right hand is a left hand, so the label flips with it -- all drawn from
(seed, epoch, index); index ``i`` past the end is item ``i % len`` of epoch ``i // len`` (how
the fit asks for more than one view of each hand). Without ``augment`` the set has ``2 * n`` items: every hand as
stored, then every hand mirrored, each in its plain window (box widened by 1.3, unturned), which
is what the predictor shows the classifier.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.crop import BOX_MARGIN, CropBox, crop_image, hand_box, to_tensor_image
from mobrecon.detect.dataset import composite_roots
from mobrecon.photometric import augment_photometric
from mobrecon.synth import storage


class HandCrops(Dataset):
    """Hands of still and composite sets as (crop, left) pairs; see the module docstring."""

    def __init__(self, roots: str | Path | Sequence[str | Path], size: int = 128, augment: bool = False,
                 seed: int = 0):
        self.size, self.augment, self.seed = int(size), augment, int(seed)
        self.shards: list[Path] = []
        self.offsets: list[np.ndarray] = []
        hands = []  # (shard number, image in shard, cx, cy, side, left)
        for root in composite_roots(roots):
            if not root.is_dir():
                raise FileNotFoundError(f"{root}: no such data directory")
            shards = storage.complete_shards(root)
            if not shards:
                raise FileNotFoundError(f"{root}: no complete shards")
            for p in shards:
                with np.load(p / "annotations.npz") as z:
                    ann = {k: z[k] for k in z.files}
                s = len(self.shards)
                self.shards.append(p)
                self.offsets.append(ann["rgb_offsets"])
                hands += _hands_of(ann, s, p)
        if not hands:
            raise ValueError("the data holds no hands")
        self.hands = np.asarray(hands, np.float64)

    @property
    def n_hands(self) -> int:
        return len(self.hands)

    def __len__(self) -> int:
        return self.n_hands * (1 if self.augment else 2)

    def image(self, k: int) -> np.ndarray:
        s, j = int(self.hands[k, 0]), int(self.hands[k, 1])
        try:
            return storage.decode_rgb(storage.read_blob(self.shards[s] / "rgb.bin", self.offsets[s], j))
        except ValueError:
            raise ValueError(f"{self.shards[s]}: corrupt JPEG for image {j}") from None

    def __getitem__(self, i: int) -> dict:
        n = self.n_hands
        if self.augment:
            epoch, k = divmod(int(i), n)
            rng = np.random.default_rng([self.seed, epoch, k])
        else:
            if not 0 <= i < 2 * n:
                raise IndexError(f"index {i} out of range for {2 * n} crops")
            rng, (flip, k) = None, divmod(int(i), n)
        _, _, cx, cy, side, left = self.hands[k]
        box = CropBox(cx, cy, side, 0.0)
        if rng is not None:
            side *= math.exp(rng.uniform(math.log(0.8), math.log(1.45)))
            dx, dy = rng.uniform(-0.15, 0.15, 2) * box.side
            rot = rng.uniform(-math.pi, math.pi) if rng.random() < 0.2 else rng.uniform(-0.8, 0.8)
            box = CropBox(cx + dx, cy + dy, side, rot)
            flip = rng.random() < 0.5
        crop = crop_image(self.image(k), box, self.size)
        if rng is not None and rng.random() < 0.8:
            crop = augment_photometric(rng, crop)
        if flip:
            crop = crop[:, ::-1]
        return {"input": to_tensor_image(crop), "left": np.float32(bool(left) != bool(flip))}


def _hands_of(ann: dict, shard: int, where: Path) -> list[tuple]:
    """(shard, image, cx, cy, side, left) of every hand in one shard's annotations."""
    out = []
    if "n_hands" in ann:  # a composite shard
        for j, n in enumerate(ann["n_hands"]):
            for h in range(int(n)):
                b = CropBox.from_corners(*(float(v) for v in ann["boxes"][j, h]), margin=BOX_MARGIN)
                out.append((shard, j, b.cx, b.cy, b.side, bool(ann["left"][j, h])))
    elif "joints2d" in ann:  # a still shard: one right hand
        for j, j2 in enumerate(ann["joints2d"]):
            b = hand_box(j2, margin=BOX_MARGIN)
            out.append((shard, j, b.cx, b.cy, b.side, False))
    else:
        raise ValueError(f"{where}: neither a still nor a composite shard")
    return out


class RealHandCrops(Dataset):
    """Teacher-labelled hands of real photo sets (:mod:`mobrecon.data.real_photos` readers with
    labels attached; TRAIN splits only) as (crop, left) pairs, the window the teacher's keypoint
    box widened by 1.3 (the predictor's crop of a detected whole-hand box), the label the
    teacher's hand. Augmented as :class:`HandCrops` (scale, shift, turn, photometric, mirrored
    half the time with the label flipped); index ``i`` past the end: epoch ``i // n``."""

    def __init__(self, sets: Sequence, size: int = 128, seed: int = 0):
        self.sets, self.size, self.seed, self.augment = list(sets), int(size), int(seed), True
        self.index = [(s, j) for s, ds in enumerate(self.sets) for j in range(ds.num_hands)]
        if not self.index:
            raise ValueError("the real photo sets hold no teacher-labelled hands")

    @property
    def n_hands(self) -> int:
        return len(self.index)

    def __len__(self) -> int:
        return self.n_hands

    def __getitem__(self, i: int) -> dict:
        epoch, k = divmod(int(i), self.n_hands)
        s, j = self.index[k]
        h = self.sets[s].hand_sample(j)
        rng = np.random.default_rng([self.seed, epoch, k, 11])
        base = hand_box(h["keypoints2d"], margin=BOX_MARGIN)
        side = base.side * math.exp(rng.uniform(math.log(0.85), math.log(1.3)))
        dx, dy = rng.uniform(-0.1, 0.1, 2) * base.side
        rot = rng.uniform(-math.pi, math.pi) if rng.random() < 0.2 else rng.uniform(-0.8, 0.8)
        crop = crop_image(h["image"], CropBox(base.cx + dx, base.cy + dy, side, rot), self.size)
        if rng.random() < 0.8:
            crop = augment_photometric(rng, crop)
        flip = rng.random() < 0.5
        if flip:
            crop = crop[:, ::-1]
        return {"input": to_tensor_image(crop), "left": np.float32((h["hand"] == "left") != flip)}

"""Reading a composite set (:mod:`mobrecon.detect.composites`) for training and evaluation.

``CompositeDataset(root)[i]`` is a dict: ``image`` (S, S, 3) uint8 RGB, ``boxes`` (n, 4)
float32 pixels (x0, y0, x1, y1), ``left`` (n,) bool, ``index`` int. With ``augment`` (training)
each item is randomly flipped left-right (handedness swapped with it) and scaled / shifted,
deterministically from (seed, epoch, index) (see ``__getitem__``), and carries the head targets
(:func:`mobrecon.detect.targets.encode_targets`) as ``input`` (3, S, S) float32 plus
``heatmap``, ``size``, ``offset`` and ``mask``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.crop import to_tensor_image
from mobrecon.detect.targets import encode_targets
from mobrecon.synth import storage


def composite_roots(root: str | Path | Sequence[str | Path]) -> list[Path]:
    """One composite directory, a list of them, or a comma-separated string of them -> paths."""
    if isinstance(root, (str, Path)):
        parts = [p.strip() for p in str(root).split(",")] if isinstance(root, str) else [root]
    else:
        parts = [str(p).strip() if isinstance(p, str) else p for p in root]
    roots = [Path(p) for p in parts if str(p)]
    if not roots:
        raise ValueError("no composite set given")
    return roots


class CompositeDataset(Dataset):
    """The complete shards of ``root`` (annotations loaded once, images decoded per item).
    ``root`` may also be several composite sets (a list, or one string of comma-separated
    directories): their images are concatenated in the order given."""

    def __init__(self, root: str | Path | Sequence[str | Path], augment: bool = False, seed: int = 0):
        self.roots = composite_roots(root)
        self.root = self.roots[0]
        self.shards = []
        for r in self.roots:
            if not r.is_dir():
                raise FileNotFoundError(f"{r}: no such composite set")
            shards = storage.complete_shards(r)
            if not shards:
                raise FileNotFoundError(f"{r}: no complete shards (make them with mobrecon detect-data)")
            self.shards.extend(shards)
        self.ann = []
        for p in self.shards:
            with np.load(p / "annotations.npz") as z:
                if "n_hands" not in z.files:
                    raise ValueError(f"{p}: not a composite (detection) shard")
                self.ann.append({k: z[k] for k in z.files})
        self._starts = np.concatenate([[0], np.cumsum([len(a["index"]) for a in self.ann])])
        self.augment, self.seed = augment, int(seed)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def raw(self, i: int) -> dict:
        """Item ``i`` as stored (no augmentation, no targets)."""
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        j = i - int(self._starts[s])
        a = self.ann[s]
        try:
            rgb = storage.decode_rgb(storage.read_blob(self.shards[s] / "rgb.bin", a["rgb_offsets"], j))
        except ValueError:
            raise ValueError(f"{self.shards[s]}: corrupt JPEG for image {j}") from None
        n = int(a["n_hands"][j])
        return {"image": rgb, "boxes": a["boxes"][j, :n].astype(np.float32),
                "left": a["left"][j, :n].astype(bool), "index": int(a["index"][j])}

    def __getitem__(self, i: int) -> dict:
        """Item ``i``; with ``augment``, ``i`` may run past the end: item ``i % len`` augmented
        for epoch ``i // len`` (how the training sampler says which epoch it is drawing for)."""
        epoch, i = divmod(int(i), len(self)) if self.augment else (0, int(i))
        item = self.raw(i)
        if not self.augment:
            return item
        rng = np.random.default_rng([self.seed, epoch, i])
        img, boxes, left = augment(rng, item["image"], item["boxes"], item["left"])
        S = img.shape[0]
        t = encode_targets(boxes, left.astype(np.int64), S)
        return {"input": to_tensor_image(img), **t}


def augment(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, left: np.ndarray,
            scale=(0.6, 1.4), min_side: float = 6.0):
    """Random left-right flip (swapping handedness) and a random zoom (``scale``) about a random
    point, keeping the image size. image (S, S, 3) uint8, boxes (n, 4), left (n,) -> the same,
    boxes clipped to the image; boxes left with less than 40 % of their area inside the image,
    or a side under ``min_side`` pixels, are dropped."""
    S = image.shape[1]
    boxes = boxes.copy()
    left = left.copy()
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = S - 1 - boxes[:, [2, 0]]
        left = ~left
    s = float(np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1]))))
    tx, ty = rng.uniform(-0.25, 0.25, 2) * S * max(s, 1.0) + (1 - s) * (S - 1) / 2
    M = np.array([[s, 0, tx], [0, s, ty]], np.float64)
    fill = tuple(int(v) for v in image.reshape(-1, 3)[rng.integers(0, S * S)])  # a pixel's colour
    out = cv2.warpAffine(np.ascontiguousarray(image), M, (S, S), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT if rng.random() < 0.5 else cv2.BORDER_CONSTANT,
                         borderValue=fill)
    b = boxes * s + np.array([tx, ty, tx, ty])
    area = np.maximum(b[:, 2] - b[:, 0], 1e-6) * np.maximum(b[:, 3] - b[:, 1], 1e-6)
    c = np.clip(b, -0.5, S - 0.5)
    inside = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1]) / area
    keep = (inside >= 0.4) & ((c[:, 2:] - c[:, :2]).min(1) >= min_side)
    return out, c[keep].astype(np.float32), left[keep]

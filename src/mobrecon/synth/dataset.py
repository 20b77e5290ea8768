"""A ``torch.utils.data.Dataset`` over a set written by ``mobrecon synth``
(layout: :mod:`mobrecon.synth.storage`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from mobrecon.synth import storage


class SynthDataset(Dataset):
    """Reads the complete shards of ``root`` lazily: annotations are loaded once (about 1 kB per
    sample), images are decoded and vertices memory-mapped per item.

    ``ds[i]`` is a dict of numpy arrays: ``image`` (H, W, 3) uint8 RGB, ``mask`` (H, W) bool hand
    silhouette, ``visible`` (H, W) bool (silhouette minus occluders), ``depth`` (H, W) float32
    metres (0 off the hand), ``vertices`` (V, 3) and ``joints3d`` (21, 3) float32 camera space,
    ``joints2d`` (21, 2) pixels, ``K``, ``R``, ``t``, ``pose`` (16, 3), ``shape`` (6,), and the
    ids ``pose_id``, ``view_id``, ``index``, and ``sequence`` (str) / ``frame`` (int) / ``crop``
    (3,) (video sets, :mod:`mobrecon.synth.video`; image sets: '' / -1 / the whole image);
    ``transform`` (if given) is applied to that dict.

    ``config`` is the set's config.json (empty if absent); ``fps`` its frame rate (None for
    image sets); :meth:`sequences` groups the indices of a video set by sequence.
    """

    def __init__(self, root: str | Path, transform=None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such data directory")
        self.shards = storage.complete_shards(self.root)
        if not self.shards:
            raise FileNotFoundError(f"{self.root}: no complete shards (run mobrecon synth --out {self.root})")
        self.ann = []
        for p in self.shards:
            with np.load(p / "annotations.npz") as z:
                self.ann.append(storage.with_defaults({k: z[k] for k in z.files}))
        cfg_path = self.root / "config.json"
        self.config: dict = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        self.fps: float | None = self.config.get("fps")
        sizes = [len(a["index"]) for a in self.ann]
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self._verts: dict[int, np.ndarray] = {}
        self.transform = transform

    def __len__(self) -> int:
        return int(self._starts[-1])

    def sequences(self) -> dict[str, np.ndarray]:
        """Sequence name -> (F,) int64 dataset indices of its frames, in frame order (image
        samples, sequence '', are left out)."""
        seq = np.concatenate([a["sequence"] for a in self.ann])
        frame = np.concatenate([a["frame"] for a in self.ann])
        order = np.lexsort((frame, seq))  # by sequence, then frame
        names, starts = np.unique(seq[order], return_index=True)
        groups = np.split(order.astype(np.int64), starts[1:])
        return {str(n): g for n, g in zip(names, groups) if n}

    def locate(self, i: int) -> tuple[int, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        i %= len(self)
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        return s, i - int(self._starts[s])

    def __getitem__(self, i: int) -> dict:
        s, j = self.locate(int(i))
        a, path = self.ann[s], self.shards[s]
        if s not in self._verts:
            self._verts[s] = np.load(path / "vertices.npy", mmap_mode="r")
        label = storage.decode_label(storage.read_blob(path / "mask.bin", a["mask_offsets"], j))
        root = a["root"][j]
        item = {
            "image": storage.decode_rgb(storage.read_blob(path / "rgb.bin", a["rgb_offsets"], j)),
            "mask": label > 0,
            "visible": label == storage.MASK_VISIBLE,
            "depth": storage.decode_depth(storage.read_blob(path / "depth.bin", a["depth_offsets"], j)),
            "vertices": np.asarray(self._verts[s][j], dtype=np.float32) + root,
        }
        for k in ("joints3d", "joints2d", "K", "R", "t", "root", "pose", "shape", "pose_id", "view_id",
                  "index", "occluded", "crop"):
            item[k] = a[k][j]
        item["sequence"] = str(a["sequence"][j])
        item["frame"] = int(a["frame"][j])
        return self.transform(item) if self.transform is not None else item

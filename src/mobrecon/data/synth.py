"""The project's synthetic sets (written by ``mobrecon synth``) as a Dataset of sample dicts.

A thin adapter over :class:`mobrecon.synth.dataset.SynthDataset`: the generator's item already
holds camera-space ``vertices`` / ``joints3d`` (metres, FreiHAND order), ``joints2d``, ``K``,
the RGB ``image`` and the full hand silhouette ``mask``; the rest of its keys are dropped.
``sequence`` / ``frame`` are taken from the item when the set has them (video sets), else
``''`` / ``-1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.sample import make_sample
from mobrecon.synth.dataset import SynthDataset


def _as_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        value = value.item()
        return value.decode() if isinstance(value, bytes) else str(value)
    return str(value)


@register_reader("synth", layout="shard_*/annotations.npz")
class SynthSet(Dataset):
    """``ds[i]`` -> the sample dict (``dataset='synth'``) of sample ``i`` of the set in ``root``."""

    @staticmethod
    def looks_like(root: Path) -> bool:
        """Whether ``root`` holds a set written by ``mobrecon synth`` (its shards)."""
        return any(Path(root).glob("shard_*/annotations.npz"))

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.source = SynthDataset(self.root)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        item = self.source[i]
        vertices = np.asarray(item["vertices"], np.float32)
        return make_sample(item["image"], item["K"], joints2d=item["joints2d"], joints3d=item["joints3d"],
                           vertices=vertices, mask=item["mask"], dataset="synth", index=i % len(self),
                           sequence=_as_str(item["sequence"]) if "sequence" in item else "",
                           frame=int(item["frame"]) if "frame" in item else -1,
                           num_vertices=len(vertices))

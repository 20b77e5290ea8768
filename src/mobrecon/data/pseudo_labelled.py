"""Real photos as training samples: the teacher's 2D keypoints and the fitted pseudo-meshes.

A fits file (``mobrecon fit``, :mod:`mobrecon.data.pseudo_mesh`) holds, per hand of a real photo
set, the teacher's keypoints and OpenHand fitted to them (camera-space vertices and joints with
the K they were fitted with, a confidence, a keep flag). :class:`PseudoLabelledSet` turns the
kept hands of one split of that set into sample dicts like every other reader's, so the trainer
needs no special path:

* ``joints2d``: the teacher's keypoints (the 2D loss);
* ``vertices`` / ``joints3d``: the pseudo-mesh, and ``has_vertices`` / ``has_joints3d`` hold the
  fit's confidence (a float in [0, 1]) instead of True: the 3D losses are masked means weighted
  by these flags, so a doubtful fit counts less (``confidence=False``: weight 1 for every kept fit);
* left hands come mirrored (image and labels), as the right-hand network sees them.

The split is the real set's own (:mod:`mobrecon.data.real_photos`: the committed held-out lists),
found from the folder the fits file names, so a fits file made over a whole set trains only on
its training split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.pseudo_mesh import FITS_FORMAT, pseudo_mesh_sample
from mobrecon.data.real_photos import READERS, detect_real_set
from mobrecon.image import read_image
from mobrecon.io_utils import read_npz


def read_fits(path: str | Path) -> dict[str, np.ndarray]:
    """A fits file as a dict of arrays; a missing or foreign file is a one-line error naming it."""
    path = Path(path)
    fits = read_npz(path, "fits")
    if str(fits.get("format", "")) != FITS_FORMAT:
        raise ValueError(f"{path}: not a pseudo-mesh fits file (format {str(fits.get('format', ''))!r}, "
                         f"expected {FITS_FORMAT!r})")
    return fits


@register_reader("pseudo", train="train", evaluation="test", file="fits")  # the split is its real set's own
class PseudoLabelledSet(Dataset):
    """``ds[i]`` -> the sample dict of the ``i``-th kept hand of ``split`` in a fits file.

    Args:
        fits: a fits file (``mobrecon fit``) of one real photo set.
        split: the set's split to use (``train`` by default; ``test`` to score on).
        images: the set's folder, if not where the fits file says (``root``).
        confidence: weigh the 3D losses by the fit's confidence (else 1 for every kept fit).
        min_box: drop hands whose keypoint box's longer side is under this share of the photo's
            shorter side. Default: 1/3 for sets of one hand filling the photo (the close-ups:
            there the teacher's rare tiny "hands" are painted nails or knuckles, seen on a grid
            of the smallest ones), 0 for the others.
    """

    def __init__(self, fits: str | Path, split: str = "train", images: str | Path | None = None,
                 confidence: bool = True, min_box: float | None = None):
        self.path = Path(fits)
        self.fits = read_fits(self.path)
        self.root = Path(images) if images is not None else Path(str(self.fits["root"]))
        kind = detect_real_set(self.root) if self.root.is_dir() else None
        if kind is None:
            raise FileNotFoundError(f"{self.path}: its photos' folder {self.root} is missing or not a real photo "
                                    "set (pass images=)")
        if kind == "hagrid" and split != "test":
            raise ValueError(f"{self.path}: HaGRID photos are for evaluation only; no training split")
        self.kind, self.split = kind, split
        members = set(READERS[kind](self.root, split=split).files)
        files = self.fits["files"]
        in_split = np.array([str(files[i]) in members for i in self.fits["image"]], bool)
        if min_box is None:
            min_box = 1 / 3 if READERS[kind].ONE_HAND else 0.0
        kp = self.fits["keypoints2d"]
        side = (kp.max(1) - kp.min(1)).max(1)
        big = side >= min_box * self.fits["size"][self.fits["image"]].min(1)
        self.hands = np.flatnonzero(in_split & big & self.fits["keep"].astype(bool))
        self.weight = self.fits["confidence"].astype(np.float32) if confidence else \
            np.ones(len(self.fits["keep"]), np.float32)

    def __len__(self) -> int:
        return len(self.hands)

    def __getitem__(self, i: int) -> dict:
        j = int(self.hands[int(i)])
        path = self.root / str(self.fits["files"][self.fits["image"][j]])
        sample = pseudo_mesh_sample(self.fits, j, read_image(path), dataset=self.kind)
        sample["index"] = int(i)
        sample["has_vertices"] = sample["has_joints3d"] = np.float32(self.weight[j])
        return sample

"""FreiHAND (Zimmermann et al., ICCV 2019) as a ``torch.utils.data.Dataset`` of sample dicts.

Published layout under ``root`` (the folder where ``training/`` and ``evaluation/`` branch off)::

    training/rgb/%08d.jpg        N = 32,560 ids x 4 versions: the image of id i in version k
                                 (gs, hom, sample, auto, in that order) is file i + k * N
    training/mask/%08d.jpg       hand silhouette of id i (shared by the four versions), JPEG
    training_K.json              (N, 3, 3) intrinsics
    training_xyz.json            (N, 21, 3) keypoints, metres, camera space, FreiHAND order
    training_verts.json          (N, 778, 3) MANO vertices, metres, camera space
    training_mano.json           61 MANO parameters per id: 48 pose, 10 shape, 3 translation
    training_scale.json          (N,) reference bone length
    evaluation/rgb/%08d.jpg      M = 3,960 ids, one version (gs) only
    evaluation_K.json, evaluation_scale.json
    evaluation_xyz.json, evaluation_verts.json, evaluation_mano.json   (released later; optional)
    evaluation/segmap/%08d.png   part labels, 0 = background (released later; optional)

All hands are right hands. Annotations are read once at construction (as float32 arrays);
images and masks are decoded per item. ``training_mano.json`` is not read (the vertices are
given). Parsing ``training_verts.json`` takes a few GB of memory for a moment; pass
``load_vertices=False`` when the meshes are not needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.sample import NUM_JOINTS, make_sample
from mobrecon.image import read_image

VERSIONS = ("gs", "hom", "sample", "auto")  # order of the versions in training/rgb
SPLITS = ("training", "evaluation")


def _load_json(path: Path, shape_tail: tuple[int, ...]) -> np.ndarray:
    """A JSON list of arrays -> float32 array (n, *shape_tail); one-line errors naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: FreiHAND annotation file missing")
    with open(path) as fh:
        try:
            data = np.asarray(json.load(fh), dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a JSON array of numbers ({e})") from None
    try:
        return data.reshape((len(data),) + shape_tail)
    except ValueError:
        raise ValueError(f"{path}: expected entries of shape {shape_tail}, got array {data.shape}") from None


@register_reader("freihand", train="training", evaluation="evaluation",
                 markers={"training": "training_K.json", "evaluation": "evaluation_K.json"})
class FreiHAND(Dataset):
    """``ds[i]`` -> the sample dict of :mod:`mobrecon.data.sample` (``dataset='freihand'``).

    Args:
        root: folder holding ``training/``, ``evaluation/`` and the ``*_K.json`` files.
        split: ``"training"`` or ``"evaluation"``.
        version: training image version(s): one of ``gs`` (green screen), ``hom``, ``sample``,
            ``auto``, a sequence of them, or ``"all"`` (the four, 4 N samples). Sample ``i`` is
            id ``i % N`` of version ``versions[i // N]``. The evaluation split has only ``gs``.
        load_vertices: read ``*_verts.json`` if present (about 300 MB as float32 for training).

    Evaluation without released annotations: ``joints2d``/``joints3d`` are zeros with
    ``joints2d_valid`` all 0 and ``has_joints3d`` False; images and ``K`` are real.
    """

    def __init__(self, root: str | Path, split: str = "training", version: str | Sequence[str] = "gs",
                 load_vertices: bool = True):
        self.root = Path(root)
        if split not in SPLITS:
            raise ValueError(f"FreiHAND split must be one of {SPLITS}, got {split!r}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such FreiHAND directory")
        self.split = split
        versions = VERSIONS if version == "all" else (version,) if isinstance(version, str) else tuple(version)
        bad = [v for v in versions if v not in VERSIONS]
        if bad or not versions:
            raise ValueError(f"FreiHAND version must be among {VERSIONS} or 'all', got {version!r}")
        if split == "evaluation" and versions != ("gs",):
            raise ValueError(f"FreiHAND evaluation images exist only in version 'gs', got {version!r}")
        self.versions = versions
        self.image_dir = self.root / split / "rgb"
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: FreiHAND image folder missing")

        self.K = _load_json(self.root / f"{split}_K.json", (3, 3))
        n = len(self.K)
        xyz_path = self.root / f"{split}_xyz.json"
        if split == "training" or xyz_path.is_file():
            self.xyz = _load_json(xyz_path, (NUM_JOINTS, 3))
            if len(self.xyz) != n:
                raise ValueError(f"{xyz_path}: {len(self.xyz)} entries but {split}_K.json has {n}")
        else:
            self.xyz = None
        verts_path = self.root / f"{split}_verts.json"
        self.verts = None
        if load_vertices and verts_path.is_file():
            verts = _load_json(verts_path, (-1, 3))
            if len(verts) != n:
                raise ValueError(f"{verts_path}: {len(verts)} entries but {split}_K.json has {n}")
            self.verts = verts
        self.num_ids = n

    def __len__(self) -> int:
        return self.num_ids * len(self.versions)

    def _locate(self, i: int) -> tuple[int, str]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} FreiHAND samples")
        i %= len(self)
        return i % self.num_ids, self.versions[i // self.num_ids]

    def image_path(self, i: int) -> Path:
        """File of sample ``i``'s photo (id offset by the version's block of N files)."""
        sid, version = self._locate(int(i))
        return self.image_dir / f"{sid + VERSIONS.index(version) * self.num_ids:08d}.jpg"

    def mask_path(self, i: int) -> Path | None:
        """The silhouette file of sample ``i`` if the data set has one on disk, else None."""
        sid, _ = self._locate(int(i))
        if self.split == "training":
            candidates = [self.root / "training" / "mask" / f"{sid:08d}.jpg"]
        else:
            candidates = [self.root / "evaluation" / "segmap" / f"{sid:08d}.png",
                          self.root / "evaluation" / "mask" / f"{sid:08d}.jpg"]
        return next((p for p in candidates if p.is_file()), None)

    def _read_mask(self, path: Path) -> np.ndarray:
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise ValueError(f"{path}: unreadable mask image")
        # JPEG masks are 0/255 with compression noise; PNG segmaps hold part labels (0 = none)
        return m > 127 if path.suffix == ".jpg" else m > 0

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        sid, _ = self._locate(i)
        image = read_image(self.image_path(i))
        mpath = self.mask_path(i)
        mask = self._read_mask(mpath) if mpath is not None else None
        vertices = self.verts[sid] if self.verts is not None else None
        common = dict(image=image, K=self.K[sid], vertices=vertices, mask=mask, dataset="freihand",
                      index=i % len(self), num_vertices=778 if vertices is None else len(vertices))
        if self.xyz is not None:
            return make_sample(joints3d=self.xyz[sid], **common)
        zeros = np.zeros((NUM_JOINTS, 2), np.float32)
        return make_sample(joints2d=zeros, joints2d_valid=np.zeros(NUM_JOINTS, np.float32), **common)

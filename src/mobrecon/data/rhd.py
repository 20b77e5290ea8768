"""The Rendered Hand Pose Dataset (RHD, Zimmermann & Brox, ICCV 2017) as a Dataset of sample dicts.

Published layout under ``root`` (``RHD_published_v2/``)::

    training/color/%05d.png        320 x 320 RGB renderings
    training/mask/%05d.png         part labels: 0 background, 1 person, 2-17 left hand
                                   (finger segments and palm), 18-33 right hand
    training/depth/%05d.png        depth coded in two 8-bit channels (not used here)
    training/anno_training.pickle  {id: {'uv_vis': (42, 3), 'xyz': (42, 3), 'K': (3, 3)}}
    evaluation/...                 the same with anno_evaluation.pickle

Keypoints 0-20 are the left hand, 21-41 the right hand, each as: wrist, then thumb, index,
middle, ring, pinky with four keypoints each ordered from the TIP towards the palm. ``xyz`` is in
metres in camera space (``uv = project(xyz, K)``); ``uv_vis[:, 2]`` is 1 where the keypoint is
not occluded. There are no meshes.

Each sample holds one hand: the one with more visible keypoints (``hand="auto"``; ties go to the
one with more mask pixels, then to the right hand) or the one asked for. Left hands are mirrored
(:func:`mobrecon.data.sample.mirror`). ``joints2d_valid`` follows the sample convention
(annotated and inside the image: every RHD keypoint is annotated, occluded or not); the
occlusion flags are available from :meth:`RHD.visibility`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.sample import NUM_JOINTS, make_sample, mirror
from mobrecon.hand.mano import ManoUnpickler, UnsafePickleError
from mobrecon.image import read_image

SPLITS = ("training", "evaluation")
HANDS = ("auto", "left", "right")

# FreiHAND keypoint k <- RHD keypoint RHD_TO_FREIHAND[k] within one hand's 21 (tips first in RHD).
RHD_TO_FREIHAND = (0,) + tuple(1 + 4 * f + (3 - s) for f in range(5) for s in range(4))

LEFT_LABELS = (2, 17)  # inclusive range of the left hand's mask labels
RIGHT_LABELS = (18, 33)


def _load_pickle(path: Path):
    """Unpickle an annotation file allowing only numpy / builtin objects (pickles can run code)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: RHD annotation file missing")
    with open(path, "rb") as fh:
        try:
            return ManoUnpickler(fh, encoding="latin1").load()
        except UnsafePickleError as e:
            raise ValueError(f"{path}: {e}") from None


@register_reader("rhd", train="training", evaluation="evaluation",
                 markers={"training": "training/anno_training.pickle", "evaluation": "evaluation/anno_evaluation.pickle"})
class RHD(Dataset):
    """``ds[i]`` -> the sample dict (``dataset='rhd'``) of the ``i``-th annotated id (sorted).

    Args:
        root: folder holding ``training/`` and ``evaluation/``.
        split: ``"training"`` or ``"evaluation"``.
        hand: ``"auto"`` (the hand with more visible keypoints), ``"left"`` or ``"right"``.
    """

    def __init__(self, root: str | Path, split: str = "training", hand: str = "auto"):
        self.root = Path(root)
        if split not in SPLITS:
            raise ValueError(f"RHD split must be one of {SPLITS}, got {split!r}")
        if hand not in HANDS:
            raise ValueError(f"RHD hand must be one of {HANDS}, got {hand!r}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such RHD directory")
        self.split, self.hand = split, hand
        self.dir = self.root / split
        anno_path = self.dir / f"anno_{split}.pickle"
        anno = _load_pickle(anno_path)
        if not isinstance(anno, dict):
            raise ValueError(f"{anno_path}: expected a dict id -> annotation, got {type(anno).__name__}")
        self.ids = sorted(int(k) for k in anno)
        n = len(self.ids)
        self.uv_vis = np.zeros((n, 42, 3), np.float32)
        self.xyz = np.zeros((n, 42, 3), np.float32)
        self.K = np.zeros((n, 3, 3), np.float32)
        for row, sid in enumerate(self.ids):
            a = anno[sid]
            try:
                self.uv_vis[row] = np.asarray(a["uv_vis"], np.float32).reshape(42, 3)
                self.xyz[row] = np.asarray(a["xyz"], np.float32).reshape(42, 3)
                self.K[row] = np.asarray(a["K"], np.float32).reshape(3, 3)
            except (KeyError, ValueError, TypeError) as e:
                raise ValueError(f"{anno_path}: bad annotation for id {sid} ({e!r})") from None

    def __len__(self) -> int:
        return len(self.ids)

    def _row(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} RHD samples")
        return i % len(self)

    def path(self, i: int, kind: str = "color") -> Path:
        """File of sample ``i`` in ``color``, ``mask`` or ``depth``."""
        return self.dir / kind / f"{self.ids[self._row(int(i))]:05d}.png"

    def visibility(self, i: int) -> np.ndarray:
        """(21,) float32: RHD's not-occluded flags of the chosen hand, FreiHAND order."""
        row = self._row(int(i))
        side = self.side(i)
        off = 0 if side == "left" else 21
        return self.uv_vis[row, off:off + 21, 2][list(RHD_TO_FREIHAND)].astype(np.float32)

    def side(self, i: int, labels: np.ndarray | None = None) -> str:
        """``"left"`` or ``"right"``: the hand sample ``i`` shows (see the class docstring)."""
        if self.hand != "auto":
            return self.hand
        row = self._row(int(i))
        vis = self.uv_vis[row, :, 2] > 0.5
        n_left, n_right = int(vis[:21].sum()), int(vis[21:].sum())
        if n_left != n_right:
            return "left" if n_left > n_right else "right"
        if labels is None:
            labels = self._labels(i)
        if labels is not None:
            px_left = int(((labels >= LEFT_LABELS[0]) & (labels <= LEFT_LABELS[1])).sum())
            px_right = int(((labels >= RIGHT_LABELS[0]) & (labels <= RIGHT_LABELS[1])).sum())
            if px_left > px_right:
                return "left"
        return "right"

    def _labels(self, i: int) -> np.ndarray | None:
        p = self.path(i, "mask")
        if not p.is_file():
            return None
        labels = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if labels is None:
            raise ValueError(f"{p}: unreadable mask image")
        return labels if labels.ndim == 2 else labels[..., 0]

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        row = self._row(i)
        image = read_image(self.path(i))
        labels = self._labels(i)
        side = self.side(i, labels)
        off = 0 if side == "left" else 21
        order = [off + j for j in RHD_TO_FREIHAND]
        lo, hi = LEFT_LABELS if side == "left" else RIGHT_LABELS
        mask = None if labels is None else (labels >= lo) & (labels <= hi)
        sample = make_sample(image, self.K[row], joints2d=self.uv_vis[row, order, :2],
                             joints3d=self.xyz[row, order], mask=mask, dataset="rhd", index=row)
        return mirror(sample) if side == "left" else sample


assert sorted(RHD_TO_FREIHAND) == list(range(NUM_JOINTS))

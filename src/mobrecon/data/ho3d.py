"""HO-3D v2 (Hampali et al., CVPR 2020) as a ``torch.utils.data.Dataset`` of sample dicts.

Published layout under ``root`` (where ``train/`` and ``evaluation/`` branch off)::

    train.txt, evaluation.txt        one ``SEQ/frame`` per line (66,034 and 11,524 in v2)
    train/<SEQ>/rgb/<frame>.png      640 x 480 photos (``.jpg`` in v3, also accepted)
    train/<SEQ>/meta/<frame>.pkl     per-frame dict, among others:
        handJoints3D  (21, 3)  keypoints, metres, in MANO order with the tips appended
        handPose      (48,)    MANO axis-angle pose (global orientation first), flat-hand mean
        handBeta      (10,)    MANO shape
        handTrans     (3,)     MANO translation
        camMat        (3, 3)   intrinsics
    evaluation/<SEQ>/...             the same, but ``handJoints3D`` is only the root (3,) and
                                     ``handBoundingBox`` (4,) = (x_min, y_min, x_max, y_max) is given

3D values use the OpenGL camera convention (y up, hand at negative z); they are converted to
the OpenCV one used everywhere here (x right, y down, z forward) with diag(1, -1, -1).

HO-3D's keypoint order: 0 wrist; 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb
(MANO's joint order, palm outwards); 16-20 the tips of thumb, index, middle, ring, pinky.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.sample import NUM_JOINTS, make_sample
from mobrecon.hand.base import HandModel
from mobrecon.hand.mano import MANO, ManoUnpickler, UnsafePickleError
from mobrecon.image import read_image

SPLITS = ("train", "evaluation")

# FreiHAND keypoint k <- HO-3D keypoint HO3D_TO_FREIHAND[k].
HO3D_TO_FREIHAND = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

GL_TO_CV = np.array([1.0, -1.0, -1.0], np.float32)  # diag(1, -1, -1), applied per point


def _load_pickle(path: Path) -> dict:
    """Unpickle a meta file allowing only numpy / builtin objects (pickles can run code)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: HO-3D meta file missing")
    with open(path, "rb") as fh:
        try:
            data = ManoUnpickler(fh, encoding="latin1").load()
        except UnsafePickleError as e:
            raise ValueError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(data).__name__}")
    return data


def _array(meta: dict, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """meta[key] as float32 of ``shape``, or None when absent / of another size."""
    v = meta.get(key)
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float32)
    return a.reshape(shape) if a.size == int(np.prod(shape)) else None


def _build_mano(mano):
    """A MANO model whose zero finger pose is the flat hand (as HO-3D's parameters assume)."""
    if isinstance(mano, (str, os.PathLike)):
        return MANO(mano, flat_hand_mean=True)
    if isinstance(mano, MANO):
        return mano
    if isinstance(mano, HandModel):
        raise ValueError(f"HO-3D vertices need the MANO model, got {type(mano).__name__}")
    raise TypeError(f"mano must be a path to MANO_RIGHT.pkl or a MANO model, got {type(mano).__name__}")


@register_reader("ho3d", train="train", evaluation="evaluation",
                 markers={"train": "train.txt", "evaluation": "evaluation.txt"})
class HO3D(Dataset):
    """``ds[i]`` -> the sample dict (``dataset='ho3d'``, ``sequence``, ``frame`` set).

    Args:
        root: folder holding ``train/``, ``evaluation/``, ``train.txt``, ``evaluation.txt``.
        split: ``"train"`` or ``"evaluation"``.
        mano: optional path to ``MANO_RIGHT.pkl`` or a :class:`mobrecon.hand.mano.MANO`; with it
            the training samples get MANO ``vertices`` from ``handPose/handBeta/handTrans``.

    Evaluation frames have no 21-keypoint annotation: ``has_joints3d`` False, ``joints2d``
    zeros with ``joints2d_valid`` 0. Their hand box and root joint come from :meth:`box` and
    :meth:`root_joint`. HO-3D ships no hand masks here (``has_mask`` False).
    """

    def __init__(self, root: str | Path, split: str = "train", mano=None):
        self.root = Path(root)
        if split not in SPLITS:
            raise ValueError(f"HO-3D split must be one of {SPLITS}, got {split!r}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such HO-3D directory")
        self.split = split
        self.dir = self.root / split
        if not self.dir.is_dir():
            raise FileNotFoundError(f"{self.dir}: HO-3D split folder missing")
        listing = self.root / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"{listing}: HO-3D frame list missing")
        self.frames: list[tuple[str, str]] = []
        for n, line in enumerate(listing.read_text().splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            seq, sep, fid = line.partition("/")
            if not sep or not seq or not fid:
                raise ValueError(f"{listing}:{n}: expected 'SEQUENCE/frame', got {line!r}")
            self.frames.append((seq, fid))
        self.mano = _build_mano(mano) if mano is not None else None

    def __len__(self) -> int:
        return len(self.frames)

    def _frame(self, i: int) -> tuple[str, str]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} HO-3D samples")
        return self.frames[i]

    def meta(self, i: int) -> dict:
        """The raw per-frame annotation dict (OpenGL convention, HO-3D order)."""
        seq, fid = self._frame(int(i))
        return _load_pickle(self.dir / seq / "meta" / f"{fid}.pkl")

    def image_path(self, i: int) -> Path:
        seq, fid = self._frame(int(i))
        base = self.dir / seq / "rgb"
        for ext in (".png", ".jpg"):
            if (base / f"{fid}{ext}").is_file():
                return base / f"{fid}{ext}"
        return base / f"{fid}.png"

    def box(self, i: int) -> np.ndarray | None:
        """(4,) float32 hand box (x_min, y_min, x_max, y_max) in pixels, if annotated."""
        return _array(self.meta(i), "handBoundingBox", (4,))

    def root_joint(self, i: int) -> np.ndarray | None:
        """(3,) float32 camera-space (OpenCV) root joint, metres, if annotated."""
        j = self.meta(i).get("handJoints3D")
        if j is None:
            return None
        j = np.asarray(j, np.float32).reshape(-1, 3)
        return j[0] * GL_TO_CV

    def _vertices(self, meta: dict) -> np.ndarray | None:
        pose, beta, trans = (_array(meta, k, s) for k, s in
                             (("handPose", (48,)), ("handBeta", (10,)), ("handTrans", (3,))))
        if self.mano is None or pose is None or beta is None or trans is None:
            return None
        ref = self.mano.v_template
        pose_t = torch.as_tensor(pose, dtype=ref.dtype, device=ref.device)[None]
        if not self.mano.flat_hand_mean:  # the model adds its mean pose: take it off first
            pose_t = torch.cat([pose_t[:, :3], pose_t[:, 3:] - self.mano.hands_mean], dim=1)
        with torch.no_grad():
            out = self.mano(pose=pose_t, shape=torch.as_tensor(beta, dtype=ref.dtype, device=ref.device)[None],
                            transl=torch.as_tensor(trans, dtype=ref.dtype, device=ref.device)[None])
        return out.vertices[0].cpu().numpy().astype(np.float32) * GL_TO_CV

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        seq, fid = self._frame(i)
        meta = self.meta(i)
        K = _array(meta, "camMat", (3, 3))
        if K is None:
            raise ValueError(f"{self.dir / seq / 'meta' / (fid + '.pkl')}: no camMat (3, 3)")
        path = self.image_path(i)
        image = read_image(path)
        frame = int(fid) if fid.isdigit() else -1
        common = dict(image=image, K=K, vertices=self._vertices(meta), dataset="ho3d", index=i,
                      sequence=seq, frame=frame)
        joints = _array(meta, "handJoints3D", (NUM_JOINTS, 3))
        if joints is not None:
            return make_sample(joints3d=joints[list(HO3D_TO_FREIHAND)] * GL_TO_CV, **common)
        return make_sample(joints2d=np.zeros((NUM_JOINTS, 2), np.float32),
                           joints2d_valid=np.zeros(NUM_JOINTS, np.float32), **common)


assert sorted(HO3D_TO_FREIHAND) == list(range(NUM_JOINTS))

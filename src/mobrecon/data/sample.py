"""The one sample dict every data set reader yields (before cropping).

Readers for FreiHAND, RHD, HO3D v2 and the project's synthetic sets all return, from
``ds[i]``, a dict with exactly these keys (numpy arrays unless said otherwise), always present
so that samples from different sets can be mixed in one batch:

=================  ==============  ==========================================================
key                shape / type    meaning
=================  ==============  ==========================================================
``image``          (H, W, 3) uint8 RGB photo, full frame (not cropped)
``K``              (3, 3) float32  pinhole intrinsics, pixel centres at integer coordinates
``joints2d``       (21, 2) f32     keypoints in image pixels, FreiHAND order
                                   (:mod:`mobrecon.hand.skeleton`)
``joints2d_valid`` (21,) f32       1 where the 2D keypoint is annotated (and inside the
                                   image), else 0
``joints3d``       (21, 3) f32     camera-space keypoints in metres (zeros if absent)
``has_joints3d``   () bool         whether ``joints3d`` is annotated
``vertices``       (V, 3) f32      camera-space mesh vertices in metres (V=778 zeros if
                                   absent; the topology is the data set's hand model)
``has_vertices``   () bool         whether ``vertices`` is annotated
``mask``           (H, W) bool     hand silhouette (all False if absent)
``has_mask``       () bool         whether ``mask`` is annotated
``dataset``        str             short name: ``freihand``, ``rhd``, ``ho3d``, ``synth``
``index``          int             index of the sample within its reader
``sequence``       str             sequence name for video data ('' for still images)
``frame``          int             frame number within ``sequence`` (-1 for still images)
=================  ==============  ==========================================================

Every hand is a right hand: readers mirror left hands (image flipped left-right, ``u -> W-1-u``
for 2D points, ``X -> -X`` for 3D points, ``cx -> W-1-cx`` in ``K``), so that the network only
ever sees right hands, as the paper's does.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 21
DEFAULT_NUM_VERTICES = 778

KEYS = ("image", "K", "joints2d", "joints2d_valid", "joints3d", "has_joints3d", "vertices",
        "has_vertices", "mask", "has_mask", "dataset", "index", "sequence", "frame")


def make_sample(image: np.ndarray, K: np.ndarray, joints2d: np.ndarray | None = None,
                joints3d: np.ndarray | None = None, vertices: np.ndarray | None = None,
                mask: np.ndarray | None = None, joints2d_valid: np.ndarray | None = None,
                dataset: str = "", index: int = 0, sequence: str = "", frame: int = -1,
                num_vertices: int = DEFAULT_NUM_VERTICES) -> dict:
    """Assemble a sample dict with every key present, filling absent annotations.

    ``joints2d`` defaults to the projection of ``joints3d`` with ``K`` when only 3D is given;
    ``joints2d_valid`` defaults to 1 for keypoints inside the image.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 RGB, got shape {image.shape}")
    h, w = image.shape[:2]
    K = np.asarray(K, dtype=np.float32).reshape(3, 3)
    has_j3 = joints3d is not None
    j3 = np.zeros((NUM_JOINTS, 3), np.float32) if joints3d is None else np.asarray(joints3d, np.float32)
    if joints2d is None:
        if not has_j3:
            raise ValueError("a sample needs joints2d or joints3d")
        joints2d = project(j3, K)
    j2 = np.asarray(joints2d, np.float32).reshape(NUM_JOINTS, 2)
    if joints2d_valid is None:
        joints2d_valid = inside_image(j2, w, h)
    has_v = vertices is not None
    v = np.zeros((num_vertices, 3), np.float32) if vertices is None else np.asarray(vertices, np.float32)
    has_m = mask is not None
    m = np.zeros((h, w), bool) if mask is None else np.asarray(mask).astype(bool)
    if m.shape != (h, w):
        raise ValueError(f"mask shape {m.shape} does not match image {(h, w)}")
    return {
        "image": image, "K": K, "joints2d": j2,
        "joints2d_valid": np.asarray(joints2d_valid, np.float32).reshape(NUM_JOINTS),
        "joints3d": j3.reshape(NUM_JOINTS, 3), "has_joints3d": np.bool_(has_j3),
        "vertices": v, "has_vertices": np.bool_(has_v),
        "mask": m, "has_mask": np.bool_(has_m),
        "dataset": dataset, "index": int(index), "sequence": sequence, "frame": int(frame),
    }


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-space points -> (N, 2) pixels."""
    p = np.asarray(points, np.float64) @ np.asarray(K, np.float64).T
    return (p[:, :2] / p[:, 2:3]).astype(np.float32)


def inside_image(points2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) float32: 1 for points within the image rectangle (pixel centres 0..W-1), else 0."""
    p = np.asarray(points2d)
    ok = (p[:, 0] >= -0.5) & (p[:, 0] <= width - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= height - 0.5)
    return (ok & np.isfinite(p).all(1)).astype(np.float32)


def mirror(sample: dict) -> dict:
    """A left hand made right: flip the image left-right and mirror every annotation."""
    out = dict(sample)
    w = sample["image"].shape[1]
    out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    out["mask"] = np.ascontiguousarray(sample["mask"][:, ::-1])
    K = sample["K"].copy()
    K[0, 2] = (w - 1) - K[0, 2]
    K[0, 1] = -K[0, 1]
    out["K"] = K
    j2 = sample["joints2d"].copy()
    j2[:, 0] = (w - 1) - j2[:, 0]
    out["joints2d"] = j2
    for k in ("joints3d", "vertices"):
        p = sample[k].copy()
        p[:, 0] = -p[:, 0]
        out[k] = p
    return out

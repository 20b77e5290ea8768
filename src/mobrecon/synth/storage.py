"""On-disk layout of a generated hand set (written by ``mobrecon synth``).

::

    DIR/
      config.json              generator settings (a re-run must match them)
      summary.json             counts, pose / view histograms, speed (rewritten after each run)
      shard_00000/             samples [0, shard_size) (video sets: sequence 0, see below)
        rgb.bin                concatenated JPEG images (quality 95), H x W x 3
        mask.bin               concatenated 8-bit PNGs: 0 background, 1 visible hand,
                               2 hand hidden behind an occluder or the forearm (the
                               forearm itself is not hand: 0 where it is seen)
        depth.bin              concatenated 16-bit PNGs: camera z in units of 0.1 mm, 0 = no hand
        vertices.npy           (N, V, 3) float16: vertices in camera space minus ``root``
                               (metres; memory-mapped when read)
        annotations.npz        everything else, one row per sample (see ``ANNOTATIONS``), plus
                               the byte offsets ``rgb_offsets`` / ``mask_offsets`` /
                               ``depth_offsets`` (N + 1) into the .bin files.
                               Written last: its presence marks the shard complete.

Video sets (:mod:`mobrecon.synth.video`) use the same layout with one shard per sequence:
``shard_{s:05d}`` holds the frames 0..F-1 of sequence ``seq_{s:05d}`` in order (global index
``s * F + f``); each frame is a crop of a virtual video frame (``frame_size`` pixels square,
intrinsics in summary.json) and ``crop`` says where the crop lies in that frame.

Sets written before ``sequence`` / ``frame`` / ``crop`` existed lack them;
:func:`with_defaults` fills them in ('' / -1 / the whole image).

Camera convention: OpenCV (x right, y down, z forward), pixel centres at integer coordinates
(see :mod:`mobrecon.viz.render`). ``R, t`` map the hand's own frame to the camera:
``x_cam = R @ x_hand + t``; ``joints2d = (K @ joints3d)[:2] / z``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mobrecon.io_utils import atomic_path, atomic_save_npz

DEPTH_UNIT = 1e-4  # metres per depth-PNG step
MASK_BACKGROUND, MASK_VISIBLE, MASK_OCCLUDED = 0, 1, 2

# name -> (dtype, shape per sample, meaning)
ANNOTATIONS = {
    "index": ("i8", (), "global sample index"),
    "K": ("f4", (3, 3), "intrinsics, pixels"),
    "R": ("f4", (3, 3), "rotation hand frame -> camera"),
    "t": ("f4", (3,), "translation hand frame -> camera, metres"),
    "root": ("f4", (3,), "wrist (joint 0) in camera space, metres"),
    "joints3d": ("f4", (21, 3), "21 joints (FreiHAND order), camera space, metres"),
    "joints2d": ("f4", (21, 2), "21 joints projected with K, pixels"),
    "pose": ("f4", (16, 3), "axis-angle pose; [0] = camera-space global orientation (= R)"),
    "shape": ("f4", (6,), "OpenHand shape parameters"),
    "flexion": ("f4", (5,), "per-finger flexion (thumb..pinky), nan in random mode"),
    "splay": ("f4", (5,), "per-finger splay, nan in random mode"),
    "pose_id": ("i4", (), "uniform pose id 0..1519, -1 in random mode"),
    "pair": ("i2", (2,), "base pose ids (a, b) of the interpolated pair, -1 in random mode"),
    "t_interp": ("f4", (), "interpolation fraction between the pair, nan in random mode"),
    "view_id": ("i2", (), "nearest of the 216 grid viewpoints"),
    "lon_lat": ("f4", (2,), "viewpoint longitude, latitude (radians)"),
    "roll": ("f4", (), "camera roll about the viewing axis (radians)"),
    "fov": ("f4", (), "horizontal field of view (degrees)"),
    "skin": ("f4", (3,), "base skin colour, RGB in [0, 1]"),
    "light_dir": ("f4", (3,), "unit vector towards the light, camera space"),
    "light_color": ("f4", (3,), "light colour, RGB"),
    "ambient": ("f4", (), "ambient intensity"),
    "background": ("i1", (), "background kind (index into summary.json's background_kinds)"),
    "occluded": ("?", (), "an occluding shape was drawn over the hand, or the forearm hides 2 % of it or more"),
    "sequence": ("U16", (), "video sequence name ('seq_00003'), '' in image sets"),
    "frame": ("i4", (), "frame number within the sequence, -1 in image sets"),
    "crop": ("f4", (3,), "crop window in the video frame: centre u, v and side, frame pixels "
                          "(crop px = (frame px - centre) * size / side + (size - 1) / 2); "
                          "image sets: the image itself ((size - 1) / 2, (size - 1) / 2, size)"),
}


def identity_crop(size: int) -> tuple[float, float, float]:
    """``crop`` of an image that is its own frame: centre ((size - 1) / 2, (size - 1) / 2), side ``size``."""
    c = (size - 1) / 2
    return (c, c, float(size))


def with_defaults(ann: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A shard's annotations with ``sequence`` / ``frame`` / ``crop`` added where missing (sets
    written before they existed): '' / -1 / the whole image (from K's principal point, which
    those sets put at the image centre)."""
    n = len(ann["index"])
    out = dict(ann)
    if "sequence" not in out:
        out["sequence"] = np.full(n, "", dtype=ANNOTATIONS["sequence"][0])
    if "frame" not in out:
        out["frame"] = np.full(n, -1, dtype=ANNOTATIONS["frame"][0])
    if "crop" not in out:
        c = np.asarray(ann["K"], np.float32)[:, :2, 2]
        out["crop"] = np.concatenate([c, 2 * c[:, :1] + 1], axis=1)
    return out


def shard_dir(root: str | Path, shard: int) -> Path:
    return Path(root) / f"shard_{shard:05d}"


def is_complete(root: str | Path, shard: int) -> bool:
    return (shard_dir(root, shard) / "annotations.npz").is_file()


def complete_shards(root: str | Path) -> list[Path]:
    """The folders of ``root``'s complete shards (annotations.npz written last), in order."""
    return sorted(p for p in Path(root).glob("shard_*") if (p / "annotations.npz").is_file())


def encode_sample(rgb: np.ndarray, label: np.ndarray, depth: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """rgb (H, W, 3) uint8 RGB, label (H, W) uint8 mask labels, depth (H, W) float metres ->
    JPEG, PNG, 16-bit PNG bytes."""
    ok1, jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    ok2, png = cv2.imencode(".png", np.ascontiguousarray(label.astype(np.uint8)))
    d = np.clip(np.rint(depth / DEPTH_UNIT), 0, 65535).astype(np.uint16)
    ok3, dpng = cv2.imencode(".png", d)
    if not (ok1 and ok2 and ok3):
        raise RuntimeError("image encoding failed")
    return jpg.tobytes(), png.tobytes(), dpng.tobytes()


def write_shard(path: Path, encoded: list[tuple[bytes, bytes, bytes]], vertices_rel: np.ndarray,
                annotations: dict[str, np.ndarray]) -> None:
    """Write one shard atomically file by file, ``annotations.npz`` last."""
    path.mkdir(parents=True, exist_ok=True)
    offsets = {}
    for k, name in enumerate(("rgb", "mask", "depth")):
        blobs = [e[k] for e in encoded]
        offsets[f"{name}_offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
        with atomic_path(path / f"{name}.bin") as tmp:
            tmp.write_bytes(b"".join(blobs))
    with atomic_path(path / "vertices.npy") as tmp:
        np.save(tmp, np.asarray(vertices_rel, dtype=np.float16))
    arrays = {name: np.asarray(annotations[name], dtype=dt) for name, (dt, _, _) in ANNOTATIONS.items()}
    atomic_save_npz(path / "annotations.npz", {**arrays, **offsets})


def read_blob(path: Path, offsets: np.ndarray, i: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(int(offsets[i]))
        return fh.read(int(offsets[i + 1] - offsets[i]))


def decode_rgb(blob: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("corrupt JPEG in shard")
    return np.ascontiguousarray(img[..., ::-1])


def decode_label(blob: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("corrupt mask PNG in shard")
    return img


def decode_depth(blob: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("corrupt depth PNG in shard")
    return img.astype(np.float32) * np.float32(DEPTH_UNIT)

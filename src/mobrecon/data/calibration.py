"""Calibration crops for int8 quantisation (:func:`mobrecon.infer.export.quantize_int8`):
(N, S, S, 3) uint8 RGB hand crops from a list of arrays, a folder of images, a set written by
``mobrecon synth``, or a small synthetic set rendered on the spot."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mobrecon.image import read_image
from mobrecon.synth.dataset import SynthDataset
from mobrecon.synth.generator import SynthConfig, generate

__all__ = ["IMAGE_SUFFIXES", "calibration_crops", "centre_square", "synthetic_crops"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def centre_square(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W[, C]) uint8 image -> (size, size, 3) RGB: the shorter side resized to ``size``,
    then the centre square cut out. Grey images are repeated to 3 channels, alpha is dropped."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or min(img.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    h, w = img.shape[:2]
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
        y0, x0 = (nh - size) // 2, (nw - size) // 2
        img = img[y0:y0 + size, x0:x0 + size]
    return np.ascontiguousarray(img)


def synthetic_crops(count: int = 32, size: int = 128, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) uint8: a small ``mobrecon synth`` set (random poses) rendered into
    a temporary folder, read back and deleted. About 2 s for 32 crops on 2 cores."""
    with tempfile.TemporaryDirectory(prefix="mobrecon-calib-") as tmp:
        cfg = SynthConfig(count=int(count), seed=int(seed), mode="random", size=int(size), shard_size=int(count))
        try:
            generate(tmp, cfg, progress=False)
        except Exception as e:  # no OpenGL context, typically
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RuntimeError(f"could not render synthetic calibration crops ({msg}); pass a folder of "
                               "crops as calib instead") from None
        return _synth_set(Path(tmp), size, count)


def _synth_set(root: Path, size: int, limit: int | None) -> np.ndarray:
    ds = SynthDataset(root)
    n = len(ds) if limit is None else min(len(ds), int(limit))
    return np.stack([centre_square(ds[i]["image"], size) for i in range(n)])


def _image_folder(root: Path, size: int, limit: int | None) -> np.ndarray:
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) and no mobrecon synth shards")
    crops = []
    for p in files[: None if limit is None else int(limit)]:
        crops.append(centre_square(read_image(p), size))
    return np.stack(crops)


def calibration_crops(source, size: int = 128, limit: int | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB crops from ``source``:

    - a list / array of (H, W, 3) uint8 images (or one (N, H, W, 3) array);
    - a folder written by ``mobrecon synth`` (it has ``shard_*`` folders): its images in order;
    - a folder of image files (sorted by name);
    - ``None``: 32 synthetic crops rendered now (:func:`synthetic_crops`; ``limit`` sets the count).

    Images that are not ``size`` square are resized (shorter side) and centre-cropped. At most
    ``limit`` crops are read. Errors name the folder or file.
    """
    size = int(size)
    if source is None:
        return synthetic_crops(32 if limit is None else int(limit), size)
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such calibration folder")
        if not root.is_dir():
            raise ValueError(f"{root}: calibration crops must be a folder of images or a mobrecon synth set")
        if any(p.is_dir() for p in root.glob("shard_*")):
            return _synth_set(root, size, limit)
        return _image_folder(root, size, limit)
    images = list(source) if not isinstance(source, np.ndarray) or source.ndim == 4 else [source]
    if not images:
        raise ValueError("calibration crops: the list is empty")
    images = images[: None if limit is None else int(limit)]
    return np.stack([centre_square(im, size) for im in images])

"""Reading an image: one reader for the predictor, the detector, the data set readers and the
command line.

:func:`read_image` takes a file path, an (H, W, 3) uint8 RGB array or a PIL image and returns
(H, W, 3) uint8 RGB; :func:`decode_image` does the same for the bytes of a file already read
(e.g. to check their hash first). Files are decoded by OpenCV (which turns them upright by
their EXIF orientation) after two checks on the bytes: the header's size (an image over
``MAX_IMAGE_SIDE`` pixels on a side or ``MAX_IMAGE_PIXELS`` pixels is refused before it is
decoded) and, for a JPEG, its end-of-image marker (a truncated JPEG, which OpenCV would decode
with a grey bottom, is refused). Problems are one-line errors naming the file:
FileNotFoundError for a missing one, ValueError for one that is not a complete image.
:func:`check_rgb` checks an array is an (H, W, 3) uint8 image.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["ImageLike", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "check_rgb", "decode_image", "jpeg_is_complete",
           "read_image"]

ImageLike: TypeAlias = "str | os.PathLike[str] | np.ndarray | PILImage"  # a file, (H, W, 3) uint8 RGB, or PIL

MAX_IMAGE_SIDE = 20000  # larger photos are refused before they are decoded
MAX_IMAGE_PIXELS = 160_000_000  # and so are ones with more pixels (480 MB as RGB)


def jpeg_is_complete(data: bytes) -> bool:
    """Whether JPEG bytes hold their end-of-image marker after the first scan. The marker
    segments before the scan are walked by their lengths (an embedded thumbnail's marker is
    skipped); inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
    marker, so the first FF D9 after the scan's start is the end of the image. Data appended
    after it (e.g. a motion photo's video) is allowed."""
    i = 2  # after SOI
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if marker == 0xD9:
            return False  # ends before any scan
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:  # start of scan: the entropy-coded data follows its header
            return data.find(b"\xff\xd9", i + 2 + length) >= 0
        i += 2 + length
    return False


def _from_pil(image, name: str = "image") -> np.ndarray:
    """A PIL image -> (H, W, 3) uint8 RGB, turned upright by its EXIF orientation (as OpenCV
    does for files); a truncated or corrupt file is a ValueError."""
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return np.asarray(image.convert("RGB")).copy()
    except (OSError, SyntaxError) as e:  # PIL says "image file is truncated" with an OSError
        raise ValueError(f"{name}: not a complete image ({e})") from None


def decode_image(data: bytes, name: str | os.PathLike[str] = "image") -> np.ndarray:
    """The bytes of an image file -> (H, W, 3) uint8 RGB; ``name`` (the file) for the errors:
    a ValueError for a file too large to read, a truncated JPEG, or bytes that do not decode."""
    _check_size(data, name)
    if data[:2] == b"\xff\xd8" and not jpeg_is_complete(data):
        raise ValueError(f"{name}: truncated JPEG (no end-of-image marker after the image data)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        raise ValueError(f"{name}: not an image (could not decode it)")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def read_image(image: ImageLike) -> np.ndarray:
    """A path, an (H, W, 3) uint8 RGB array, or a PIL image -> (H, W, 3) uint8 RGB. Files and
    PIL images are turned upright by their EXIF orientation; a missing file is a
    FileNotFoundError; a truncated JPEG (or any file that does not decode completely) and an
    image over ``MAX_IMAGE_SIDE`` pixels on a side are a ValueError."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such image file")
        return decode_image(path.read_bytes(), path)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        _check_side(*image.size, "image")
        return _from_pil(image, getattr(image, "filename", "") or "image")
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty ({arr.shape})")
    return arr


def check_rgb(image: np.ndarray, name: str = "image") -> None:
    """A ValueError naming ``name`` unless ``image`` is an (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", None), getattr(image, "dtype", type(image))
        raise ValueError(f"{name} must be an (H, W, 3) uint8 array, got shape/dtype {got}")


def _check_side(width: int, height: int, name) -> None:
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{name}: {width}x{height} pixels is larger than this reads ({MAX_IMAGE_SIDE} px a side, "
                         f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels); downscale it first")


def _check_size(data: bytes, name) -> None:
    """Refuse a file whose header says it is too large before decoding it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                w, h = im.size
    except Image.DecompressionBombError:
        raise ValueError(f"{name}: larger than this reads ({MAX_IMAGE_PIXELS / 1e6:g} megapixels); "
                         "downscale it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return  # cv2 decides (and says "not an image" if it cannot)
    _check_side(w, h, name)

"""Atomic file writes: a temp file in the destination folder, then a rename, so nothing half-written is left."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yields a temp path beside ``path``; on success renames it over ``path``, else removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the result should read like any other file
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:  # the bytes reach the disk before the name does
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], compressed: bool = True) -> None:
    """Write an ``.npz`` readable by ``np.load``, atomically and byte-for-byte reproducibly
    (``np.savez`` stamps each member with the current time; this uses a fixed one)."""
    import io
    import zipfile

    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=mode) as zf:
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = mode
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())


def atomic_write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """(H, W, 3) or (H, W) uint8 image -> PNG at ``path``, atomically."""
    from PIL import Image

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)

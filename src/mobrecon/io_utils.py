"""Atomic file writes: a temp file in the destination folder, then a rename, so nothing half-written is left.

Also: sets of files written all or nothing (:func:`write_file_set`), the check that an output
folder can be written (:func:`check_output_dir`) and a per-folder lock so that two runs never
write into one folder at once (:func:`folder_lock`)."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

LOCK_NAME = ".mobrecon.lock"  # the per-folder lock file of folder_lock


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


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles); a missing or unreadable file is a one-line
    FileNotFoundError / ValueError naming it (``what``: e.g. 'labels', 'fits')."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__})") from None


def atomic_write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """(H, W, 3) or (H, W) uint8 image -> PNG at ``path``, atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_file_set(writers: dict[str | os.PathLike, Callable[[Path], None]]) -> list[Path]:
    """Write a set of files all or nothing: ``writers`` maps each destination to a function
    that writes the file's bytes to the temp path it is given. Every file goes to a temp name
    beside its destination first; only when all are written (and on disk) are they renamed into
    place. If anything fails (a full disk, a render error), the temp files and any of the set
    already renamed are removed and the error is raised: no partial set is left."""
    temps: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for dest, write in writers.items():
            dest = Path(dest)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
            os.close(fd)
            temps.append((Path(tmp), dest))
            os.chmod(tmp, 0o644)
            write(Path(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        for tmp, dest in temps:
            os.replace(tmp, dest)
            placed.append(dest)
    except BaseException:
        for tmp, dest in temps:
            for p in (tmp, dest) if dest in placed else (tmp,):
                try:
                    os.remove(p)
                except OSError:
                    pass
        raise
    return [dest for _, dest in temps]


def check_output_dir(path: str | os.PathLike) -> Path:
    """Make sure ``path`` is a folder this process can write into (creating it if needed);
    raises ValueError with one line saying what is wrong (a file, not writable, no space)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise ValueError(f"{path}: cannot write into this folder ({e.strerror or e})") from None
    return path


class FolderInUse(ValueError):
    """Another process holds the folder's lock."""


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "run"):
    """Hold an exclusive lock on ``folder`` (its ``.mobrecon.lock`` file) for the ``with``
    block, so that two runs never write into one folder at once. The lock is the kernel's
    (``flock``): it goes away with the process, even after kill -9. Raises :class:`FolderInUse`
    at once (no waiting) when another process holds it."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FolderInUse(f"{folder}: in use by another {what} ({holder}); wait for it to end or choose "
                              "another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield folder
    finally:
        fh.close()  # closing the file releases the lock


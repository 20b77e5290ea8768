"""The teacher labels file (``mobrecon label ... --out labels.npz``): reading, writing, assembling.

Format ``mobrecon-teacher-labels/1`` (an ``.npz`` without pickles; strings as numpy unicode):

=================  ================  ==========================================================
key                shape / dtype     meaning
=================  ================  ==========================================================
``format``         () str            ``"mobrecon-teacher-labels/1"``
``teacher``        () str            the teacher and its settings
``root``           () str            absolute folder the file paths are relative to
``files``          (N,) str          image paths relative to ``root`` (``/``-separated)
``sha1``           (N,) str          sha1 hex of each image file's bytes (the cache key)
``size``           (N, 2) int32      (width, height) in pixels (0, 0 when unreadable)
``status``         (N,) int8         1 labelled (``n_hands`` may be 0), -1 unreadable image
``n_hands``        (N,) int16        hands kept for the image
``image``          (H,) int32        row in ``files`` of each hand (grouped, in file order)
``keypoints2d``    (H, 21, 2) f32    pixels (centres at integers), FreiHAND order
``world``          (H, 21, 3) f32    the teacher's world landmarks, metres, FreiHAND order
``hand``           (H,) str          ``"left"`` / ``"right"``: the true hand in the photo
``hand_score``     (H,) f32          handedness confidence
``score``          (H,) f32          detection score (here: the handedness score)
``box``            (H, 4) f32        x0, y0, x1, y1 tight box of ``keypoints2d``
=================  ================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobrecon.io_utils import atomic_save_npz, read_npz

FORMAT = "mobrecon-teacher-labels/1"
STATUS_LABELLED, STATUS_UNREADABLE = 1, -1

# per-image and per-hand keys -> (trailing shape, dtype)
IMAGE_KEYS = {"files": ((), "U"), "sha1": ((), "U"), "size": ((2,), np.int32), "status": ((), np.int8),
              "n_hands": ((), np.int16)}
HAND_KEYS = {"image": ((), np.int32), "keypoints2d": ((21, 2), np.float32), "world": ((21, 3), np.float32),
             "hand": ((), "U"), "hand_score": ((), np.float32), "score": ((), np.float32),
             "box": ((4,), np.float32)}


@dataclass
class ImageRecord:
    """One image's entry before assembly: its file (relative), sha1, (width, height), status and
    hands (the per-hand arrays of :func:`mobrecon.data.mediapipe_hands.convert_hands`)."""
    file: str
    sha1: str
    size: tuple[int, int]
    status: int
    hands: dict = field(default_factory=dict)


@dataclass
class TeacherLabels:
    """A labels file in memory: ``arrays`` holds every key of the format (see the module docstring)."""
    arrays: dict

    @property
    def root(self) -> Path:
        return Path(str(self.arrays["root"]))

    @property
    def teacher(self) -> str:
        return str(self.arrays["teacher"])

    @property
    def files(self) -> np.ndarray:
        return self.arrays["files"]

    def __len__(self) -> int:
        return len(self.arrays["files"])

    @property
    def num_hands(self) -> int:
        return len(self.arrays["image"])

    def row_of(self) -> dict[str, int]:
        """{relative file: row}."""
        return {str(f): i for i, f in enumerate(self.arrays["files"])}

    def hand_rows(self, row: int) -> np.ndarray:
        """(n,) int64 hand rows of image ``row``."""
        start = int(self.arrays["n_hands"][:row].sum())
        return np.arange(start, start + int(self.arrays["n_hands"][row]), dtype=np.int64)

    def hands(self, row: int) -> dict:
        """Per-hand arrays (every hand key but ``image``) of image ``row``."""
        r = self.hand_rows(row)
        return {k: self.arrays[k][r] for k in HAND_KEYS if k != "image"}

    def records(self) -> list[ImageRecord]:
        """The images as :class:`ImageRecord` s (for merging and re-assembling)."""
        a, out = self.arrays, []
        for i, f in enumerate(a["files"]):
            out.append(ImageRecord(str(f), str(a["sha1"][i]), (int(a["size"][i, 0]), int(a["size"][i, 1])),
                                   int(a["status"][i]), self.hands(i)))
        return out


def assemble(records: list[ImageRecord], teacher: str, root: str | Path) -> TeacherLabels:
    """A :class:`TeacherLabels` from image records (kept in the given order)."""
    a = {"format": np.array(FORMAT), "teacher": np.array(teacher), "root": np.array(str(root)),
         "files": np.array([r.file for r in records], dtype=str).reshape(-1),
         "sha1": np.array([r.sha1 for r in records], dtype=str).reshape(-1),
         "size": np.array([r.size for r in records], np.int32).reshape(-1, 2),
         "status": np.array([r.status for r in records], np.int8).reshape(-1),
         "n_hands": np.array([len(r.hands.get("hand", ())) for r in records], np.int16).reshape(-1)}
    a["image"] = np.repeat(np.arange(len(records), dtype=np.int32), a["n_hands"].astype(np.int64))
    for k, (tail, dtype) in HAND_KEYS.items():
        if k == "image":
            continue
        parts = [np.asarray(r.hands[k]) for r in records if len(r.hands.get("hand", ()))]
        if parts:
            a[k] = np.concatenate(parts).astype(dtype if dtype != "U" else str)
        else:
            a[k] = np.zeros((0,) + tail, dtype if dtype != "U" else "<U5")
    return TeacherLabels(a)


def save_labels(path: str | Path, labels: TeacherLabels) -> None:
    """Write atomically (a temp file beside ``path``, then a rename)."""
    atomic_save_npz(path, labels.arrays)


def load_labels(path: str | Path) -> TeacherLabels:
    """Read and check a labels file; ValueError / FileNotFoundError name the file and the problem."""
    path = Path(path)
    a = read_npz(path, "labels")
    if str(a.get("format", "")) != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file (format {str(a.get('format', 'missing'))!r})")
    missing = [k for k in ("teacher", "root", *IMAGE_KEYS, *HAND_KEYS) if k not in a]
    if missing:
        raise ValueError(f"{path}: labels file lacks {', '.join(missing)}")
    n, h = len(a["files"]), len(a["image"])
    for keys, count in ((IMAGE_KEYS, n), (HAND_KEYS, h)):
        for k, (tail, _) in keys.items():
            if a[k].shape != (count,) + tail:
                raise ValueError(f"{path}: {k} has shape {a[k].shape}, expected {(count,) + tail}")
    if int(a["n_hands"].sum()) != h or not np.array_equal(
            a["image"], np.repeat(np.arange(n), a["n_hands"].astype(np.int64))):
        raise ValueError(f"{path}: per-hand rows do not match n_hands")
    return TeacherLabels(a)

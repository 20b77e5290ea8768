"""Readers of the openly licensed real hand photographs (no 3D labels; 2D from the teacher).

Each reader takes the set's folder (nothing is copied into the repo) and a split; the held-out
split of each set is a committed file list under ``mobrecon/data/splits/``:

- :class:`CloseUps` (``sign-language-digits/``, photos in ``Dataset/0`` .. ``Dataset/9``): splits
  ``train``, ``test`` (``splits/closeups_test.txt``: whole people, 413 photos = 20 %), ``all``;
- :class:`SignerFrames` (``rf100-hand-gestures/``, ``{train,valid,test}/images`` and ``/labels``):
  the set's own ``train``, ``valid``, ``test`` (also committed: ``splits/signers_test.txt``), ``all``;
- :class:`HagridSamples` (``hagrid-samples/``, ``call/``, ``four/``, ...): ``test`` only (= ``all``,
  ``splits/hagrid_test.txt``), evaluation only: a training split is refused.

``ds[i]`` is an image-level dict:

=================  ===============  ==========================================================
``image``          (H, W, 3) uint8  RGB photo
``path``           str              absolute file path; ``file``: relative to the set's folder
``index``          int              ``i``; ``dataset``: ``closeups`` / ``signers`` / ``hagrid``
``category``       str              digit (close-ups), gesture (HaGRID), word (signer frames)
``boxes``          (B, 4) f32       the set's own hand boxes x0, y0, x1, y1 in pixels (pixel
                                    centres at integers; B = 0 for sets without boxes)
``box_classes``    (B,) str         the set's class of each box
``labelled``       bool             the teacher ran on this image (a labels file was given and
                                    lists it, readable); then the per-hand keys hold its hands:
``keypoints2d``    (h, 21, 2) f32   pixels, FreiHAND order (h = 0 when not labelled / no hand)
``world``          (h, 21, 3) f32   teacher's world landmarks, metres
``hand``           (h,) str         ``left`` / ``right`` (true hand in the photo)
``hand_score``,    (h,) f32         handedness confidence, detection score
``score``
``box``            (h, 4) f32       tight box of ``keypoints2d``
=================  ===============  ==========================================================

Per hand: :attr:`RealPhotoSet.hand_index` lists (image index, hand number) of every teacher hand
of the split, and :meth:`RealPhotoSet.hand_sample` gives one hand with its photo (``image``,
``keypoints2d`` (21, 2), ``hand``, ``box`` (4,), ``world``, scores, ``path``). Left hands are
*not* mirrored here; :func:`mobrecon.data.sample.mirror` conventions apply downstream.

With a labels file, each image's sha1 is checked against the file's when it is read.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import yaml
from torch.utils.data import Dataset

from mobrecon.data.kinds import register_reader
from mobrecon.data.mediapipe_hands import empty_hands
from mobrecon.data.teacher_labels import STATUS_LABELLED, TeacherLabels, load_labels
from mobrecon.image import decode_image
from mobrecon.io_utils import atomic_write_text

SPLIT_DIR = Path(__file__).resolve().parent / "splits"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
REALDATA_ENV = "MOBRECON_REALDATA"


def default_realdata() -> Path:
    """The shared real-photo folder: ``$MOBRECON_REALDATA``, else ``../shared/realdata`` beside the repo."""
    env = os.environ.get(REALDATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "realdata"


def read_split_list(name: str) -> list[str]:
    """The committed file list ``splits/NAME.txt`` (relative paths, one a line)."""
    path = SPLIT_DIR / f"{name}.txt"
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def sha1_of_bytes(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class RealPhotoSet(Dataset):
    """Common part of the readers: a list of files under ``root``, a split, optional teacher labels.

    Subclasses set ``name``, ``SPLITS`` and implement ``_split_files(split)`` (relative paths) and
    ``looks_like(root)`` (whether a folder is this set), and may override ``category(i)`` and
    ``_boxes(i)``.
    """

    name = ""
    SPLITS: tuple[str, ...] = ()
    ONE_HAND = False  # one hand per photo: labelling keeps only the teacher's largest hand

    def __init__(self, root: str | Path, split: str = "train", labels: str | Path | TeacherLabels | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such {self.name} directory")
        if split not in self.SPLITS:
            raise ValueError(f"{self.name} split must be one of {self.SPLITS}, got {split!r}")
        self.split = split
        self.files = self._split_files(split)
        missing = [f for f in self.files if not (self.root / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{self.root / missing[0]}: listed in the {self.name} {split} split but missing "
                                    f"({len(missing)} missing in all)")
        self.labels = load_labels(labels) if isinstance(labels, (str, Path)) else labels
        self._rows = self._match_labels() if self.labels is not None else {}
        self.hand_index = self._hand_index()

    # --- to override -------------------------------------------------------------------------
    @staticmethod
    def looks_like(root: Path) -> bool:
        """Whether the folder ``root`` has this set's layout."""
        return False

    def _split_files(self, split: str) -> list[str]:
        raise NotImplementedError

    def category(self, i: int) -> str:
        """The photo's class: by default its folder's name."""
        return Path(self.files[i]).parent.name

    def _boxes(self, i: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(B, 4) f32 pixel boxes and (B,) str classes of the set's own annotation."""
        return np.zeros((0, 4), np.float32), np.zeros(0, "<U1")

    # --- common -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    def image_path(self, i: int) -> Path:
        return self.root / self.files[i]

    def boxes(self, i: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """The set's own boxes of image ``i`` for an image of ``width`` x ``height`` pixels."""
        return self._boxes(i, width, height)

    def _match_labels(self) -> dict[int, int]:
        """{image index: labels row} by path (the labels' root may be this folder, above or below it)."""
        lab_root = self.labels.root
        by_rel = {}
        for row, f in enumerate(self.labels.files):
            p = lab_root / str(f)
            try:
                rel = p.relative_to(self.root).as_posix()
            except ValueError:
                rel = str(f)
            by_rel[rel] = row
        rows = {i: by_rel[f] for i, f in enumerate(self.files) if f in by_rel}
        if self.files and not rows:
            raise ValueError(f"labels file for {lab_root}: none of the {len(self.files)} images of {self.name} "
                             f"{self.split} ({self.root}) are in it (labels of another image set?)")
        return rows

    def _hand_index(self) -> np.ndarray:
        """(n, 2) int64 (image index, hand number within the image) of every labelled hand."""
        if self.labels is None:
            return np.zeros((0, 2), np.int64)
        n_hands, status = self.labels.arrays["n_hands"], self.labels.arrays["status"]
        pairs = [(i, k) for i, row in sorted(self._rows.items()) if status[row] == STATUS_LABELLED
                 for k in range(int(n_hands[row]))]
        return np.array(pairs, np.int64).reshape(-1, 2)

    @property
    def num_hands(self) -> int:
        return len(self.hand_index)

    def _read(self, i: int) -> np.ndarray:
        path = self.image_path(i)
        data = path.read_bytes()
        row = self._rows.get(i)
        if row is not None and sha1_of_bytes(data) != str(self.labels.arrays["sha1"][row]):
            raise ValueError(f"{path}: the image differs from the one the labels file was made from (sha1 mismatch)")
        return decode_image(data, path)

    def _teacher(self, i: int) -> tuple[bool, dict]:
        row = self._rows.get(i)
        if row is None or self.labels.arrays["status"][row] != STATUS_LABELLED:
            return False, empty_hands()
        return True, self.labels.hands(row)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} {self.name} images")
        i = int(i) % len(self)
        image = self._read(i)
        boxes, classes = self.boxes(i, image.shape[1], image.shape[0])
        labelled, hands = self._teacher(i)
        return {"image": image, "path": str(self.image_path(i)), "file": self.files[i], "index": i,
                "dataset": self.name, "category": self.category(i), "boxes": boxes, "box_classes": classes,
                "labelled": labelled, **hands}

    def hand_sample(self, j: int) -> dict:
        """Hand ``j`` of :attr:`hand_index` with its photo: ``image`` (H, W, 3) uint8, ``keypoints2d``
        (21, 2), ``world`` (21, 3), ``hand`` str, ``box`` (4,), ``hand_score``, ``score``, ``path``,
        ``file``, ``index`` (image index), ``hand_number``, ``dataset``."""
        i, k = (int(v) for v in self.hand_index[j])
        _, hands = self._teacher(i)
        return {"image": self._read(i), "path": str(self.image_path(i)), "file": self.files[i], "index": i,
                "hand_number": k, "dataset": self.name, **{key: v[k] for key, v in hands.items()}}


@register_reader("closeups", train="train", evaluation="test", layout="Dataset/0/")
class CloseUps(RealPhotoSet):
    """Sign Language Digits (Mavi, arXiv:2011.08927; Apache-2.0): 2,062 100 x 100 close-ups, one hand
    each, folders ``Dataset/0`` .. ``Dataset/9`` (the digit shown). ``test`` is the committed list
    (whole people held out, see :func:`closeup_people`); ``train`` is every other photo on disk."""

    name = "closeups"
    SPLITS = ("train", "test", "all")
    ONE_HAND = True

    @staticmethod
    def looks_like(root: Path) -> bool:
        return (Path(root) / "Dataset" / "0").is_dir()

    def _split_files(self, split: str) -> list[str]:
        on_disk = [p.relative_to(self.root).as_posix() for p in list_images(self.root / "Dataset")] \
            if (self.root / "Dataset").is_dir() else []
        if not on_disk:
            raise FileNotFoundError(f"{self.root / 'Dataset'}: no close-up photos (expected Dataset/0 .. Dataset/9)")
        test = read_split_list("closeups_test")
        if split == "test":
            return test
        if split == "all":
            return on_disk
        held = set(test)
        return [f for f in on_disk if f not in held]


def closeup_people(files: list[str]) -> list[list[str]]:
    """Group close-up files (``Dataset/D/IMG_N.JPG``) by person.

    The file names carry no person, but each person's ten photos were taken in a row, digit 0 to
    9, so the camera's numbers run up with the digit: sorted by number, a new person starts
    whenever the digit does not go up. (About 220 groups for the 218 people; a few people whose
    photos are missing or were retaken end up split, which only makes the split slightly finer.)
    """
    def key(f: str) -> tuple[int, int]:
        m = re.search(r"(\d+)", Path(f).stem)
        return (int(m.group(1)) if m else -1, int(Path(f).parent.name))

    groups: list[list[str]] = []
    last_digit = None
    for f in sorted(files, key=key):
        digit = key(f)[1]
        if last_digit is None or digit <= last_digit:
            groups.append([])
        groups[-1].append(f)
        last_digit = digit
    return groups


def make_closeups_test(files: list[str], share: float = 0.2, seed: int = 0) -> list[str]:
    """Seeded held-out list: whole people (:func:`closeup_people`) in a shuffled order until
    ``share`` of the photos are taken; sorted."""
    groups = closeup_people(files)
    order = np.random.default_rng(seed).permutation(len(groups))
    test, target = [], share * len(files)
    for g in order:
        if len(test) >= target:
            break
        test += groups[g]
    return sorted(test)


@register_reader("signers", train="train", evaluation="test", layout="data.yaml and train/labels/")
class SignerFrames(RealPhotoSet):
    """Roboflow 100 "hand gestures" (Pablo Ochoa, Antonio Luna, Eliezer Alvarez; CC BY 4.0): 914 video
    frames of two people signing, ``{train,valid,test}/images/*.jpg`` with YOLO boxes in
    ``{split}/labels/*.txt`` (class cx cy w h, normalised; class names in ``data.yaml``). The
    splits are the set's own; ``test`` is also committed as a list."""

    name = "signers"
    SPLITS = ("train", "valid", "test", "all")

    @staticmethod
    def looks_like(root: Path) -> bool:
        return (Path(root) / "data.yaml").is_file() and (Path(root) / "train" / "labels").is_dir()

    def _split_files(self, split: str) -> list[str]:
        if split == "test":
            return read_split_list("signers_test")
        parts = ("train", "valid", "test") if split == "all" else (split,)
        files = []
        for s in parts:
            folder = self.root / s / "images"
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: signer frames folder missing")
            files += [p.relative_to(self.root).as_posix() for p in list_images(folder)]
        return files

    def class_names(self) -> list[str]:
        """The ``names:`` list of ``data.yaml`` (class index -> name), or the indices as text."""
        path = self.root / "data.yaml"
        if path.is_file():
            names = (yaml.safe_load(path.read_text()) or {}).get("names")
            if isinstance(names, list):
                return [str(n) for n in names]
        return []

    def label_path(self, i: int) -> Path:
        f = Path(self.files[i])
        return self.root / f.parent.parent / "labels" / (f.stem + ".txt")

    def normalised_boxes(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(B, 4) f64 x0, y0, x1, y1 as shares of the image's width/height and (B,) int classes."""
        path = self.label_path(i)
        if not path.is_file():
            return np.zeros((0, 4)), np.zeros(0, np.int64)
        rows = []
        for ln in path.read_text().splitlines():
            if ln.strip():
                try:
                    c, cx, cy, w, h = (float(v) for v in ln.split()[:5])
                except ValueError:
                    raise ValueError(f"{path}: expected 'class cx cy w h' lines, got {ln!r}") from None
                rows.append((c, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        a = np.array(rows, np.float64).reshape(-1, 5)
        return a[:, 1:], a[:, 0].astype(np.int64)

    def _boxes(self, i: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        b, c = self.normalised_boxes(i)
        px = (b * np.array([width, height, width, height]) - 0.5).astype(np.float32)
        if not hasattr(self, "_names"):
            self._names = self.class_names()
        names = np.array([self._names[k] if 0 <= k < len(self._names) else str(k) for k in c], dtype=str)
        return px, names.reshape(-1)

    def category(self, i: int) -> str:
        """The word signed: the frame's file name up to its first ``_`` (``a``, ``yesterday``, ...)."""
        return Path(self.files[i]).name.split("_")[0]


@register_reader("hagrid", evaluation="test", layout="two of call/, four/, rock/, none/", eval_only=True)
class HagridSamples(RealPhotoSet):
    """40 HaGRID photos (gestures ``call``, ``four``, ``rock``, ``none``) as carried in MediaPipe's
    test data; licence a variant of CC BY-SA 4.0. Evaluation only: there is no training split."""

    name = "hagrid"
    SPLITS = ("test", "all")

    @staticmethod
    def looks_like(root: Path) -> bool:
        return sum((Path(root) / g).is_dir() for g in ("call", "four", "rock", "none")) >= 2

    def __init__(self, root: str | Path, split: str = "test", labels=None):
        if split in ("train", "training", "valid"):
            raise ValueError(f"hagrid-samples is for evaluation only: no {split!r} split (use 'test')")
        super().__init__(root, split, labels)

    def _split_files(self, split: str) -> list[str]:
        return read_split_list("hagrid_test")


READERS = {"closeups": CloseUps, "signers": SignerFrames, "hagrid": HagridSamples}
FOLDERS = {"closeups": "sign-language-digits", "signers": "rf100-hand-gestures", "hagrid": "hagrid-samples"}


def detect_real_set(root: str | Path) -> str | None:
    """``closeups`` / ``signers`` / ``hagrid`` from the folder's layout, or None."""
    return next((kind for kind, reader in READERS.items() if reader.looks_like(Path(root))), None)


def write_split_lists(realdata: Path) -> list[Path]:
    """(Re)write the committed split lists from the sets under ``realdata`` (run once; committed)."""
    out = []
    closeups = realdata / FOLDERS["closeups"]
    files = [p.relative_to(closeups).as_posix() for p in list_images(closeups / "Dataset")]
    lists = {"closeups_test": make_closeups_test(files),
             "signers_test": [p.relative_to(realdata / FOLDERS["signers"]).as_posix()
                              for p in list_images(realdata / FOLDERS["signers"] / "test" / "images")],
             "hagrid_test": [p.relative_to(realdata / FOLDERS["hagrid"]).as_posix()
                             for p in list_images(realdata / FOLDERS["hagrid"])]}
    for name, items in lists.items():
        path = SPLIT_DIR / f"{name}.txt"
        atomic_write_text(path, "\n".join(items) + "\n")
        out.append(path)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="write the committed held-out split lists of the real photo sets")
    ap.add_argument("--write-splits", metavar="REALDATA", type=Path, default=None)
    a = ap.parse_args()
    for p in write_split_lists(a.write_splits or default_realdata()):
        print(f"wrote {p} ({len(p.read_text().splitlines())} files)")
    sys.exit(0)

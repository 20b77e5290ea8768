"""Mixing data sets with chosen ratios, and opening readers from short text specs.

:class:`MixedDataset` maps index ``i`` of an epoch to (set, index in that set) through a plan
drawn from ``(seed, epoch)`` alone, so a run is reproducible and every DataLoader worker agrees
on it. Per epoch, set ``k`` contributes exactly ``round(ratio_k * length)`` samples (largest
remainder rounding), placed at random positions; within a set the samples are drawn without
replacement, cycling through fresh permutations when a set is asked for more than it holds.

Specs (:func:`open_dataset`)::

    freihand:/data/FreiHAND            kind:path (split defaults to the training one)
    rhd:/data/RHD_published_v2:evaluation
    ho3d:/data/HO3D_v2:train
    synth:/data/synth_set
    closeups:/data/sign-language-digits:test   real photos (:mod:`mobrecon.data.real_photos`):
    signers:/data/rf100-hand-gestures          close-ups, signer frames (train by default),
    hagrid:/data/hagrid-samples                HaGRID samples (test only; never in a mixture)
    pseudo:/labels/closeups_fits.npz           a real set's kept hands with the teacher's keypoints
                                               and fitted pseudo-meshes (:mod:`.pseudo_labelled`)
    /data/FreiHAND                     a bare folder: the kind is detected from marker files
    /data/RHD_published_v2:evaluation  a bare folder with a split

Mixtures (:func:`open_mixture`): comma-separated specs, each optionally ``=ratio``, e.g.
``"synth:/a=0.7,freihand:/b=0.3"`` (no ratios: equal shares). Paths must not contain ``,``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from mobrecon.data.freihand import FreiHAND
from mobrecon.data.ho3d import HO3D
from mobrecon.data.pseudo_labelled import PseudoLabelledSet
from mobrecon.data.real_photos import READERS, detect_real_set
from mobrecon.data.rhd import RHD
from mobrecon.data.synth import SynthSet

# kind -> (training split, evaluation split, {split: marker file relative to the root})
_LAYOUTS = {
    "freihand": ("training", "evaluation", {"training": "training_K.json", "evaluation": "evaluation_K.json"}),
    "rhd": ("training", "evaluation", {"training": "training/anno_training.pickle",
                                       "evaluation": "evaluation/anno_evaluation.pickle"}),
    "ho3d": ("train", "evaluation", {"train": "train.txt", "evaluation": "evaluation.txt"}),
    "synth": (None, None, {}),
    # real photos: held-out lists committed in mobrecon/data/splits (no marker files)
    "closeups": ("train", "test", {}),
    "signers": ("train", "test", {}),
    "hagrid": (None, "test", {}),
    "pseudo": ("train", "test", {}),  # a fits file; the split is its real set's own
}
EVAL_ONLY = ("hagrid",)
_TRAIN_ALIASES = ("train", "training")
_EVAL_ALIASES = ("eval", "evaluation", "test")


class MixedDataset(Dataset):
    """Samples drawn from several data sets with chosen ratios.

    Args:
        datasets: the sets (any map-style Datasets; readers of this package yield sample dicts).
        ratios: one non-negative weight per set (normalised to sum 1).
        length: samples per epoch (default: the sets' total size).
        seed: with the epoch, fixes the plan; :meth:`set_epoch` draws a new one (call it before
            creating each epoch's DataLoader iterator so the workers see it).
    """

    def __init__(self, datasets: Sequence[Dataset], ratios: Sequence[float], length: int | None = None,
                 seed: int = 0):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("MixedDataset needs at least one data set")
        r = np.asarray(ratios, dtype=np.float64).reshape(-1)
        if len(r) != len(self.datasets):
            raise ValueError(f"MixedDataset: {len(self.datasets)} data sets but {len(r)} ratios")
        if not np.isfinite(r).all() or (r < 0).any() or r.sum() <= 0:
            raise ValueError(f"MixedDataset: ratios must be non-negative with a positive sum, got {list(r)}")
        self.ratios = r / r.sum()
        for k, (d, w) in enumerate(zip(self.datasets, self.ratios)):
            if w > 0 and len(d) == 0:
                raise ValueError(f"MixedDataset: data set {k} ({_describe(d)}) is empty but has ratio {w:.3g}")
        self.length = sum(len(d) for d in self.datasets) if length is None else int(length)
        if self.length < 0:
            raise ValueError(f"MixedDataset: length must be >= 0, got {length}")
        if int(seed) < 0:
            raise ValueError(f"MixedDataset: seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self.epoch = 0
        self.counts = _apportion(self.ratios, self.length)
        self._plan: tuple[np.ndarray, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Use the plan of ``epoch`` (a different shuffle and different picks per epoch)."""
        if int(epoch) < 0:
            raise ValueError(f"MixedDataset: epoch must be >= 0, got {epoch}")
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._plan = None

    def plan(self) -> tuple[np.ndarray, np.ndarray]:
        """(source (length,) int64 set ids, local (length,) int64 indices) of the current epoch."""
        if self._plan is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            source = np.repeat(np.arange(len(self.datasets)), self.counts)
            rng.shuffle(source)
            local = np.zeros(self.length, np.int64)
            for k, d in enumerate(self.datasets):
                n, c = len(d), int(self.counts[k])
                if c:
                    picks = np.concatenate([rng.permutation(n) for _ in range(-(-c // n))])[:c]
                    local[source == k] = picks
            self._plan = (source.astype(np.int64), local)
        return self._plan

    def locate(self, i: int) -> tuple[int, int]:
        """(set id, index in that set) of sample ``i`` in the current epoch."""
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} mixed samples")
        source, local = self.plan()
        i %= self.length
        return int(source[i]), int(local[i])

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        k, j = self.locate(int(i))
        return self.datasets[k][j]


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    exact = weights * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def _describe(d) -> str:
    root = getattr(d, "root", None)
    return f"{type(d).__name__} at {root}" if root is not None else type(d).__name__


def _reader(kind: str):
    if kind == "freihand":
        return FreiHAND
    if kind == "rhd":
        return RHD
    if kind == "ho3d":
        return HO3D
    if kind in ("closeups", "signers", "hagrid"):
        return READERS[kind]
    if kind == "pseudo":
        return PseudoLabelledSet
    return SynthSet


def detect_kind(root: str | Path) -> str:
    """``freihand``, ``rhd``, ``ho3d`` or ``synth``, from the marker files found in ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data directory")
    for kind, (_, _, markers) in _LAYOUTS.items():
        if any((root / m).is_file() for m in markers.values()):
            return kind
    if any(root.glob("shard_*/annotations.npz")):
        return "synth"
    real = detect_real_set(root)
    if real is not None:
        return real
    raise ValueError(f"{root}: unknown data set layout (no training_K.json, training/anno_training.pickle, "
                     "train.txt, shard_*/annotations.npz or a real photo set's layout)")


def _normalise_split(kind: str, split: str, spec: str) -> str:
    train, evaluation, _ = _LAYOUTS[kind]
    s = split.lower()
    if kind in EVAL_ONLY:
        if s in _TRAIN_ALIASES:
            raise ValueError(f"{spec!r}: {kind} is for evaluation only; it has no training split")
        if s in _EVAL_ALIASES:
            return evaluation
    if train is None:
        raise ValueError(f"{spec!r}: the {kind} reader has no splits")
    if s in _TRAIN_ALIASES:
        return train
    if s in _EVAL_ALIASES:
        return evaluation
    raise ValueError(f"{spec!r}: unknown split {split!r} for {kind} (use {train!r} or {evaluation!r})")


def parse_spec(spec: str) -> tuple[str | None, str, str | None]:
    """``"kind:path[:split]"`` or ``"path[:split]"`` -> (kind or None, path, split or None)."""
    kind, rest = None, spec.strip()
    head, sep, tail = rest.partition(":")
    if sep and head.lower() in _LAYOUTS:
        kind, rest = head.lower(), tail
    split = None
    base, sep, last = rest.rpartition(":")
    if sep and last.lower() in _TRAIN_ALIASES + _EVAL_ALIASES and not Path(rest).exists():
        rest, split = base, last
    if not rest:
        raise ValueError(f"{spec!r}: no path given")
    return kind, rest, split


def open_dataset(spec: str, **kw) -> Dataset:
    """A reader from a spec (see the module docstring); ``kw`` go to the reader's constructor.

    Raises FileNotFoundError (missing folder or file, named) or ValueError (unknown layout,
    kind or split).
    """
    kind, path, split = parse_spec(spec)
    root = Path(path)
    if kind == "pseudo" and not root.is_file():
        raise FileNotFoundError(f"{root}: no such fits file")
    if kind != "pseudo" and not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data directory")
    if kind is None:
        kind = detect_kind(root)
    train, evaluation, markers = _LAYOUTS[kind]
    if split is not None:
        kw["split"] = _normalise_split(kind, split, spec)
    elif train is None and evaluation is not None and "split" not in kw:
        kw["split"] = evaluation  # an evaluation-only set
    elif train is not None and "split" not in kw and not markers:
        kw["split"] = train
    elif train is not None and "split" not in kw:
        # the training split unless only the evaluation one is on disk
        only_eval = not (root / markers[train]).is_file() and (root / markers[evaluation]).is_file()
        kw["split"] = evaluation if only_eval else train
    return _reader(kind)(root, **kw)


def open_mixture(spec: str, length: int | None = None, seed: int = 0, **kw) -> MixedDataset:
    """A :class:`MixedDataset` from ``"spec=ratio,spec=ratio,..."``.

    ``kw`` are passed to each reader whose constructor takes them (e.g. ``mano=`` reaches HO-3D
    only, ``version=`` FreiHAND only).
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{spec!r}: empty mixture")
    specs, ratios = [], []
    for p in parts:
        base, sep, tail = p.rpartition("=")
        if sep:
            try:
                ratios.append(float(tail))
            except ValueError:
                raise ValueError(f"{p!r}: ratio {tail!r} is not a number") from None
            specs.append(base)
        else:
            ratios.append(None)
            specs.append(p)
    given = [r is not None for r in ratios]
    if any(given) and not all(given):
        raise ValueError(f"{spec!r}: give a ratio to every data set or to none")
    ratios = [1.0] * len(specs) if not any(given) else ratios
    datasets = []
    for s in specs:
        kind, path, _ = parse_spec(s)
        kind = kind or detect_kind(path)
        if kind in EVAL_ONLY:
            raise ValueError(f"{s!r}: {kind} is for evaluation only; it cannot be mixed into training data")
        accepted = inspect.signature(_reader(kind)).parameters
        datasets.append(open_dataset(s, **{k: v for k, v in kw.items() if k in accepted}))
    return MixedDataset(datasets, ratios, length=length, seed=seed)

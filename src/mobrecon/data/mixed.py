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

The kinds are those the readers register (:mod:`mobrecon.data.kinds`); the reader files are
imported here so that they have. A new reader file is added to that import.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

# each reader registers its kind; a bare folder is tried against them in this order, those with
# marker files first (kinds.detect_kind)
from mobrecon.data import freihand, rhd, ho3d, synth, real_photos, pseudo_labelled  # noqa: F401
from mobrecon.data.kinds import KINDS, DataKind, detect_kind

__all__ = ["MixedDataset", "detect_kind", "open_dataset", "open_mixture", "parse_spec"]

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


def _normalise_split(kind: DataKind, split: str, spec: str) -> str:
    train, evaluation = kind.train, kind.evaluation
    s = split.lower()
    if kind.eval_only:
        if s in _TRAIN_ALIASES:
            raise ValueError(f"{spec!r}: {kind.name} is for evaluation only; it has no training split")
        if s in _EVAL_ALIASES:
            return evaluation
    if train is None:
        raise ValueError(f"{spec!r}: the {kind.name} reader has no splits")
    if s in _TRAIN_ALIASES:
        return train
    if s in _EVAL_ALIASES:
        return evaluation
    raise ValueError(f"{spec!r}: unknown split {split!r} for {kind.name} (use {train!r} or {evaluation!r})")


def parse_spec(spec: str) -> tuple[str | None, str, str | None]:
    """``"kind:path[:split]"`` or ``"path[:split]"`` -> (kind or None, path, split or None).
    A ``word:...`` whose word is neither a kind nor an existing path is a one-line ValueError
    listing the kinds."""
    kind, rest = None, spec.strip()
    head, sep, tail = rest.partition(":")
    if sep and head.lower() in KINDS:
        kind, rest = head.lower(), tail
    elif sep and len(head) > 1 and head.isidentifier() and not Path(head).exists() and not Path(rest).exists():
        raise ValueError(f"{spec!r}: {head!r} is neither a folder nor a data set kind ({', '.join(sorted(KINDS))})")
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
    name, path, split = parse_spec(spec)
    root = Path(path)
    file = KINDS[name].file if name is not None else None
    if file and not root.is_file():
        raise FileNotFoundError(f"{root}: no such {file} file")
    if not file and not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data directory")
    kind = KINDS[name if name is not None else detect_kind(root)]
    train, evaluation, markers = kind.train, kind.evaluation, kind.markers
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
    return kind.reader(root, **kw)


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
        name, path, _ = parse_spec(s)
        kind = KINDS[name or detect_kind(path)]
        if kind.eval_only:
            raise ValueError(f"{s!r}: {kind.name} is for evaluation only; it cannot be mixed into training data")
        accepted = inspect.signature(kind.reader).parameters
        datasets.append(open_dataset(s, **{k: v for k, v in kw.items() if k in accepted}))
    return MixedDataset(datasets, ratios, length=length, seed=seed)

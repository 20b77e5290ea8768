"""The kinds of data set and their readers: each reader registers its kind, its splits and how
its folder is recognised, and :mod:`mobrecon.data.mixed` looks them up to open
``kind:path[:split]`` specs.

A reader is a class ``cls(root, split=..., **options)`` giving sample dicts
(:mod:`mobrecon.data.sample`); its file registers it at the definition::

    @register_reader("freihand", train="training", evaluation="evaluation",
                     markers={"training": "training_K.json", "evaluation": "evaluation_K.json"})
    class FreiHAND(Dataset): ...

and :mod:`mobrecon.data.mixed` imports that file. A folder given without a kind is recognised
by the first kind that finds one of its ``markers`` there or else, trying the kinds without
markers, whose ``detect(root)`` says yes (by default the reader's own ``looks_like(root)``,
where it has one); each group in registration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mobrecon.registry import Registry

__all__ = ["KINDS", "DataKind", "detect_kind", "register_reader"]


@dataclass(frozen=True)
class DataKind:
    """One registered kind of data set.

    name: the spec's ``kind:``; reader: the class, called as ``reader(root, **kw)``;
    train / evaluation: the reader's own names of the splits that ``train``/``training`` and
    ``eval``/``evaluation``/``test`` in a spec stand for (None: not there; both None: a reader
    without splits, given no ``split=``); markers: {split: file relative to the root} whose
    presence tells the folder's kind and which splits are on disk; detect: a test of the folder
    for kinds without marker files (default: the reader's static ``looks_like(root)``, if any);
    layout: what is looked for, for the unknown-layout error; eval_only: never mixed into
    training data; file: the spec's path is a file of this kind (e.g. 'fits'), not a folder."""

    name: str
    reader: Callable
    train: str | None = None
    evaluation: str | None = None
    markers: dict[str, str] = field(default_factory=dict)
    detect: Callable[[Path], bool] | None = None
    layout: str = ""
    eval_only: bool = False
    file: str | None = None

    def recognises(self, root: Path) -> bool:
        """Whether the folder ``root`` looks like a set of this kind."""
        if any((root / m).is_file() for m in self.markers.values()):
            return True
        return self.detect is not None and bool(self.detect(root))


KINDS: Registry[DataKind] = Registry("data set kind")


def register_reader(kind: str, train: str | None = None, evaluation: str | None = None,
                    markers: dict[str, str] | None = None, detect: Callable[[Path], bool] | None = None,
                    layout: str = "", eval_only: bool = False, file: str | None = None):
    """Class decorator registering a reader under ``kind`` (see :class:`DataKind`)."""

    def add(cls):
        test = detect if detect is not None else getattr(cls, "looks_like", None)
        KINDS.register(kind, DataKind(kind, cls, train, evaluation, dict(markers or {}), test,
                                      layout or " or ".join((markers or {}).values()), eval_only, file))
        return cls

    return add


def detect_kind(root: str | Path) -> str:
    """The kind of the data set in the folder ``root``, from its marker files or layout."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data directory")
    # marker files first, then layouts; by name within each, so the order does not depend on
    # which reader module happened to be imported first
    order = sorted(KINDS.values(), key=lambda k: (not k.markers, k.name))
    for kind in order:
        if kind.recognises(root):
            return kind.name
    looked = "; ".join(f"{k.name}: {k.layout}" for k in order if k.layout)
    raise ValueError(f"{root}: unknown data set layout (looked for {looked})")

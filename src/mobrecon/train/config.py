"""Training run settings: small dataclasses, read from a YAML file (``configs/*.yaml``).

Every key is checked: an unknown or mistyped one is a one-line error naming the file and key.
Epochs, batch size and the schedule are plain values so that a CPU run can be shortened.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mobrecon.data.transform import AugmentConfig
from mobrecon.train.losses import LossWeights

STAGES = ("pose2d", "mesh")
SCHEDULES = ("step", "cosine")


@dataclass(frozen=True)
class DataConfig:
    """``train``: a data mixture, e.g. ``synth:data/a=0.7,freihand:/sets/FreiHAND=0.3`` (see
    :func:`mobrecon.data.mixed.open_mixture`); ``val``: one set scored at each epoch end, its
    first ``val_count`` samples (0 = all), every ``val_every`` epochs and after the last;
    ``workers``: DataLoader processes."""

    train: str = ""
    val: str = ""
    val_count: int = 0
    val_every: int = 1
    workers: int = 2


@dataclass(frozen=True)
class OptimConfig:
    """Adam. ``schedule: step`` (the paper's): the learning rate divided by ``gamma`` at each
    milestone epoch (1e-3, /10 at epoch 30 of 38). ``schedule: cosine``: a linear warm-up over
    ``warmup_steps`` then a cosine from ``lr`` down to ``min_lr`` over the run's steps
    (epochs x steps per epoch), for a continuation sized to a time budget."""

    lr: float = 1e-3
    milestones: tuple[int, ...] = (30,)
    gamma: float = 0.1
    weight_decay: float = 0.0
    schedule: str = "step"
    min_lr: float = 0.0
    warmup_steps: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """``stage``: ``pose2d`` (stage 1, the 2D encoder alone) or ``mesh`` (stage 2, the whole
    network); ``init``: what to start from: a stage-1 checkpoint for stage 2, a checkpoint of
    the same stage, or (stage 2) a model file such as the shipped weights, to continue training
    them; ``epoch_steps`` caps the batches per epoch (0 = the whole set); ``max_steps`` stops
    early (0 = never); ``amp``: bfloat16 autocast for the network's forward pass (on a GPU, or
    on a CPU with bf16 instructions, where it is about 1.5x faster; the losses stay float32);
    ``channels_last``: images and convolution weights in NHWC memory order; ``compile``: a
    ``torch.compile`` backend for the training forward pass ("" = none; "inductor" generates
    fused kernels, needs a C++ compiler and compiles for a minute or two at the start);
    ``precise_bn``: at the end, BatchNorm's running statistics recomputed as the average over this
    many training batches (0 = keep the training's moving average; see
    :mod:`mobrecon.train.precise_bn`)."""

    model: str = "mobrecon_ghoststack"
    hand: str = "openhand"
    stage: str = "mesh"
    init: str = ""
    epochs: int = 38
    batch_size: int = 32
    epoch_steps: int = 0
    max_steps: int = 0
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    amp: bool = False
    channels_last: bool = False
    compile: str = ""
    precise_bn: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossWeights = field(default_factory=LossWeights)

    def check(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.precise_bn < 0:
            raise ValueError(f"precise_bn must be a number of batches >= 0, got {self.precise_bn}")
        if self.data.val_every < 1:
            raise ValueError(f"data.val_every must be at least 1 (epochs), got {self.data.val_every}")
        if self.augment.views not in (1, 2):
            raise ValueError(f"augment.views must be 1 or 2, got {self.augment.views}")
        if not self.loss.unit3d > 0:
            raise ValueError(f"loss.unit3d must be a positive length in metres, got {self.loss.unit3d}")
        if self.optim.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {self.optim.schedule!r}")


def _convert(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item, *_), = [typing.get_args(tp)]
        return tuple(_convert(item, v, where) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is str and value is None:
        return ""
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls, d: dict, where: str = "config"):
    """A dataclass ``cls`` from a nested dict, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    return cls(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in d.items()})


def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))


def load_config(path: str | os.PathLike, **overrides) -> TrainConfig:
    """Read a YAML config; ``overrides`` (dotted keys like ``data.train``) replace values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    for key, value in overrides.items():
        node = d
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        cfg = from_dict(TrainConfig, d, where=str(path))
        cfg.check()
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    return cfg

"""Training the hand detector on a composite set.

Adam with a linear warm-up and a cosine decay over ``steps``; loss = focal loss on the centre
heatmaps + ``size_weight`` L1 on box sizes + ``offset_weight`` L1 on centre offsets. The sample
order of every epoch comes from (seed, epoch) and every augmentation from (seed, epoch, index),
so a resumed run sees the same data as an uninterrupted one.

Run directory: ``config.json``, ``last.pt`` (model, optimizer, scheduler, step; written
atomically every ``checkpoint_every`` steps, at the end, when ``max_minutes`` runs out and on
SIGINT / SIGTERM), ``log.jsonl`` (losses, learning rate, images/s) and, once all steps are done,
``detector.pt`` (float16 weights, :mod:`mobrecon.detect.weights`).

Devices: ``device`` 'auto' (CUDA when available), 'cpu' or 'cuda'. On CUDA the batches come
through pinned memory with non-blocking copies, and ``amp`` runs the forward pass under bfloat16
autocast (the losses in float32). Checkpoints always hold CPU tensors, so they load anywhere.

``init``: a new run starts from a detector weights file (the shipped format, a run's
``detector.pt`` or a ``last.pt``) instead of a random network, with a fresh optimizer and
schedule; the network's architecture is the file's. A resumed run ignores it (its checkpoint
already holds the weights).

``schedule_minutes``: a time-budgeted run. The warm-up is still ``warmup`` steps, but the cosine
decay runs over this much training time (summed over resumed runs) instead of over ``steps``,
and the run is done (``detector.pt`` written) when the time is spent or ``steps`` is reached,
whichever comes first. For a machine whose step rate is not known in advance.

``data``: one composite directory, a list of them, or a comma-separated string of them
(concatenated, :class:`~mobrecon.detect.dataset.CompositeDataset`). ``real``: caches of real
photos with boxes (:mod:`mobrecon.detect.real_boxes`), served after the composites in every
epoch, ``real_repeat`` times each.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from mobrecon.detect.centernet import CenterNet, CenterNetConfig
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.detector import resolve_device
from mobrecon.detect.losses import detection_loss
from mobrecon.detect.real_boxes import MixedDetectionSet, RealBoxes
from mobrecon.detect.weights import load_detector_model, save_detector
from mobrecon.io_utils import atomic_path, atomic_write_text
from mobrecon.train.schedule import cosine_decay, cosine_factor
from mobrecon.train.stop import StopFlag

CHECKPOINT_FORMAT = "mobrecon-detector-checkpoint-1"


@dataclass
class DetectorTrainConfig:
    """A detector training run (also readable from a YAML file of the same keys)."""

    data: str | list = "data/det_train"  # a directory, a list of them, or "dir1,dir2"
    steps: int = 6000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    seed: int = 0
    workers: int = 1
    threads: int | None = None
    checkpoint_every: int = 200
    max_minutes: float | None = None     # stop (resumable) after this much wall time in this run
    size_weight: float = 0.1
    offset_weight: float = 1.0
    model: dict = field(default_factory=dict)   # CenterNetConfig overrides
    device: str = "auto"                 # auto (CUDA when available) | cpu | cuda
    amp: bool = False                    # bfloat16 autocast of the forward pass (CUDA only)
    init: str | None = None              # a new run starts from these detector weights
    schedule_minutes: float | None = None  # cosine decay over training time, not steps
    real: str | list | None = None       # real-box caches (mobrecon detect-real) mixed in
    real_repeat: int = 1                 # each real image this many times per epoch

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "DetectorTrainConfig":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such config file")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:  # a python/object tag among them: safe_load refuses it
            raise ValueError(f"{p}: not valid YAML ({' '.join(str(e).split())})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{p}: expected a mapping of settings")
        d.update({k: v for k, v in overrides.items() if v is not None})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{p}: unknown setting(s) {', '.join(unknown)}")
        return cls(**d)

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or self.workers < 0:
            raise ValueError("steps, batch_size and lr must be positive and workers >= 0")
        if self.schedule_minutes is not None and not self.schedule_minutes > 0:
            raise ValueError(f"schedule_minutes must be positive, got {self.schedule_minutes}")
        if self.real_repeat < 1:
            raise ValueError(f"real_repeat must be >= 1, got {self.real_repeat}")
        if str(self.device).strip().lower() not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


class EpochSampler(Sampler):
    """Indices ``epoch * N + i`` (the dataset reads the epoch off them) from sample position
    ``start`` on: each epoch a permutation of range(N) drawn from (seed, epoch)."""

    def __init__(self, n: int, seed: int, start: int = 0, total: int | None = None):
        self.n, self.seed, self.start = n, seed, start
        self.total = total

    def __iter__(self):
        pos = self.start
        end = self.total if self.total is not None else 2 ** 62
        while pos < end:
            epoch, off = divmod(pos, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for i in perm[off:]:
                if pos >= end:
                    return
                yield int(epoch * self.n + i)
                pos += 1

    def __len__(self) -> int:
        return (self.total or 0) - self.start


class _Clock:
    """Training seconds so far (over resumed runs too), read by the time-based schedule."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = float(seconds)


def _schedule(cfg: DetectorTrainConfig, clock: _Clock | None = None):
    """The lr multiplier per step: warm-up, then a cosine down to 0.02 over ``steps`` or, with
    ``schedule_minutes``, over that much training time (``clock``)."""
    def f(step: int) -> float:
        if step >= cfg.warmup and cfg.schedule_minutes is not None and clock is not None:
            return cosine_decay(clock.seconds / (60.0 * cfg.schedule_minutes), 0.02)
        return cosine_factor(step, cfg.steps, cfg.warmup, 0.02)
    return f


def _cpu(obj):
    """``obj`` (nested dicts / lists of tensors) with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def _initial_model(cfg: DetectorTrainConfig) -> CenterNet:
    """The network a new run starts from: random (seeded), or ``cfg.init``'s weights."""
    model = CenterNet(CenterNetConfig.from_dict(cfg.model) if cfg.model else None)
    if not cfg.init:
        return model
    try:
        start, _ = load_detector_model(cfg.init)
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"init: {e}") from None
    if cfg.model and model.cfg.to_dict() != start.cfg.to_dict():
        raise ValueError(f"init: {cfg.init} has another network architecture than the config's model settings")
    model = CenterNet(start.cfg)
    model.load_state_dict(start.state_dict())
    return model


def _worker_init(_worker_id: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _collate(items: list[dict]) -> dict:
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def train_detector(cfg: DetectorTrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or with ``resume`` continue) a detector run in ``out``; returns a status dict
    (``status`` 'done' / 'paused' / 'interrupted', ``step``, ``checkpoint``, ``model``)."""
    cfg.check()
    out = Path(out)
    ck_path = out / "last.pt"
    if resume and not ck_path.is_file():
        raise FileNotFoundError(f"{ck_path}: nothing to resume")
    if not resume and ck_path.is_file():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or use another --out")
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    ck = None
    if resume:
        ck = torch.load(ck_path, map_location="cpu", weights_only=True)
        if ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{ck_path}: not a detector training checkpoint")
        model = CenterNet(CenterNetConfig.from_dict(ck["model_config"]) if "model_config" in ck else
                          CenterNetConfig.from_dict(cfg.model) if cfg.model else None)
    else:
        model = _initial_model(cfg)
    model.to(device)
    clock = _Clock()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, clock))
    step = 0
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        step = int(ck["step"])
        clock.seconds = float(ck.get("train_seconds", 0.0))
        del ck
    budget = None if cfg.schedule_minutes is None else 60.0 * cfg.schedule_minutes
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")

    data = CompositeDataset(cfg.data, augment=True, seed=cfg.seed)
    if cfg.real:
        real = [p.strip() for p in cfg.real.split(",")] if isinstance(cfg.real, str) else list(cfg.real)
        data = MixedDetectionSet(data, [RealBoxes(p) for p in real if p], cfg.real_repeat, cfg.seed)
    sampler = EpochSampler(len(data), cfg.seed, start=step * cfg.batch_size, total=cfg.steps * cfg.batch_size)
    loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        collate_fn=_collate, worker_init_fn=_worker_init, prefetch_factor=4 if cfg.workers else None,
                        pin_memory=cuda)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(cfg.amp and cuda)) if cuda else None

    def save() -> Path:
        state = {"format": CHECKPOINT_FORMAT, "model": _cpu(model.state_dict()), "optimizer": _cpu(opt.state_dict()),
                 "scheduler": sched.state_dict(), "step": step, "model_config": model.cfg.to_dict(),
                 "config": dataclasses.asdict(cfg), "train_seconds": round(clock.seconds, 3)}
        with atomic_path(ck_path, suffix=".tmp") as tmp:
            torch.save(state, tmp)
        return ck_path

    t_start = time.perf_counter()
    seconds0 = clock.seconds
    status = "done"
    time_up = budget is not None and clock.seconds >= budget
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, unit="step", disable=not progress, desc="detector")
    log = open(out / "log.jsonl", "a")
    with StopFlag() as stop:
        try:
            t_log, seen = time.perf_counter(), 0
            for batch in ([] if time_up else loader):
                if cuda:
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    with autocast:
                        res = model(batch.pop("input"))
                    res = {k: v.float() for k, v in res.items()}
                else:
                    res = model(batch.pop("input"))
                losses = detection_loss(res, batch, cfg.size_weight, cfg.offset_weight)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                opt.step()
                clock.seconds = seconds0 + time.perf_counter() - t_start
                sched.step()
                step += 1
                seen += len(res["heatmap"])
                bar.update(1)
                if step % 20 == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    rec = {"step": step, **{k: round(float(v.detach()), 5) for k, v in losses.items()},
                           "lr": sched.get_last_lr()[0], "images_per_s": round(seen / (now - t_log), 1),
                           "seconds": round(clock.seconds, 1)}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{rec['total']:.3f}", ips=rec["images_per_s"])
                    t_log, seen = now, 0
                if step % cfg.checkpoint_every == 0:
                    save()
                if stop.raised:
                    status = "interrupted"
                    break
                if budget is not None and clock.seconds >= budget:
                    time_up = True
                    break
                if cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes:
                    status = "paused"
                    break
        finally:
            bar.close()
            log.close()
    save()
    finished = step >= cfg.steps or time_up
    result = {"status": "done" if finished else status, "step": step, "checkpoint": str(ck_path),
              "seconds": round(time.perf_counter() - t_start, 1), "device": str(device)}
    if finished:
        model.eval()
        data_name = cfg.data if isinstance(cfg.data, str) else ",".join(str(d) for d in cfg.data)
        meta = {"steps": step, "batch_size": cfg.batch_size, "data": data_name, "images": len(data)}
        if cfg.real:
            meta["real"] = cfg.real if isinstance(cfg.real, str) else ",".join(str(r) for r in cfg.real)
        if cfg.init:
            meta["init"] = str(cfg.init)
        result["model"] = str(save_detector(out / "detector.pt", model, meta=meta))
    return result

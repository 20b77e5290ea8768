"""Training the hand detector on a composite set.

Adam with a linear warm-up and a cosine decay over ``steps``; loss = focal loss on the centre
heatmaps + ``size_weight`` L1 on box sizes + ``offset_weight`` L1 on centre offsets. The sample
order of every epoch comes from (seed, epoch) and every augmentation from (seed, epoch, index),
so a resumed run sees the same data as an uninterrupted one.

Run directory: ``config.json``, ``last.pt`` (model, optimizer, scheduler, step; written
atomically every ``checkpoint_every`` steps, at the end, when ``max_minutes`` runs out and on
SIGINT / SIGTERM), ``log.jsonl`` (losses, learning rate, images/s) and, once all steps are done,
``detector.pt`` (float16 weights, :mod:`mobrecon.detect.weights`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from mobrecon.detect.centernet import CenterNet, CenterNetConfig
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.losses import detection_loss
from mobrecon.detect.weights import save_detector
from mobrecon.io_utils import atomic_path, atomic_write_text
from mobrecon.train.stop import StopFlag

CHECKPOINT_FORMAT = "mobrecon-detector-checkpoint-1"


@dataclass
class DetectorTrainConfig:
    """A detector training run (also readable from a YAML file of the same keys)."""

    data: str = "data/det_train"
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

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "DetectorTrainConfig":
        import yaml

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such config file")
        d = yaml.safe_load(p.read_text()) or {}
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


def _schedule(cfg: DetectorTrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0))) * 0.98 + 0.02
    return f


def _worker_init(_worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _collate(items: list[dict]) -> dict:
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def train_detector(cfg: DetectorTrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or with ``resume`` continue) a detector run in ``out``; returns a status dict
    (``status`` 'done' / 'paused' / 'interrupted', ``step``, ``checkpoint``, ``model``)."""
    from tqdm import tqdm

    cfg.check()
    out = Path(out)
    ck_path = out / "last.pt"
    if resume and not ck_path.is_file():
        raise FileNotFoundError(f"{ck_path}: nothing to resume")
    if not resume and ck_path.is_file():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or use another --out")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    model = CenterNet(CenterNetConfig.from_dict(cfg.model) if cfg.model else None)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg))
    step = 0
    if resume:
        ck = torch.load(ck_path, map_location="cpu", weights_only=True)
        if ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{ck_path}: not a detector training checkpoint")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        step = int(ck["step"])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")

    data = CompositeDataset(cfg.data, augment=True, seed=cfg.seed)
    sampler = EpochSampler(len(data), cfg.seed, start=step * cfg.batch_size, total=cfg.steps * cfg.batch_size)
    loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        collate_fn=_collate, worker_init_fn=_worker_init, prefetch_factor=4 if cfg.workers else None)

    def save() -> Path:
        state = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "step": step, "model_config": model.cfg.to_dict(),
                 "config": dataclasses.asdict(cfg)}
        with atomic_path(ck_path, suffix=".tmp") as tmp:
            torch.save(state, tmp)
        return ck_path

    t_start = time.perf_counter()
    status = "done"
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, unit="step", disable=not progress, desc="detector")
    log = open(out / "log.jsonl", "a")
    with StopFlag() as stop:
        try:
            t_log, seen = time.perf_counter(), 0
            for batch in loader:
                res = model(batch.pop("input"))
                losses = detection_loss(res, batch, cfg.size_weight, cfg.offset_weight)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                opt.step()
                sched.step()
                step += 1
                seen += len(res["heatmap"])
                bar.update(1)
                if step % 20 == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    rec = {"step": step, **{k: round(float(v.detach()), 5) for k, v in losses.items()},
                           "lr": sched.get_last_lr()[0], "images_per_s": round(seen / (now - t_log), 1)}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{rec['total']:.3f}", ips=rec["images_per_s"])
                    t_log, seen = now, 0
                if step % cfg.checkpoint_every == 0:
                    save()
                if stop.raised:
                    status = "interrupted"
                    break
                if cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes:
                    status = "paused"
                    break
        finally:
            bar.close()
            log.close()
    save()
    result = {"status": status if step < cfg.steps else "done", "step": step, "checkpoint": str(ck_path),
              "seconds": round(time.perf_counter() - t_start, 1)}
    if step >= cfg.steps:
        model.eval()
        meta = {"steps": step, "batch_size": cfg.batch_size, "data": str(cfg.data), "images": len(data)}
        result["model"] = str(save_detector(out / "detector.pt", model, meta=meta))
    return result

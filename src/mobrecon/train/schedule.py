"""Learning-rate schedules of a training run (see :class:`~mobrecon.train.config.OptimConfig`).

``step``: the paper's, divided by ``gamma`` at milestone epochs (stepped once per epoch).
``cosine``: a linear warm-up then a cosine down to ``min_lr`` over the whole run (stepped once
per batch), for a continuation whose length is set by a time budget.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from mobrecon.train.config import OptimConfig


def cosine_decay(t: float, floor: float) -> float:
    """``floor + (1 - floor) (1 + cos(pi t)) / 2``: 1 at ``t = 0`` down to ``floor`` at ``t >= 1``."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


def cosine_factor(step: int, total: int, warmup: int, floor: float) -> float:
    """The multiplier of the base rate after ``step`` batches of ``total``: ``(step + 1) /
    warmup`` during the warm-up, then :func:`cosine_decay` of the fraction of the remaining
    batches done, ``floor = min_lr / lr``."""
    if step < warmup:
        return (step + 1) / warmup
    return cosine_decay((step - warmup) / max(total - warmup, 1), floor)


def build_scheduler(optim: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    """``(scheduler, per_batch)``: the schedule of ``cfg`` for a run of ``total_steps`` batches;
    ``per_batch`` says whether to step it after every batch (cosine) or every epoch (step)."""
    if cfg.schedule == "cosine":
        floor = cfg.min_lr / cfg.lr if cfg.lr > 0 else 0.0
        f = lambda s: cosine_factor(s, total_steps, cfg.warmup_steps, floor)  # noqa: E731
        return torch.optim.lr_scheduler.LambdaLR(optim, f), True
    return torch.optim.lr_scheduler.MultiStepLR(optim, milestones=list(cfg.milestones), gamma=cfg.gamma), False


def budget_schedule(cfg: OptimConfig, total_steps: int) -> OptimConfig:
    """The schedule for a run cut to a budget of ``total_steps`` batches: a warm-up of 5 % (at
    most 300 batches) then one cosine from ``cfg.lr`` down to ``lr / 100`` over the rest.

    The paper's step decays (/10 at epochs 20, 40 and 60 of 80 in pre-training) scaled to a
    short run leave the rate at a tenth after a quarter of it and at a hundredth for its second
    half, long before the network has converged: the released GhostStack's stage 1 spent 2,148
    of its 2,864 batches at 1e-4 or less and its 2D loss went flat at the first decay.
    """
    return replace(cfg, schedule="cosine", warmup_steps=min(300, max(total_steps // 20, 1)),
                   min_lr=cfg.lr / 100)


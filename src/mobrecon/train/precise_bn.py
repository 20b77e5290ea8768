"""Precise BatchNorm statistics: the running mean and variance that BatchNorm uses in eval mode,
recomputed at the end of training as the plain average over many training batches.

During training each BatchNorm layer keeps an exponential average of its batches' statistics
(momentum 0.1: in effect the last ~10 batches), so its eval-mode statistics wobble from epoch to
epoch even when the weights barely move. In the overfit check of issue 16 (512 images, the end of
a cosine at lr 1e-5) that wobble alone moved the 2D error between 0.97 and 1.44 px from one epoch
to the next. Averaging the statistics over all 512 images took one end of a run from 1.21 to
1.02 px (4.21 to 4.01 mm PA-MPJPE) and a later one from 1.045 to 1.085 px: it does not beat a
lucky moving average, it makes the result independent of which batches came last
(docs/training_diagnosis.md). Off by default (``precise_bn: 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def batchnorm_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``net`` that tracks running statistics."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_batchnorm(net: nn.Module, images: Iterable[torch.Tensor],
                        forward: Callable[[torch.Tensor], object] | None = None) -> int:
    """Set every BatchNorm layer's running mean and variance in ``net`` to the average of its
    batch statistics over ``images`` (an iterable of (B, 3, S, S) input batches), weights
    untouched; ``forward`` runs a batch (default ``net``; e.g. under autocast). Returns the number
    of batches seen (0: nothing changed). ``net`` is left in eval mode."""
    layers = batchnorm_layers(net)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
             for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch weighs the same
    net.train()
    n = 0
    for x in images:
        (forward or net)(x)
        n += 1
    for m, (mean, var, count, momentum) in zip(layers, saved):
        m.momentum = momentum
        if n == 0:  # nothing seen: keep what was there
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
    net.eval()
    return n

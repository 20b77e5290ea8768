"""Multiply-add (Mult-Adds) and parameter counting with ``torch.utils.flop_counter``.

``FlopCounterMode`` counts 2 FLOPs per multiply-add for the matrix ops it knows (mm, addmm, bmm,
baddbmm, convolution, attention); Mult-Adds = FLOPs / 2. Element-wise ops (bias adds in
``addmm`` aside, ReLU, mean, ...) count 0, as in the usual Mult-Adds convention.

Added formulas (passed through ``custom_mapping``, so no global registry is touched):

* ``aten.grid_sampler_2d``: bilinear interpolation of each output element blends 4 input values,
  counted as 4 multiply-adds per output element per channel (the weight computation per sample
  point is shared across channels and ignored); nearest counts 0, bicubic 16.
* ``aten.index_select``: a gather, 0 multiply-adds (listed explicitly for clarity).

Products the counter cannot see because they are written element-wise (DSConv's depth-wise
step is a multiply and a sum over the spiral, which runs far faster than the same products as a
batched matmul) come from the module itself: a module with ``uncounted_macs(x) -> int`` has
that many Mult-Adds added for each call on input ``x``, to its own entry and its parents'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["MacReport", "count_macs_params", "count_params", "mac_report", "custom_flop_mapping"]

_TAPS = {0: 4, 1: 0, 2: 16}  # grid_sampler interpolation_mode: bilinear, nearest, bicubic


def _grid_sampler_2d_flop(input_shape, grid_shape, interpolation_mode=0, *args, out_shape=None, **kwargs) -> int:
    """FLOPs (2 per multiply-add) of grid_sampler_2d; out_shape: (N, C, H_out, W_out)."""
    return 2 * _TAPS.get(int(interpolation_mode), 4) * math.prod(out_shape)


def _zero_flop(*args, out_shape=None, **kwargs) -> int:
    return 0


def custom_flop_mapping() -> dict:
    """The extra formulas handed to ``FlopCounterMode(custom_mapping=...)``."""
    return {
        torch.ops.aten.grid_sampler_2d: _grid_sampler_2d_flop,
        torch.ops.aten.index_select: _zero_flop,
    }


@dataclass
class MacReport:
    """macs: total Mult-Adds; params: parameter count; by_module: Mult-Adds per module path
    (FlopCounterMode's names, e.g. ``'Decoder3D.blocks.0.up'``; parents include children)."""

    macs: int
    params: int
    by_module: dict[str, int] = field(default_factory=dict)

    def macs_excluding(self, suffix: str) -> int:
        """Total Mult-Adds minus those of the modules whose path ends with ``suffix`` (e.g. '.up')."""
        return self.macs - sum(v for k, v in self.by_module.items() if k.endswith(suffix))


def count_params(modules, exclude=()) -> int:
    """Parameters of ``modules`` (each shared tensor once), minus any that belong to ``exclude``."""
    seen = {id(p) for m in exclude for p in m.parameters()}
    n = 0
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
    return n


def mac_report(module: nn.Module, *inputs) -> MacReport:
    """Run ``module(*inputs)`` once (eval, no grad) under the counter; parameters are all of
    ``module.parameters()``. Batch size is whatever ``inputs`` have (use 1 for per-sample counts)."""
    was_training = module.training
    module.eval()
    counter = FlopCounterMode(display=False, depth=None, custom_mapping=custom_flop_mapping())
    root = type(module).__name__
    extra: dict[str, int] = {}

    def add_extra(name):
        def hook(mod, args, out):
            extra[name] = extra.get(name, 0) + int(mod.uncounted_macs(args[0]))
        return hook

    hooks = [m.register_forward_hook(add_extra(f"{root}.{n}" if n else root))
             for n, m in module.named_modules() if hasattr(m, "uncounted_macs")]
    try:
        with torch.no_grad(), counter:
            module(*inputs)
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    by_module = {k: sum(v.values()) // 2 for k, v in counter.get_flop_counts().items() if k != "Global"}
    for name, macs in extra.items():
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            by_module[prefix] = by_module.get(prefix, 0) + macs
    params = sum(p.numel() for p in module.parameters())
    return MacReport(counter.get_total_flops() // 2 + sum(extra.values()), params, by_module)


def count_macs_params(module: nn.Module, *inputs) -> tuple[int, int]:
    """(Mult-Adds, parameters) of one forward of ``module(*inputs)``; see :func:`mac_report`."""
    r = mac_report(module, *inputs)
    return r.macs, r.params

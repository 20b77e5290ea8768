"""A small CenterNet-style hand detector (objects as points).

A light depth-wise separable backbone (the encoders' :class:`~mobrecon.models.blocks.DSUnit`
and :class:`~mobrecon.models.blocks.ConvBNReLU`) goes down to stride 32; a feature pyramid
brings it back up to stride 4, where three heads predict, per output cell:

* ``heatmap`` (B, 2, S/4, S/4) logits of a hand's box centre lying in the cell, one channel per
  class (0 right hand, 1 left hand);
* ``size`` (B, 2, S/4, S/4) the box's width and height in output cells (stride-4 pixels);
* ``offset`` (B, 2, S/4, S/4) the sub-cell position of the centre, in cells (0..1).

Input: (B, 3, S, S) RGB normalised as (x / 255 - 0.5) / 0.5, S = 256 (any multiple of 32
works). Decoding: :mod:`mobrecon.detect.decode`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mobrecon.models.blocks import ConvBNReLU, DSUnit

NUM_CLASSES = 2
CLASS_NAMES = ("right", "left")
STRIDE = 4


@dataclass(frozen=True)
class CenterNetConfig:
    """Widths of the backbone stages (strides 2, 4, 8, 16, 32), of the pyramid and of the heads."""

    input_size: int = 256
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    depths: tuple[int, ...] = (0, 1, 2, 2, 2)   # extra DS units per stage after its down-sampling
    neck: int = 48
    head: int = 32
    prior: float = 0.01                          # initial heatmap probability (focal-loss prior)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "CenterNetConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _down(in_ch: int, out_ch: int) -> nn.Sequential:
    """Stride-2 3x3 depth-wise conv then a point-wise conv: (B, in, H, W) -> (B, out, H/2, W/2)."""
    return nn.Sequential(ConvBNReLU(in_ch, in_ch, 3, stride=2, groups=in_ch), ConvBNReLU(in_ch, out_ch, 1))


class _Head(nn.Module):
    """3x3 depth-wise + 1x1 conv-BN-ReLU, then a 1x1 projection: (B, C, H, W) -> (B, out, H, W)."""

    def __init__(self, ch: int, hidden: int, out: int, bias: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(ch, ch, 3, groups=ch), ConvBNReLU(ch, hidden, 1))
        self.out = nn.Conv2d(hidden, out, 1)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.constant_(self.out.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class CenterNet(nn.Module):
    """(B, 3, S, S) -> dict(heatmap (B, 2, S/4, S/4) logits, size (B, 2, S/4, S/4) cells,
    offset (B, 2, S/4, S/4) cells)."""

    def __init__(self, cfg: CenterNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CenterNetConfig()
        w, d = cfg.widths, cfg.depths
        if len(w) != 5 or len(d) != 5:
            raise ValueError("widths and depths need one entry per stride 2, 4, 8, 16, 32")
        stages = [nn.Sequential(ConvBNReLU(3, w[0], 3, stride=2), *[DSUnit(w[0], w[0]) for _ in range(d[0])])]
        for i in range(1, 5):
            stages.append(nn.Sequential(_down(w[i - 1], w[i]), *[DSUnit(w[i], w[i]) for _ in range(d[i])]))
        self.stages = nn.ModuleList(stages)
        # pyramid: strides 32 -> 16 -> 8 -> 4, each level a lateral 1x1 plus the up-sampled coarser one
        self.lateral = nn.ModuleList([ConvBNReLU(w[i], cfg.neck, 1) for i in (1, 2, 3, 4)])
        self.smooth = nn.ModuleList([DSUnit(cfg.neck, cfg.neck) for _ in range(3)])
        self.heatmap = _Head(cfg.neck, cfg.head, NUM_CLASSES, bias=-math.log((1 - cfg.prior) / cfg.prior))
        self.size = _Head(cfg.neck, cfg.head, 2)
        self.offset = _Head(cfg.neck, cfg.head, 2, bias=0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, neck, S/4, S/4)."""
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        y = self.lateral[3](feats[4])                       # stride 32
        for lvl in (2, 1, 0):                                # strides 16, 8, 4
            lat = self.lateral[lvl](feats[lvl + 1])
            y = self.smooth[lvl](lat + F.interpolate(y, size=lat.shape[-2:], mode="nearest"))
        return y

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"input must be (B, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        f = self.features(x)
        return {"heatmap": self.heatmap(f), "size": self.size(f), "offset": self.offset(f)}

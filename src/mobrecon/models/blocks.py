"""Basic building blocks for the MobRecon 2D encoders.

Every conv is conv -> BN -> ReLU unless it is a projection (``act=False``/``bn=False``).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class ConvBNReLU(nn.Sequential):
    """k x k conv followed (optionally) by BatchNorm and ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, bn: bool = True, act: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=not bn)
        ]
        if bn:
            layers.append(nn.BatchNorm2d(out_ch))
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def projection(in_ch: int, out_ch: int) -> nn.Conv2d:
    """Plain 1x1 conv with bias (no BN, no ReLU)."""
    return nn.Conv2d(in_ch, out_ch, 1)


class DSUnit(nn.Sequential):
    """Depth-wise separable unit: 3x3 depth-wise conv-BN-ReLU + 1x1 point-wise conv-BN-ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__(
            ConvBNReLU(in_ch, in_ch, 3, stride, groups=in_ch),
            ConvBNReLU(in_ch, out_ch, 1),
        )


class SEBlock(nn.Module):
    """Squeeze-and-excitation channel re-weighting."""

    def __init__(self, ch: int, reduction: int = 4):
        super().__init__()
        hidden = max(ch // reduction, 8)
        self.fc1 = nn.Linear(ch, hidden)
        self.fc2 = nn.Linear(hidden, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w), inplace=True)))
        return x * w[:, :, None, None]


class GhostModule(nn.Module):
    """Ghost module (GhostNet): a primary conv makes ceil(out/ratio) channels, a cheap
    depth-wise conv on those makes the rest; outputs are concatenated and cut to ``out_ch``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, ratio: int = 2,
                 dw_kernel: int = 3, stride: int = 1, act: bool = True):
        super().__init__()
        self.out_ch = out_ch
        primary = math.ceil(out_ch / ratio)
        cheap = primary * (ratio - 1)
        self.primary = ConvBNReLU(in_ch, primary, kernel, stride, act=act)
        self.cheap = ConvBNReLU(primary, cheap, dw_kernel, 1, groups=primary, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.primary(x)
        out = torch.cat([p, self.cheap(p)], dim=1)
        return out[:, : self.out_ch]


class GhostUnit(nn.Module):
    """Depth-wise 3x3 then ghost 1x1: the ghost counterpart of :class:`DSUnit`."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.dw = ConvBNReLU(in_ch, in_ch, 3, stride, groups=in_ch)
        self.ghost = GhostModule(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ghost(self.dw(x))


class Reorg(nn.Module):
    """Space-to-depth: (B, C, H, W) -> (B, C*s*s, H/s, W/s)."""

    def __init__(self, stride: int = 2):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x, self.stride)

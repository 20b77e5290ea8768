"""Basic building blocks for the MobRecon 2D encoders.

Every conv is conv -> BN -> ReLU unless it is a projection (``act=False``/``bn=False``).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class ConvBNReLU(nn.Sequential):
    """k x k conv followed (optionally) by BatchNorm and ReLU; (B, in, H, W) -> (B, out, H/s, W/s)."""

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


class GhostModule(nn.Module):
    """Ghost module (GhostNet): a primary 1x1 conv makes ceil(out/ratio) channels, a cheap
    3x3 depth-wise conv on those makes the rest; outputs are concatenated and cut to ``out_ch``.
    (B, in_ch, H, W) -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, ratio: int = 2, dw_kernel: int = 3):
        super().__init__()
        self.out_ch = out_ch
        primary = math.ceil(out_ch / ratio)
        self.primary = ConvBNReLU(in_ch, primary, 1)
        self.cheap = ConvBNReLU(primary, primary * (ratio - 1), dw_kernel, groups=primary)
        self.cut = primary * ratio != out_ch  # (a no-op cut is still a Slice node in ONNX, ~14 us each)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.primary(x)
        y = torch.cat([p, self.cheap(p)], dim=1)
        return y[:, : self.out_ch] if self.cut else y


def pointwise(in_ch: int, out_ch: int, ghost: bool = False) -> nn.Module:
    """The 1x1 conv-BN-ReLU of the encoders, or its ghost-module replacement."""
    return GhostModule(in_ch, out_ch) if ghost else ConvBNReLU(in_ch, out_ch, 1)


class DSUnit(nn.Module):
    """Depth-wise separable unit: ``n_dw`` 3x3 depth-wise conv-BN-ReLU, then a point-wise
    conv-BN-ReLU (a ghost module when ``ghost``); a residual connection is added when the
    input and output widths agree.  (B, in_ch, H, W) -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, n_dw: int = 1, ghost: bool = False):
        super().__init__()
        self.dw = nn.Sequential(*[ConvBNReLU(in_ch, in_ch, 3, groups=in_ch) for _ in range(n_dw)])
        self.pw = pointwise(in_ch, out_ch, ghost)
        self.residual = in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return y + x if self.residual else y


class SEBlock(nn.Module):
    """Squeeze-and-excitation: global average pool -> FC (bias-free) + BN + ReLU -> FC + BN ->
    sigmoid channel weights, hidden width min(ch / reduction, cap).  (B, C, H, W) -> same."""

    def __init__(self, ch: int, reduction: int = 2, cap: int = 256):
        super().__init__()
        hidden = max(min(ch // reduction, cap), 1)
        self.fc = nn.Sequential(
            nn.Linear(ch, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, ch, bias=False), nn.BatchNorm1d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc(x.mean(dim=(2, 3))))
        return x * w[:, :, None, None]


def projection(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    """Plain 1x1 conv (no BN, no ReLU)."""
    return nn.Conv2d(in_ch, out_ch, 1, bias=bias)


class Reorg(nn.Module):
    """Space-to-depth: (B, C, H, W) -> (B, C*s*s, H/s, W/s)."""

    def __init__(self, stride: int = 2):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x, self.stride)


class ReorgConv(nn.Module):
    """:class:`Reorg` as a fixed grouped conv, its inference form: channel ``c * s * s + i * s + j``
    of the output is pixel (i, j) of each s x s cell of input channel c, exactly as
    ``pixel_unshuffle``. (ONNX exports ``pixel_unshuffle`` as a 6-D Transpose, which ONNX
    Runtime ran in 0.75 ms on GhostStack's stem, a tenth of the network; this conv: 0.1 ms.)
    (B, C, H, W) -> (B, C*s*s, H/s, W/s)."""

    def __init__(self, channels: int, stride: int = 2):
        super().__init__()
        self.channels, self.stride = int(channels), int(stride)
        s2 = self.stride * self.stride
        weight = torch.zeros(self.channels * s2, 1, self.stride, self.stride)
        cell = torch.arange(s2)
        weight.view(self.channels, s2, s2)[:, cell, cell] = 1.0  # output (c, i*s+j) reads (i, j)
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.stride, groups=self.channels)

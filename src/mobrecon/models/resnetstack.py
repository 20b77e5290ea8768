"""ResNet18-Stack: the heavy stacked 2D encoder of MobRecon Table 1 (baseline).

The paper (Sec. 3.1, Table 1) compares its stacked encoders with "a stacked network with
ResNet18" at 2391.3M Mult-Adds and 25.2M parameters for a 128x128 input, without describing it
further. This module follows the stacked ResNet layout of the authors' earlier CMR code (two
ResNet18 trunks, the first followed by a U-Net style up-sampling path whose map is fused back
into the second trunk), adapted to this project's encoder interface (F_e 256 @ 4x4, a 24-channel
16x16 map for the 2D pose head).

Layout (128x128 input, every conv is conv -> BN -> ReLU unless noted):

  stem     7x7 s2 conv 3 -> 64                                         x0: 64 @ 64x64
  trunk 1  3x3 s2 max-pool, ResNet18 stages of 2 BasicBlocks each:
           64 @ 32x32, 128 @ 16x16, 256 @ 8x8, 512 @ 4x4
  up 1     4 levels of (bilinear x2 -> concat the trunk skip of that size -> 3x3 conv to the
           skip's width): 256 @ 8, 128 @ 16, 64 @ 32, then 3x3 64 -> 64 @ 64x64 (no skip);
           head 3x3 64 -> 24                                           m1: 24 @ 64x64
  fusion   concat [x0, m1] (88) -> 3x3 88 -> 88 -> 3x3 88 -> 128 -> 1x1 128 -> 64 (BN, no ReLU)
  trunk 2  same as trunk 1 (own weights)                               512 @ 4x4
  F_e      1x1 projection 512 -> 256 (bias, no BN/ReLU)                F_e: 256 @ 4x4
  up 2     the "map part": 2 levels as in up 1 (256 @ 8, 128 @ 16), head 3x3 128 -> 24
                                                                       map: 24 @ 16x16

Measured with :func:`mobrecon.models.flops.mac_report` (batch 1, 128x128):

  encoder (``forward(x, with_map=False)`` / ``encoder_num_params()``):
      2429.6M Mult-Adds (paper 2391.3M, +1.6%), 25.03M parameters (paper 25.2M, -0.7%)
  map part (``up 2``, booked under the "2D part"): 233.6M Mult-Adds, 2.24M parameters

Where it goes: the two ResNet18 trunks are 2 x 11.17M parameters and 2 x 553.6M Mult-Adds; the
stack-1 up-sampling path (2.37M, 547.4M, much of it at 32x32 and 64x64) and the fusion convs
at 64x64 (0.18M, 734.3M) make up nearly all the rest (stem 38.5M, F_e projection 0.13M). The
paper does not describe its layout, so the remaining +1.6% / -0.7% is detail it leaves open.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import ConvBNReLU
from .encoder import register_encoder
from .trunkstack import TrunkStack, UpFusion

__all__ = ["BasicBlock", "ResNet18Trunk", "ResNet18Stack"]


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN (ReLU between) plus a shortcut, ReLU after the sum.

    (B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride). The shortcut is the identity when
    shapes match, else a strided 1x1 conv -> BN."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(in_ch, out_ch, 3, stride),
                                  ConvBNReLU(out_ch, out_ch, 3, 1, act=False))
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch
                         else ConvBNReLU(in_ch, out_ch, 1, stride, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet18Trunk(nn.Module):
    """ResNet18 after its 7x7 stem: 3x3 s2 max-pool and four stages of ``depth`` BasicBlocks.

    (B, in_ch, 64, 64) -> list of stage outputs, shallow first:
    [(B, 64, 32, 32), (B, 128, 16, 16), (B, 256, 8, 8), (B, 512, 4, 4)] for a 128x128 image."""

    def __init__(self, in_ch: int = 64, widths: tuple[int, ...] = (64, 128, 256, 512), depth: int = 2):
        super().__init__()
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages = []
        c = in_ch
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(*[BasicBlock(c if j == 0 else w, w, stride if j == 0 else 1)
                                          for j in range(depth)]))
            c = w
        self.stages = nn.ModuleList(stages)
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.pool(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _conv3(in_ch: int, out_ch: int) -> nn.Module:
    return ConvBNReLU(in_ch, out_ch, 3)


@register_encoder("resnet18stack")
class ResNet18Stack(TrunkStack):
    """Two cascaded ResNet18 trunks with an up-sampling fusion after the first (module docstring).

    Args:
        out_ch: channels of the 16x16 output map (24), also of the stack-1 map.
        latent_ch: channels of F_e (256).
        up1_levels: up-sampling steps of the stack-1 path (4: 4x4 -> 64x64, the stem's size;
            fewer end below 64x64 and the map is bilinearly resized before the fusion).
        fusion_mid: middle width of the fusion convs (128).

    ``forward(x)``: x (B, 3, 128, 128) -> ``(F_e (B, 256, 4, 4), map (B, 24, 16, 16))``;
    ``forward(x, with_map=False)`` -> F_e only, skipping the stack-2 up path.
    """

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, up1_levels: int = 4,
                 fusion_mid: int = 128):
        stem_ch = 64
        stem = ConvBNReLU(3, stem_ch, 7, 2)
        trunk1 = ResNet18Trunk(stem_ch)
        widths = trunk1.widths
        up1 = UpFusion(widths, up1_levels, out_ch, stem_ch, _conv3, _conv3)
        fused = stem_ch + out_ch
        fusion = nn.Sequential(ConvBNReLU(fused, fused, 3), ConvBNReLU(fused, fusion_mid, 3),
                               ConvBNReLU(fusion_mid, stem_ch, 1, act=False))
        trunk2 = ResNet18Trunk(stem_ch)
        latent_proj = nn.Conv2d(widths[-1], latent_ch, 1)
        up2 = UpFusion(widths, 2, out_ch, 64, _conv3, _conv3)
        super().__init__(stem, trunk1, up1, fusion, trunk2, latent_proj, up2, out_ch, latent_ch)

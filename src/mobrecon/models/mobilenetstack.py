"""MobileNet-Stack: the light stacked 2D encoder baseline of MobRecon Table 1.

Table 1 lists "MobileNet-Stack" (100.2M Mult-Adds, 1.7M parameters at 128x128) next to the
ResNet18-Stack, built from MobileNet [67] = MobileNetV2 (inverted residuals with linear
bottlenecks) and pre-trainable on ImageNet, so its trunks are plain MobileNetV2 feature
extractors; the paper gives no further detail. This module stacks two of them exactly as
:mod:`mobrecon.models.resnetstack` stacks ResNet18 trunks, with depth-wise separable units
(3x3 depth-wise + 1x1 point-wise, as MobileNet and DenseStack use) wherever that layout has
plain convs. The budget fixes the width: at 128x128 a full-width (1.0) MobileNetV2 trunk alone
costs 98M Mult-Adds and 2.2M parameters, a 0.5-width one 31M and 0.69M, so the paper's figures
fit two 0.5-width trunks.

Layout (128x128 input, width multiplier 0.5; channel counts rounded to multiples of 8 as in
MobileNetV2; conv -> BN -> ReLU6, except the linear 1x1 projections of inverted residuals):

  stem     3x3 s2 conv 3 -> 16, inverted residual (t=1) 16 -> 8: the MobileNetV2 layers that
           run at the stem's resolution                                x0: 8 @ 64x64
  trunk 1  the remaining MobileNetV2 stages (t, c, n, s) =
           (6, 16, 2, 2) @ 32, (6, 16, 3, 2) @ 16, (6, 32, 4, 2) @ 8, (6, 48, 3, 1) @ 8,
           (6, 80, 3, 2) @ 4, (6, 160, 1, 1) @ 4, then the 1x1 conv to 1280 (MobileNetV2
           keeps 1280 for width multipliers below 1)                   1280 @ 4x4
  up 1     4 levels of (bilinear x2 -> concat the trunk feature of that size -> DS unit to its
           width): 48 @ 8, 16 @ 16, 16 @ 32, then DS 16 -> 8 @ 64x64 (no skip);
           head 1x1 8 -> 24                                            m1: 24 @ 64x64
  fusion   concat [x0, m1] (32) -> DS 32 -> 32 -> DS 32 -> 128 -> 1x1 128 -> 8 (BN, linear)
  trunk 2  same as trunk 1 (own weights)                               1280 @ 4x4
  F_e      1x1 projection 1280 -> 256 (bias, no BN/ReLU)               F_e: 256 @ 4x4
  up 2     the "map part": 2 levels as in up 1 (48 @ 8, 16 @ 16), head 1x1 16 -> 24
                                                                       map: 24 @ 16x16

Measured with :func:`mobrecon.models.flops.mac_report` (batch 1, 128x128):

  encoder (``forward(x, with_map=False)`` / ``encoder_num_params()``):
      100.5M Mult-Adds (paper 100.2M, +0.3%), 1.791M parameters (paper 1.7M, +5.4%)
  map part (``up 2``, booked under the "2D part"): 5.4M Mult-Adds, 0.081M parameters

Parameter residual (+5%): the two trunks (0.687M each, 0.207M of it the 1x1 conv to 1280) and
the 1280 -> 256 F_e projection (0.328M) already make 1.70M, so the paper's figure leaves no room
for stack 1's up-sampling path (0.082M, nearly all of it the first unit reading the
1280-channel map) and the fusion (0.007M). The other natural readings are further off: without
the 1280-channel convs (``last_ch=0``) 85.2M / 1.02M (-15% / -40%); width 0.75 without them
168.7M / 2.19M (+68% / +29%); a 2-level stack-1 path (``up1_levels=2``) 97.8M / 1.79M.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoder import register_encoder
from .trunkstack import TrunkStack, UpFusion

__all__ = ["InvertedResidual", "DSConvUnit", "MobileNetV2Trunk", "MobileNetStack"]

# MobileNetV2 body (Sandler et al. 2018, Table 2), after the first conv:
# (expansion t, output channels c, repeats n, first stride s)
MOBILENETV2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
# The first stage runs at the stem's resolution (64x64 for a 128x128 image) and belongs to the
# shared stem here; the trunks start at the first stride-2 stage.
STEM_STAGE, TRUNK_STAGES = MOBILENETV2_STAGES[0], MOBILENETV2_STAGES[1:]


def round_channels(ch: float, divisor: int = 8) -> int:
    """Round a width-scaled channel count to a multiple of ``divisor`` (never below it, never
    more than 10% down), the usual MobileNetV2 rule."""
    out = max(divisor, int(ch + divisor / 2) // divisor * divisor)
    if out < 0.9 * ch:
        out += divisor
    return out


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
             act: bool = True) -> nn.Sequential:
    """k x k conv (no bias) -> BN -> optional ReLU6; 'same' padding."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(out_ch)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion to ``t * in_ch`` (skipped when t == 1), 3x3 depth-wise
    conv with ``stride``, linear 1x1 projection; identity shortcut when stride 1 and
    in_ch == out_ch.  (B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 6):
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn(in_ch, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   _conv_bn(hidden, out_ch, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class DSConvUnit(nn.Sequential):
    """Depth-wise separable unit: 3x3 depth-wise conv-BN-ReLU6 then 1x1 conv-BN-ReLU6.
    (B, in_ch, H, W) -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(_conv_bn(in_ch, in_ch, 3, groups=in_ch), _conv_bn(in_ch, out_ch, 1))


class MobileNetV2Trunk(nn.Module):
    """MobileNetV2 from its first stride-2 stage on: the inverted residual stages and the final
    1x1 conv.

    (B, in_ch, 64, 64) -> list with the last feature of every resolution, shallow first; for
    width 0.5 and a 128x128 image: [(B, 16, 32, 32), (B, 16, 16, 16), (B, 48, 8, 8),
    (B, 1280, 4, 4)] (the last one after the 1x1 conv to ``last_ch``)."""

    def __init__(self, in_ch: int, width: float = 0.5, last_ch: int = 1280,
                 stages: tuple[tuple[int, int, int, int], ...] = TRUNK_STAGES):
        super().__init__()
        blocks: list[nn.Module] = []
        taps: list[int] = []      # index of the block whose output is returned
        c = in_ch
        for t, ch, n, s in stages:
            out = round_channels(ch * width)
            for j in range(n):
                stride = s if j == 0 else 1
                if stride != 1 and blocks:
                    taps.append(len(blocks) - 1)
                blocks.append(InvertedResidual(c, out, stride, t))
                c = out
        self.blocks = nn.ModuleList(blocks)
        self.last = _conv_bn(c, last_ch, 1) if last_ch else None
        self.taps = set(taps)
        widths = [blocks[i].block[-1][0].out_channels for i in sorted(taps)]
        self.widths = tuple(widths) + ((last_ch or c),)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        feats.append(self.last(x) if self.last is not None else x)
        return feats


def _pointwise(in_ch: int, out_ch: int) -> nn.Module:
    return _conv_bn(in_ch, out_ch, 1)


@register_encoder("mobilenetstack")
class MobileNetStack(TrunkStack):
    """Two cascaded MobileNetV2 trunks with an up-sampling fusion after the first (module
    docstring).

    Args:
        out_ch: channels of the 16x16 output map (24), also of the stack-1 map.
        latent_ch: channels of F_e (256).
        width: MobileNetV2 width multiplier of both trunks (0.5).
        last_ch: channels of each trunk's final 1x1 conv (1280; 0 drops it).
        up1_levels: up-sampling steps of the stack-1 path (4: 4x4 -> 64x64).
        fusion_mid: middle width of the fusion units (128).

    ``forward(x)``: x (B, 3, 128, 128) -> ``(F_e (B, 256, 4, 4), map (B, 24, 16, 16))``;
    ``forward(x, with_map=False)`` -> F_e only, skipping the stack-2 up path.
    """

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, width: float = 0.5,
                 last_ch: int = 1280, up1_levels: int = 4, fusion_mid: int = 128):
        t, c, n, s = STEM_STAGE
        first_ch, stem_ch = round_channels(32 * width), round_channels(c * width)
        stem = nn.Sequential(_conv_bn(3, first_ch, 3, 2),
                                  *[InvertedResidual(first_ch if j == 0 else stem_ch, stem_ch, s if j == 0 else 1, t)
                                    for j in range(n)])
        trunk1 = MobileNetV2Trunk(stem_ch, width, last_ch)
        widths = trunk1.widths
        up1 = UpFusion(widths, up1_levels, out_ch, stem_ch, DSConvUnit, _pointwise)
        fused = stem_ch + out_ch
        fusion = nn.Sequential(DSConvUnit(fused, fused), DSConvUnit(fused, fusion_mid),
                               _conv_bn(fusion_mid, stem_ch, 1, act=False))
        trunk2 = MobileNetV2Trunk(stem_ch, width, last_ch)
        latent_proj = nn.Conv2d(widths[-1], latent_ch, 1)
        up2 = UpFusion(widths, 2, out_ch, 8, DSConvUnit, _pointwise)
        super().__init__(stem, trunk1, up1, fusion, trunk2, latent_proj, up2, out_ch, latent_ch)

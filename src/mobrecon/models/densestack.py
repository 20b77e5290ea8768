"""DenseStack 2D encoder (MobRecon, Sec. 3.1, Fig. 3) and the two-stack frame it shares with
GhostStack -- clean-room implementation.

DenseStack layout (128x128 input, c = 128):
  stem:    3x3 s2 conv 3->64 (64x64) -> DS unit 64->128 -> reorg x2 (512 @ 32x32) -> 1x1 -> 128
  stack 1: dense block (2 units, 128->256) + SE @32, pool; dense block (4 units, 256->512) + SE
           @16, pool; dense block (4 units, 512->1024) @8, pool -> 4x4; up path back to 16x16
           (two DS units + SE per level, nearest up-sampling, skip adds), 24 channels, bilinear
           x2 -> 24 @ 32x32
  fusion:  1x1 remap 24->24, concatenated with the stack input (128) and shrunk back to 128
  stack 2: as stack 1, plus SE and two wide dense blocks (1024 -> 768 + 256) at the 4x4
           bottleneck -> F_e = 1x1 projection 1024->256 (4x4); its up path gives the
           24 x 16 x 16 map read by MapReg.
The stack-2 up path is booked under the paper's "2D part" (Table 2) rather than the encoder
(Table 1): ``forward(x, with_map=False)`` skips it, ``map_part_modules()`` names it.
Measured (128x128, batch 1): encoder 372.99M Mult-Adds / 6.579M params (paper 373.0M / 6.6M);
2D part with MapReg 47.49M / 1.47M (paper 47.5M / 1.4M).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import ConvBNReLU, DSUnit, Reorg, SEBlock, pointwise, projection
from .encoder import Encoder, register_encoder


class DenseBlock(nn.Module):
    """Units that each see the concatenation of the block input and all previous unit
    outputs.  Unit i makes ``growths[i]`` channels; the output is that concatenation
    (``keep_input``) or only the unit outputs.  (B, in_ch, H, W) -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, growths: list[int], keep_input: bool = True, ghost: bool = False):
        super().__init__()
        widths = [in_ch + sum(growths[:i]) for i in range(len(growths))]
        self.units = nn.ModuleList(DSUnit(w, g, ghost=ghost) for w, g in zip(widths, growths))
        self.keep_input = keep_input
        self.out_ch = (in_ch if keep_input else 0) + sum(growths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for unit in self.units:
            feats.append(unit(torch.cat(feats, dim=1)))
        return torch.cat(feats if self.keep_input else feats[1:], dim=1)


@dataclass(frozen=True)
class StackSpec:
    """One encoding group.  width: input channels c (the bottleneck has 8c); out_ch: map
    channels; ghost: ghost modules for the point-wise convs; pool_first: down-sample before
    each dense block (blocks at 16/8/4 instead of 32/16/8); n_mid: wide blocks at the 4x4
    bottleneck (each 8c -> 6c + 2c) with ``mid_ghost``; up_units: DS units per up-path level;
    up_depthwise: False makes each single-unit up-path level a bare point-wise conv (ghost
    module); up_se: SE after each up-path level; final_upsample: bilinear x2 of the map."""

    width: int = 128
    out_ch: int = 24
    ghost: bool = False
    pool_first: bool = False
    n_mid: int = 0
    mid_ghost: bool = False
    up_units: int = 2
    up_depthwise: bool = True
    up_se: bool = True
    final_upsample: bool = False


def _up_level(in_ch: int, out_ch: int, mid_ch: int, spec: StackSpec) -> nn.Sequential:
    if spec.up_units == 1:
        if not spec.up_depthwise:
            return nn.Sequential(pointwise(in_ch, out_ch, spec.ghost))
        return nn.Sequential(DSUnit(in_ch, out_ch, ghost=spec.ghost))
    units = [DSUnit(in_ch, mid_ch, ghost=spec.ghost)]
    units += [DSUnit(mid_ch, mid_ch, 2, spec.ghost) for _ in range(spec.up_units - 2)]
    units.append(DSUnit(mid_ch, out_ch, 2, spec.ghost))
    return nn.Sequential(*units)


class StackDecoder(nn.Module):
    """Up path of one stack: bottleneck (8c @ 4x4) + skips (4c @ 8x8, 2c @ 16x16) ->
    (B, out_ch, 16, 16), or 32x32 with ``final_upsample``."""

    def __init__(self, spec: StackSpec):
        super().__init__()
        c = spec.width

        def se(ch: int) -> nn.Module:
            return SEBlock(ch) if spec.up_se else nn.Identity()

        self.level4 = nn.Sequential(_up_level(8 * c, 4 * c, 4 * c, spec), se(4 * c))
        self.level8 = nn.Sequential(_up_level(4 * c, 2 * c, 2 * c, spec), se(2 * c))
        self.level16 = nn.Sequential(_up_level(2 * c, spec.out_ch, 2 * c, spec), se(spec.out_ch))
        self.final_upsample = spec.final_upsample

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        s16, s8 = skips
        y = F.interpolate(self.level4(bottleneck), scale_factor=2, mode="nearest") + s8
        y = F.interpolate(self.level8(y), scale_factor=2, mode="nearest") + s16
        y = self.level16(y)
        if self.final_upsample:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)
        return y


class HourglassStack(nn.Module):
    """One encoding group: three dense blocks down to a 4x4 bottleneck of 8c channels
    (SE after each block; after the third only when there are wide bottleneck blocks),
    then :class:`StackDecoder` back up.  (B, c, 32, 32) -> (map, bottleneck (B, 8c, 4, 4))."""

    def __init__(self, spec: StackSpec):
        super().__init__()
        c, g = spec.width, spec.ghost
        self.pool_first = spec.pool_first
        self.block1 = nn.Sequential(DenseBlock(c, [c // 2] * 2, ghost=g), SEBlock(2 * c))
        self.block2 = nn.Sequential(DenseBlock(2 * c, [c // 2] * 4, ghost=g), SEBlock(4 * c))
        self.block3 = nn.Sequential(DenseBlock(4 * c, [c] * 4, ghost=g),
                                    SEBlock(8 * c) if spec.n_mid else nn.Identity())
        self.mid = nn.Sequential(*[DenseBlock(8 * c, [6 * c, 2 * c], keep_input=False,
                                              ghost=spec.mid_ghost) for _ in range(spec.n_mid)])
        self.bottleneck_ch = 8 * c
        self.decoder: StackDecoder | None = StackDecoder(spec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, c, 32, 32) -> bottleneck (B, 8c, 4, 4), skips [(B, 2c, 16, 16), (B, 4c, 8, 8)]."""
        skips = []
        for block in (self.block1, self.block2, self.block3):
            x = block(F.avg_pool2d(x, 2)) if self.pool_first else F.avg_pool2d(block(x), 2)
            skips.append(x)
        return self.mid(x), skips[:2]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bottleneck, skips = self.encode(x)
        return self.decoder(bottleneck, skips), bottleneck


class StackedEncoder(Encoder):
    """Two cascaded encoding groups, the first followed by an up-sampling fusion (Fig. 3); an
    :class:`~mobrecon.models.encoder.Encoder` whose map part is stack 2's up path.

    stem: image -> (B, c, 32, 32) features; remap: 1x1 on stack 1's map (at 32x32);
    merge: 1x1 of [remapped map, stem features] back to c channels.
    """

    def __init__(self, stem: nn.Module, stack1: HourglassStack, stack2: HourglassStack,
                 remap: nn.Module, merge: nn.Module, out_ch: int = 24, latent_ch: int = 256):
        super().__init__()
        self.stem = stem
        self.stack1 = stack1
        self.remap = remap
        self.merge = merge
        self.stack2 = stack2
        self.latent_proj = projection(stack2.bottleneck_ch, latent_ch, bias=False)
        self.out_ch = out_ch
        self.latent_ch = latent_ch

    def forward(self, x: torch.Tensor, with_map: bool = True):
        """x: (B, 3, 128, 128) normalised image.

        Returns ``(F_e, map)`` with F_e (B, 256, 4, 4) and map (B, 24, 16, 16); with
        ``with_map=False`` only F_e (the stack-2 up path is skipped)."""
        f = self.stem(x)                                   # c @ 32x32
        m1, _ = self.stack1(f)                             # 24 @ 32x32
        f2 = self.merge(torch.cat([self.remap(m1), f], dim=1))
        bottleneck, skips = self.stack2.encode(f2)         # 8c @ 4x4
        latent = self.latent_proj(bottleneck)
        if not with_map:
            return latent
        if self.stack2.decoder is None:
            raise self.no_map_error()
        return latent, self.stack2.decoder(bottleneck, skips)

    def map_part_modules(self) -> list[nn.Module]:
        """Modules booked under the paper's "2D part" (Table 2) rather than the encoder."""
        return [self.stack2.decoder] if self.stack2.decoder is not None else []

    def drop_map_part(self) -> None:
        """Remove the stack-2 up path (for heads that read only F_e, e.g. direct regression)."""
        self.stack2.decoder = None


@register_encoder("densestack")
class DenseStack(StackedEncoder):
    """DenseStack backbone: ``forward(x) -> (F_e (B, 256, 4, 4), map (B, 24, 16, 16))``."""

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, width: int = 128):
        c = width
        stem = nn.Sequential(ConvBNReLU(3, c // 2, 3, 2), DSUnit(c // 2, c), Reorg(2),
                             ConvBNReLU(4 * c, c, 1))
        stack1 = HourglassStack(StackSpec(c, out_ch, final_upsample=True))
        stack2 = HourglassStack(StackSpec(c, out_ch, n_mid=2))
        super().__init__(stem, stack1, stack2, ConvBNReLU(out_ch, out_ch, 1),
                         ConvBNReLU(out_ch + c, c, 1), out_ch, latent_ch)

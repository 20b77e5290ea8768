"""DenseStack 2D encoder (MobRecon, Sec. 3.1) -- clean-room implementation.

Layout (128x128 input):
  stem: 3x3 s2 conv 3->64 (64x64) -> DS unit 64->128 -> reorg x2 (512 @ 32x32) -> 1x1 -> 128
  stack 1: hourglass of dense blocks (32 -> 16 -> 8 -> 4) and an up-sampling path back to
           16x16 with 24 output channels
  remap: 1x1 24->32 of stack-1 output, up-sampled to 32x32, concatenated with the stack
         input (128) and shrunk back to 128 by a 1x1 conv
  stack 2: same hourglass; its 4x4 bottleneck (1024 ch) -> 1x1 projection -> F_e (256 @ 4x4);
           its up-sampling path (``stack2.decoder``) gives the 24 x 16 x 16 map used by MapReg.

The stack-2 up-sampling path is what the paper's Table 2 books under the "2D part" together
with the MapReg head; ``forward(x, with_map=False)`` skips it, so cost accounting of the
"encoder" (Table 1) and of the 2D part can be separated.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import ConvBNReLU, DSUnit, Reorg, SEBlock, projection

UnitFactory = Callable[[int, int], nn.Module]


class DenseBlock(nn.Module):
    """``n_layers`` units, each seeing the concatenation of the block input and all previous
    unit outputs; output = that concatenation (in_ch + n_layers * growth channels)."""

    def __init__(self, in_ch: int, growth: int, n_layers: int, unit: UnitFactory):
        super().__init__()
        self.layers = nn.ModuleList(unit(in_ch + i * growth, growth) for i in range(n_layers))
        self.out_ch = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1) if len(feats) > 1 else x))
        return torch.cat(feats, dim=1)


class StackDecoder(nn.Module):
    """Up-sampling path of one stack: bottleneck (C @ 4x4) + skips -> ``out_ch`` @ 16x16."""

    def __init__(self, chans: list[int], out_ch: int, unit: UnitFactory, n_units: int = 2):
        # chans = [c16, c8, c4]: channels of the skip at 16x16, the skip at 8x8 and the
        # bottleneck at 4x4.  Each level: (n_units - 1) units keeping the width, one unit
        # reducing it to the next skip's width.
        super().__init__()
        c16, c8, c4 = chans
        self.up4 = nn.Sequential(unit(c4, c8), *[unit(c8, c8) for _ in range(n_units - 1)])
        self.up8 = nn.Sequential(*[unit(c8, c8) for _ in range(n_units - 1)], unit(c8, c16))
        self.se = SEBlock(c16)
        self.head = nn.Sequential(unit(c16, c16 // 2), ConvBNReLU(c16 // 2, out_ch, 1))

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        s16, s8 = skips
        y = F.interpolate(self.up4(bottleneck), scale_factor=2, mode="nearest") + s8
        y = F.interpolate(self.up8(y), scale_factor=2, mode="nearest") + s16
        return self.head(self.se(y))


class HourglassStack(nn.Module):
    """One stack: 3 x (dense block -> SE -> 2x2 avg-pool) from 32x32 to 4x4 (channels double at
    each level; ``pool_first`` pools before each dense block instead of after), ``n_mid``
    units at 4x4 (bottleneck), then :class:`StackDecoder`."""

    def __init__(self, in_ch: int = 128, out_ch: int = 24, unit: UnitFactory = DSUnit,
                 n_layers: int = 4, n_mid: int = 1, n_dec_units: int = 2,
                 block: Callable[..., nn.Module] = DenseBlock, pool_first: bool = False):
        super().__init__()
        self.enc = nn.ModuleList()
        c = in_ch
        chans = []
        for _ in range(3):
            db = block(c, c // n_layers, n_layers, unit)
            if pool_first:  # cheaper variant: down-sample, then dense block (same shapes out)
                self.enc.append(nn.Sequential(nn.AvgPool2d(2), db, SEBlock(db.out_ch)))
            else:
                self.enc.append(nn.Sequential(db, SEBlock(db.out_ch), nn.AvgPool2d(2)))
            c = db.out_ch
            chans.append(c)
        self.mid = nn.Sequential(*[unit(c, c) for _ in range(n_mid)])
        self.bottleneck_ch = c
        self.decoder = StackDecoder(chans, out_ch, unit, n_dec_units)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for stage in self.enc:
            x = stage(x)
            skips.append(x)
        return self.mid(x), skips[:2]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, skips = self.encode(x)
        return self.decoder(b, skips), b


class StackedEncoder(nn.Module):
    """Two-stack encoder shared by DenseStack and GhostStack."""

    def __init__(self, stem: nn.Module, stack1: HourglassStack, stack2: HourglassStack,
                 stack_ch: int = 128, out_ch: int = 24, remap_ch: int = 32, latent_ch: int = 256,
                 shrink: nn.Module | None = None, merge: nn.Module | None = None):
        super().__init__()
        self.stem = stem
        self.shrink = shrink if shrink is not None else ConvBNReLU(512, stack_ch, 1)
        self.stack1 = stack1
        self.remap = ConvBNReLU(out_ch, remap_ch, 1)
        self.merge = merge if merge is not None else ConvBNReLU(stack_ch + remap_ch, stack_ch, 1)
        self.stack2 = stack2
        self.latent_proj = projection(stack2.bottleneck_ch, latent_ch)
        self.out_ch = out_ch
        self.latent_ch = latent_ch

    def forward(self, x: torch.Tensor, with_map: bool = True):
        """x: (B, 3, 128, 128) normalised image.

        Returns ``(F_e, map)`` with F_e (B, 256, 4, 4) and map (B, 24, 16, 16); with
        ``with_map=False`` only F_e (the stack-2 up-sampling path is skipped)."""
        f = self.shrink(self.stem(x))                    # 128 @ 32x32
        m1, _ = self.stack1(f)                           # 24 @ 16x16
        r = F.interpolate(self.remap(m1), scale_factor=2, mode="nearest")
        f2 = self.merge(torch.cat([r, f], dim=1))        # 128 @ 32x32
        bott, skips = self.stack2.encode(f2)             # 1024 @ 4x4
        latent = self.latent_proj(bott)
        if not with_map:
            return latent
        return latent, self.stack2.decoder(bott, skips)

    def map_part_modules(self) -> list[nn.Module]:
        """Modules booked under the paper's "2D part" (Table 2) rather than the encoder."""
        return [self.stack2.decoder]

    def encoder_num_params(self) -> int:
        excl = {id(p) for m in self.map_part_modules() for p in m.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in excl)


class DenseStack(StackedEncoder):
    """DenseStack backbone.

    Args:
        out_ch: channels of the 16x16 output map (24).
        latent_ch: channels of F_e (256).
        n_layers: DS units per dense block (growth = in_ch / n_layers, so each block doubles
            the channels).
        n_mid: DS units at the 4x4 bottleneck (1024 ch).
        n_dec_units: DS units per up-sampling level of each stack's decoder.
    """

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, n_layers: int = 4,
                 n_mid: int = 1, n_dec_units: int = 2):
        stem = nn.Sequential(ConvBNReLU(3, 64, 3, 2), DSUnit(64, 128), Reorg(2))

        def mk():
            return HourglassStack(128, out_ch, DSUnit, n_layers, n_mid, n_dec_units)

        super().__init__(stem, mk(), mk(), 128, out_ch, 32, latent_ch)

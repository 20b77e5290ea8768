"""GhostStack 2D encoder (MobRecon, Sec. 3.1): the DenseStack frame with ghost modules
(GhostNet, ratio 2) as point-wise convs.

The paper gives only GhostStack's budget (96.2M Mult-Adds / 5.0M params; 123.5M / 5.3M for
the whole model), not its layers.  This reading keeps DenseStack's two stacks, dense blocks,
SE blocks, skip fusion and 4x4 x 1024 bottleneck, and makes it cheap where the Mult-Adds are:
  stem:    3x3 s2 conv 3->32 (64x64) -> ghost DS unit 32->32 -> reorg x2 -> 128 @ 32x32
           (no 1x1 shrink needed)
  stacks:  each dense block runs after its 2x down-sampling (16/8/4 instead of 32/16/8);
           ghost DS units; SE after the down-path blocks only; each up-path level is one
           ghost module (as in GhostNet, depth-wise convs only where the resolution changes); stack 1 bilinear x2 -> 24 @ 32x32; ghost 1x1 remap and merge
  stack 2: two wide blocks at 4x4 with plain point-wise convs (8c -> 6c + 2c), as DenseStack
Measured (128x128, batch 1): encoder 95.9M Mult-Adds / 4.96M params (paper 96.2M / 5.0M);
2D part with MapReg 11.3M / 0.40M.
"""
from __future__ import annotations

from torch import nn

from .blocks import ConvBNReLU, DSUnit, GhostModule, Reorg
from .densestack import HourglassStack, StackedEncoder, StackSpec
from .encoder import register_encoder


@register_encoder("ghoststack")
class GhostStack(StackedEncoder):
    """GhostStack backbone; same API as :class:`~mobrecon.models.densestack.DenseStack`:
    ``forward(x) -> (F_e (B, 256, 4, 4), map (B, 24, 16, 16))``."""

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, width: int = 128):
        c = width
        stem = nn.Sequential(ConvBNReLU(3, c // 4, 3, 2), DSUnit(c // 4, c // 4, ghost=True),
                             Reorg(2))
        common = dict(width=c, out_ch=out_ch, ghost=True, pool_first=True, up_units=1,
                      up_depthwise=False, up_se=False)
        stack1 = HourglassStack(StackSpec(**common, final_upsample=True))
        stack2 = HourglassStack(StackSpec(**common, n_mid=2, mid_ghost=False))
        super().__init__(stem, stack1, stack2, GhostModule(out_ch, out_ch),
                         GhostModule(out_ch + c, c), out_ch, latent_ch)

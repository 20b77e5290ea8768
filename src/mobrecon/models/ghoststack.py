"""GhostStack 2D encoder (MobRecon, Sec. 3.1): DenseStack topology with ghost modules
(GhostNet, ratio 2) replacing the depth-wise separable / plain 1x1 units."""
from __future__ import annotations

from torch import nn

from .blocks import ConvBNReLU, GhostModule, GhostUnit, Reorg
from .densestack import HourglassStack, StackedEncoder


class GhostStack(StackedEncoder):
    """GhostStack backbone; same API as :class:`~mobrecon.models.densestack.DenseStack`:
    ``forward(x) -> (F_e (B, 256, 4, 4), map (B, 24, 16, 16))``.

    Args mirror DenseStack (``n_layers`` ghost units per dense block, ``n_mid`` units at the
    4x4 bottleneck, ``n_dec_units`` units per decoder level, ``pool_first``: dense blocks run
    after each 2x down-sampling, i.e. at 16/8/4 instead of 32/16/8, to cut Mult-Adds)."""

    def __init__(self, out_ch: int = 24, latent_ch: int = 256, n_layers: int = 4,
                 n_mid: int = 2, n_dec_units: int = 1, pool_first: bool = True):
        stem = nn.Sequential(ConvBNReLU(3, 64, 3, 2), GhostUnit(64, 128), Reorg(2))

        def mk():
            return HourglassStack(128, out_ch, GhostUnit, n_layers, n_mid, n_dec_units,
                                  pool_first=pool_first)

        super().__init__(stem, mk(), mk(), 128, out_ch, 32, latent_ch,
                         shrink=GhostModule(512, 128), merge=GhostModule(128 + 32, 128))

"""The stacked frame shared by the Table 1 baselines (ResNet18Stack, MobileNetStack), after CMR's
stacked ResNet: stem -> trunk 1 -> up path 1 (map at the stem's size) -> fusion of
[stem features, map] -> trunk 2 -> F_e = 1x1 projection of its deepest features; trunk 2's up
path gives the 16x16 map (the "2D part")."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from .encoder import Encoder


UnitFactory = Callable[[int, int], nn.Module]


class UpFusion(nn.Module):
    """U-Net style up-sampling path over a trunk's stage outputs.

    At each of ``levels`` steps: bilinear x2, concatenate the trunk feature of that size (while
    there is one), ``unit(in, width)`` to that feature's width (``extra_ch`` once the skips run
    out); then ``head(width, out_ch)``.

    feats (shallow first, widths ``widths``, deepest at 4x4) -> (B, out_ch, 4 * 2**levels, ...).
    """

    def __init__(self, widths: tuple[int, ...], levels: int, out_ch: int, extra_ch: int,
                 unit: UnitFactory, head: UnitFactory):
        super().__init__()
        skips = list(widths[:-1])[::-1]          # e.g. [256, 128, 64]
        c = widths[-1]
        units = []
        for i in range(levels):
            skip = skips[i] if i < len(skips) else 0
            nxt = skip or extra_ch
            units.append(unit(c + skip, nxt))
            c = nxt
        self.units = nn.ModuleList(units)
        self.head = head(c, out_ch)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        skips = feats[:-1][::-1]
        for i, unit in enumerate(self.units):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            if i < len(skips):
                x = torch.cat([x, skips[i]], dim=1)
            x = unit(x)
        return self.head(x)


class TrunkStack(Encoder):
    """An :class:`~mobrecon.models.encoder.Encoder` whose map part is trunk 2's up path.

    ``forward(x)``: x (B, 3, 128, 128) -> ``(F_e (B, latent_ch, 4, 4), map (B, out_ch, 16, 16))``;
    ``forward(x, with_map=False)`` -> F_e only, skipping trunk 2's up path (``up2``).

    trunk1 / trunk2 return their stage outputs shallow first (deepest at 4x4); up1 / up2 map
    such a list to a map; fusion maps [stem features, map] back to the stem's width.
    """

    def __init__(self, stem: nn.Module, trunk1: nn.Module, up1: nn.Module, fusion: nn.Module,
                 trunk2: nn.Module, latent_proj: nn.Module, up2: nn.Module, out_ch: int, latent_ch: int):
        super().__init__()
        self.stem, self.trunk1, self.up1, self.fusion = stem, trunk1, up1, fusion
        self.trunk2, self.latent_proj = trunk2, latent_proj
        self.up2: nn.Module | None = up2
        self.out_ch, self.latent_ch = out_ch, latent_ch

    def forward(self, x: torch.Tensor, with_map: bool = True):
        x0 = self.stem(x)
        m1 = self.up1(self.trunk1(x0))
        if m1.shape[-2:] != x0.shape[-2:]:
            m1 = F.interpolate(m1, size=x0.shape[-2:], mode="bilinear", align_corners=False)
        feats = self.trunk2(self.fusion(torch.cat([x0, m1], dim=1)))
        latent = self.latent_proj(feats[-1])
        if not with_map:
            return latent
        if self.up2 is None:
            raise self.no_map_error()
        return latent, self.up2(feats)

    def map_part_modules(self) -> list[nn.Module]:
        """Modules used only for the 16x16 map (trunk 2's up path), booked under the "2D part"."""
        return [self.up2] if self.up2 is not None else []

    def drop_map_part(self) -> None:
        """Remove trunk 2's up path (for heads that read only F_e, e.g. direct regression)."""
        self.up2 = None

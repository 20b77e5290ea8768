"""Pose pooling: collect one feature vector per 2D joint from the encoding F_e (MobRecon Eq. 2-3)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["PosePooling", "grid_sample_pooling", "heatmap_pooling"]


def grid_sample_pooling(feat: torch.Tensor, uv: torch.Tensor, pixel_centres: bool = True) -> torch.Tensor:
    """Eq. 3: bilinear sampling of ``feat`` at the joints.

    feat: (B, C, H, W); uv: (B, J, 2) as (x, y) normalised to [0, 1] of the crop, the network's
    convention: 0 and 1 are the crop's outer edges, so cell ``i`` of the map is centred on
    ``(i + 0.5) / W`` (``align_corners=False``). ``pixel_centres=False`` keeps the convention
    of model files written before this was fixed (0 and 1 at the centres of the first and last
    cell, ``align_corners=True``; on the 4 x 4 F_e that samples up to 11 crop pixels away from
    the joint). Points outside are zero-padded. Returns (B, J, C).
    """
    grid = (uv * 2.0 - 1.0).unsqueeze(2).to(feat.dtype)  # (B, J, 1, 2)
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=not pixel_centres)
    return out.squeeze(3).transpose(1, 2)  # (B, C, J, 1) -> (B, J, C)


def heatmap_pooling(feat: torch.Tensor, heatmaps: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Eq. 2: weight ``feat`` by each joint's heatmap and reduce over space.

    feat: (B, C, H, W); heatmaps: (B, J, Hh, Wh), bilinearly resized to H x W when the sizes differ.
    reduce='sum': sum_{x,y} H_j(x,y) F(x,y); reduce='max': max_{x,y} H_j(x,y) F(x,y).
    Returns (B, J, C).
    """
    b, c, h, w = feat.shape
    if heatmaps.shape[-2:] != (h, w):
        heatmaps = F.interpolate(heatmaps, size=(h, w), mode="bilinear", align_corners=False)
    heat = heatmaps.to(feat.dtype).reshape(b, heatmaps.shape[1], h * w)  # (B, J, HW)
    f = feat.reshape(b, c, h * w)
    if reduce == "sum":
        return torch.bmm(heat, f.transpose(1, 2))  # (B, J, C)
    if reduce == "max":
        return (heat.unsqueeze(2) * f.unsqueeze(1)).amax(dim=3)  # (B, J, C, HW) -> (B, J, C)
    raise ValueError(f"reduce must be 'sum' or 'max', got {reduce!r}")


class PosePooling(nn.Module):
    """Pose pooling as a module (so cost counters book it by name).

    mode='grid': ``forward(feat, uv)`` = :func:`grid_sample_pooling` (Eq. 3).
    mode='joint': ``forward(feat, heatmaps)`` with heatmap logits (B, J, Hh, Wh): each heatmap
    is turned into a spatial softmax, sum-pooled onto F_e's grid (weights still sum to 1) and
    used in :func:`heatmap_pooling` with sum reduction (Eq. 2). Returns (B, J, C).
    ``pixel_centres``: see :func:`grid_sample_pooling`.
    """

    def __init__(self, mode: str = "grid", pixel_centres: bool = True):
        super().__init__()
        if mode not in ("grid", "joint"):
            raise ValueError(f"pose pooling mode must be 'grid' or 'joint', got {mode!r}")
        self.mode = mode
        self.pixel_centres = bool(pixel_centres)

    def forward(self, feat: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        if self.mode == "grid":
            return grid_sample_pooling(feat, where, self.pixel_centres)
        prob = torch.softmax(where.flatten(2), dim=-1).reshape(where.shape)
        scale = where[0, 0].numel() / feat[0, 0].numel()
        weights = F.adaptive_avg_pool2d(prob, feat.shape[-2:]) * scale
        return heatmap_pooling(feat, weights)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, pixel_centres={self.pixel_centres}"

"""Pose pooling: collect one feature vector per 2D joint from the encoding F_e (MobRecon Eq. 2-3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grid_sample_pooling", "heatmap_pooling"]


def grid_sample_pooling(feat: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Eq. 3: bilinear sampling of ``feat`` at the joints.

    feat: (B, C, H, W); uv: (B, J, 2) as (x, y) normalised to [0, 1] of the crop, where 0 and 1
    are the centres of the first and last pixel (``align_corners=True`` at ``uv * 2 - 1``).
    Points outside are zero-padded. Returns (B, J, C).
    """
    grid = (uv * 2.0 - 1.0).unsqueeze(2).to(feat.dtype)  # (B, J, 1, 2)
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
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

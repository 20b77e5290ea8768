"""2D pose heads: MapReg (MobRecon Sec. 3.2) and the ablation alternatives of Table 2."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class MapReg(nn.Module):
    """Map-based position regression.

    (B, in_ch, M, M) map -> 1x1 conv to ``n_joints`` channels -> each channel flattened
    (M*M values) -> shared MLP M*M -> 128 -> 64 -> 2 -> (B, n_joints, 2) positions, normalised
    to [0, 1] of the crop (x, y).  The output is not clamped (L1-supervised regression).
    """

    def __init__(self, in_ch: int = 24, n_joints: int = 21, map_size: int = 16,
                 hidden: tuple[int, int] = (128, 64)):
        super().__init__()
        self.n_joints = n_joints
        self.map_size = map_size
        self.reduce = nn.Conv2d(in_ch, n_joints, 1)
        h1, h2 = hidden
        self.mlp = nn.Sequential(
            nn.Linear(map_size * map_size, h1), nn.ReLU(inplace=True),
            nn.Linear(h1, h2), nn.ReLU(inplace=True),
            nn.Linear(h2, 2),
        )

    def forward(self, feat_map: torch.Tensor) -> torch.Tensor:
        b = feat_map.shape[0]
        maps = self.reduce(feat_map).reshape(b, self.n_joints, -1)
        return self.mlp(maps)


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits -> (B, J, 2) expected (x, y) of softmax, normalised to [0, 1]
    with pixel centres at (i + 0.5) / W."""
    b, j, h, w = heatmaps.shape
    prob = F.softmax(heatmaps.reshape(b, j, -1), dim=-1).reshape(b, j, h, w)
    xs = (torch.arange(w, device=heatmaps.device, dtype=prob.dtype) + 0.5) / w
    ys = (torch.arange(h, device=heatmaps.device, dtype=prob.dtype) + 0.5) / h
    x = (prob.sum(dim=2) * xs).sum(dim=-1)
    y = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) -> (B, J, 2) (x, y) of the maximum, normalised to [0, 1] (pixel centres)."""
    b, j, h, w = heatmaps.shape
    idx = heatmaps.reshape(b, j, -1).argmax(dim=-1)
    x = (idx % w).to(heatmaps.dtype) + 0.5
    y = torch.div(idx, w, rounding_mode="floor").to(heatmaps.dtype) + 0.5
    return torch.stack([x / w, y / h], dim=-1)


class HeatmapHead(nn.Module):
    """Heatmap alternative: map -> 1x1 conv to ``n_joints`` heatmaps, optionally up-sampled
    (``upsample`` x bilinear).  ``forward`` returns ``(heatmaps, positions)`` where positions
    (B, J, 2) in [0, 1] come from soft-argmax (``soft=True``) or hard argmax."""

    def __init__(self, in_ch: int = 24, n_joints: int = 21, upsample: int = 1,
                 soft: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, n_joints, 1)
        self.upsample = upsample
        self.soft = soft

    def forward(self, feat_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hm = self.conv(feat_map)
        if self.upsample > 1:
            hm = F.interpolate(hm, scale_factor=self.upsample, mode="bilinear",
                               align_corners=False)
        pos = soft_argmax_2d(hm) if self.soft else argmax_2d(hm)
        return hm, pos


class RegressionHead(nn.Module):
    """Direct regression alternative: global average pool of F_e -> Linear -> (B, J, 2)."""

    def __init__(self, in_ch: int = 256, n_joints: int = 21):
        super().__init__()
        self.n_joints = n_joints
        self.fc = nn.Linear(in_ch, n_joints * 2)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.fc(latent.mean(dim=(2, 3))).reshape(-1, self.n_joints, 2)

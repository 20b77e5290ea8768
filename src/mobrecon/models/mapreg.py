"""2D pose heads: MapReg (MobRecon Sec. 3.2) and the ablation alternatives of Table 2."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import ConvBNReLU


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
        self.reduce = nn.Conv2d(in_ch, n_joints, 1, bias=False)
        h1, h2 = hidden
        self.mlp = nn.Sequential(
            nn.Linear(map_size * map_size, h1, bias=False), nn.ReLU(inplace=True),
            nn.Linear(h1, h2, bias=False), nn.ReLU(inplace=True),
            nn.Linear(h2, 2, bias=False),
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
    """Heatmap alternative (Fig. 4a/b): the (B, in_ch, M, M) map is up-sampled x2 (bilinear),
    refined by a 3x3 conv-BN-ReLU to ``hidden`` channels and turned into ``n_joints`` heatmap
    logits (B, J, 2M, 2M) by a 1x1 conv.  ``forward`` returns ``(heatmaps, positions)``, with
    positions (B, J, 2) in [0, 1] from soft-argmax (``soft=True``, differentiable) or the hard
    argmax (heatmap supervision then trains the head)."""

    def __init__(self, in_ch: int = 24, n_joints: int = 21, hidden: int = 48, soft: bool = True):
        super().__init__()
        self.refine = ConvBNReLU(in_ch, hidden, 3)
        self.conv = nn.Conv2d(hidden, n_joints, 1)
        self.soft = soft

    def forward(self, feat_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = F.interpolate(feat_map, scale_factor=2, mode="bilinear", align_corners=False)
        hm = self.conv(self.refine(up))
        pos = soft_argmax_2d(hm) if self.soft else argmax_2d(hm)
        return hm, pos


class RegressionHead(nn.Module):
    """Direct regression alternative (Fig. 4c): global average pool of F_e (B, C, H, W) ->
    MLP C -> C -> 2J -> (B, J, 2) positions in [0, 1] of the crop."""

    def __init__(self, in_ch: int = 256, n_joints: int = 21):
        super().__init__()
        self.n_joints = n_joints
        self.mlp = nn.Sequential(nn.Linear(in_ch, in_ch), nn.ReLU(inplace=True),
                                 nn.Linear(in_ch, n_joints * 2))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.mlp(latent.mean(dim=(2, 3))).reshape(-1, self.n_joints, 2)

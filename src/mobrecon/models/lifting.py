"""2D-to-3D feature lifting: pose-to-vertex lifting (PVL, MobRecon Eq. 4) and the FC baseline."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PoseVertexLifting", "FCLifting"]


class PoseVertexLifting(nn.Module):
    """PVL: F^v = L F^p with a learnable lifting matrix L (n_vertices, n_joints).

    (B, n_joints, C) -> (B, n_vertices, C). L is initialised to ``init`` (0.01, as in the
    authors' release); parameters: n_vertices * n_joints (49 * 21 = 1,029).
    """

    def __init__(self, n_joints: int = 21, n_vertices: int = 49, init: float = 0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.full((int(n_vertices), int(n_joints)), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_joints, C) -> (B, n_vertices, C)."""
        return torch.matmul(self.weight.to(x.dtype), x)


class FCLifting(nn.Module):
    """CMR-style baseline: global average pool, one FC, re-arrange into vertex features.

    F_e (B, in_ch, H, W) -> mean over H, W (B, in_ch) -> Linear(in_ch, n_vertices * out_ch)
    -> (B, n_vertices, out_ch). With 256 / 49 / 256: 256 * 12,544 + 12,544 = 3,223,808 parameters
    (the paper's "3.2M").
    """

    def __init__(self, in_ch: int = 256, n_vertices: int = 49, out_ch: int = 256):
        super().__init__()
        self.n_vertices, self.out_ch = int(n_vertices), int(out_ch)
        self.fc = nn.Linear(int(in_ch), self.n_vertices * self.out_ch)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """feat: (B, in_ch, H, W) -> (B, n_vertices, out_ch)."""
        z = feat.mean(dim=(2, 3))
        return self.fc(z).reshape(feat.shape[0], self.n_vertices, self.out_ch)

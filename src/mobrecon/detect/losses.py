"""CenterNet training losses: a penalty-reduced focal loss on the centre heatmaps and L1 on
box size and centre offset at the ground-truth centre cells."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's focal loss. logits, target (B, C, H, W); target in [0, 1] with exact 1 at
    object centres and Gaussian bumps around them. Returns a scalar: the summed loss divided
    by the number of centres (at least 1)."""
    pos = target.eq(1).float()
    neg_weight = (1 - target).pow(beta)
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos_loss = -(log_p * (1 - p).pow(alpha) * pos).sum()
    neg_loss = -(log_1mp * p.pow(alpha) * neg_weight * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """pred, target (B, 2, H, W), mask (B, H, W) -> mean |pred - target| over the masked cells
    (both channels), 0 when nothing is masked."""
    m = mask[:, None].expand_as(pred)
    return (pred - target).abs().mul(m).sum() / m.sum().clamp(min=1.0)


def detection_loss(out: dict, batch: dict, size_weight: float = 0.1, offset_weight: float = 1.0) -> dict:
    """The weighted terms and their sum ``total`` for network outputs ``out`` and targets
    ``batch`` (``heatmap``, ``size``, ``offset`` (B, 2, H, W), ``mask`` (B, H, W))."""
    heat = focal_loss(out["heatmap"], batch["heatmap"])
    size = size_weight * masked_l1(out["size"], batch["size"], batch["mask"])
    offset = offset_weight * masked_l1(out["offset"], batch["offset"], batch["mask"])
    return {"heatmap": heat, "size": size, "offset": offset, "total": heat + size + offset}

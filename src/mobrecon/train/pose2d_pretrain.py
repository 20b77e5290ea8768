"""Stage 1 of the recipe (paper Sec. 6, Figure 14): pre-train the 2D encoder on 2D pose alone.

The network's own encoder and 2D head are trained together with an auxiliary heatmap head on
the same feature map, so that both representations are supervised "equally": positions (L1)
and heatmaps (cross-entropy to a Gaussian). Only ``encoder.*`` and ``pose2d.*`` carry over to
stage 2 (:func:`load_stage1`); the auxiliary head is dropped.
"""

from __future__ import annotations

import torch
from torch import nn

from mobrecon.models.mapreg import HeatmapHead


class Pose2DPretrainNet(nn.Module):
    """img (B, 3, S, S) -> ``uv`` (B, 21, 2) in [0, 1], ``joints2d`` (B, 21, 2) crop pixels and,
    unless the encoder has no map part (direct regression), ``heatmaps`` (B, 21, 32, 32)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.cfg = model.cfg
        self.encoder = model.encoder
        self.pose2d = model.pose2d
        self.kind = model.cfg.pose2d
        # Heatmap heads already give heatmaps; MapReg gets an auxiliary one on its map.
        self.aux = HeatmapHead(in_ch=model.encoder.out_ch) if self.kind == "mapreg" else None

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        if self.kind == "regression":
            uv = self.pose2d(self.encoder(img, with_map=False))
        else:
            _, fmap = self.encoder(img)
            if self.kind == "mapreg":
                uv = self.pose2d(fmap)
                out["heatmaps"], _ = self.aux(fmap)
            else:
                out["heatmaps"], uv = self.pose2d(fmap)
        out.update(uv=uv, joints2d=uv * self.cfg.input_size - 0.5)
        return out


def load_stage1(model: nn.Module, state: dict) -> list[str]:
    """Copy a stage-1 network's ``encoder.*`` and ``pose2d.*`` weights into a full model;
    returns the names of the model's tensors that were set. Raises ValueError if none match."""
    keep = {k: v for k, v in state.items() if k.startswith(("encoder.", "pose2d."))}
    own = model.state_dict()
    bad = [k for k, v in keep.items() if k not in own or own[k].shape != v.shape]
    if not keep or bad:
        raise ValueError(f"stage-1 weights do not fit this model ({len(bad)} mismatched of {len(keep)}; "
                         f"first: {bad[:1]})")
    model.load_state_dict(keep, strict=False)
    return sorted(keep)

"""MobRecon assembled (paper Fig. 2): 2D encoder -> 2D pose -> pose pooling -> lifting -> 3D decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mobrecon.hand.load import hand_hierarchy, load_hand
from mobrecon.models.decoder3d import Decoder3D
from mobrecon.models.encoder import build_encoder
from mobrecon.models.lifting import FCLifting, PoseVertexLifting
from mobrecon.models.mapreg import HeatmapHead, MapReg, RegressionHead
from mobrecon.models.output import MobReconOutput
from mobrecon.models.pose_pooling import PosePooling

POSE2D = ("mapreg", "regression", "heatmap", "heatmap_softargmax")


@dataclass(frozen=True)
class MobReconConfig:
    """encoder: a registered encoder (:data:`mobrecon.models.encoder.ENCODERS`: densestack,
    ghoststack, resnet18stack, mobilenetstack, and any other registered);
    pose2d: mapreg | regression | heatmap (hard argmax, joint-wise heatmap pooling, Eq. 2) |
    heatmap_softargmax (soft-argmax, grid sampling); the other heads pool by grid sampling (Eq. 3);
    lifting: pvl | fc; decoder: dsconv | spiralconv; hand: 'openhand' or a MANO_RIGHT.pkl path;
    pool_pixel_centres: grid pose pooling reads F_e where ``uv`` says (False: the off-by-up-to-
    a-third-of-a-cell convention of model files written before it was fixed, see
    :func:`~mobrecon.models.pose_pooling.grid_sample_pooling`)."""

    encoder: str = "ghoststack"
    pose2d: str = "mapreg"
    lifting: str = "pvl"
    decoder: str = "dsconv"
    hand: str = "openhand"
    input_size: int = 128
    latent_ch: int = 256
    pool_pixel_centres: bool = True


class MobRecon(nn.Module):
    """img (B, 3, S, S) normalised as (x - 0.5) / 0.5 -> :class:`~mobrecon.models.output.MobReconOutput`
    (read as a dict too: ``out["vertices"]``) with
    ``uv`` (B, 21, 2) in [0, 1] of the crop (its edges; a pixel centre i sits at (i + 0.5) / S),
    ``joints2d`` (B, 21, 2) crop pixels (centres at integers: ``uv * S - 0.5``),
    ``vertices`` (B, V, 3) root-relative metres, ``joints3d`` (B, 21, 3) = J_regressor @ vertices,
    and for the heatmap heads ``heatmaps`` (B, 21, 32, 32) logits."""

    def __init__(self, cfg: MobReconConfig, hand=None, hierarchy=None):
        super().__init__()
        self.cfg = cfg
        hand = hand if hand is not None else load_hand(cfg.hand)
        hierarchy = hierarchy if hierarchy is not None else hand_hierarchy(hand)
        self.encoder = build_encoder(cfg.encoder, cfg.latent_ch)
        if cfg.pose2d == "mapreg":
            self.pose2d = MapReg(in_ch=self.encoder.out_ch)
        elif cfg.pose2d == "regression":
            self.pose2d = RegressionHead(in_ch=cfg.latent_ch)
            # Direct regression reads only F_e: the second stack's up path is unused.
            self.encoder.drop_map_part()
        elif cfg.pose2d in ("heatmap", "heatmap_softargmax"):
            self.pose2d = HeatmapHead(in_ch=self.encoder.out_ch, soft=cfg.pose2d == "heatmap_softargmax")
        else:
            raise ValueError(f"unknown pose2d head {cfg.pose2d!r}; choose from {', '.join(POSE2D)}")
        n_coarse = hierarchy.counts[-1]
        self.pooling = None
        if cfg.lifting == "pvl":
            self.pooling = PosePooling("joint" if cfg.pose2d == "heatmap" else "grid", cfg.pool_pixel_centres)
            self.lifting = PoseVertexLifting(n_joints=21, n_vertices=n_coarse)
        elif cfg.lifting == "fc":
            self.lifting = FCLifting(in_ch=cfg.latent_ch, n_vertices=n_coarse, out_ch=cfg.latent_ch)
        else:
            raise ValueError(f"unknown lifting {cfg.lifting!r}")
        self.decoder = Decoder3D(hierarchy, conv=cfg.decoder, in_ch=cfg.latent_ch)
        self.register_buffer("J_regressor", hand.J_regressor.detach().clone().float(), persistent=False)
        self.register_buffer("faces", hand.faces.detach().clone(), persistent=False)

    def encode(self, img: torch.Tensor):
        """(B, 3, S, S) -> the encoder's output: ``(latent, map)``, or ``latent`` alone for the
        regression 2D head (see :meth:`decode`)."""
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(img.shape)}")
        if self.cfg.pose2d == "regression":
            return self.encoder(img, with_map=False)
        return self.encoder(img)

    def forward(self, img: torch.Tensor) -> MobReconOutput:
        return self.decode(self.encode(img))

    def decode(self, encoded) -> MobReconOutput:
        """The rest of the network after :meth:`encode` (2D pose, lifting, mesh decoder):
        ``uv``, ``joints2d``, ``vertices``, ``joints3d`` (and ``heatmaps`` for heatmap heads)."""
        heatmaps = None
        if self.cfg.pose2d == "regression":
            latent = encoded
            uv = self.pose2d(latent)
        else:
            latent, fmap = encoded
            if self.cfg.pose2d == "mapreg":
                uv = self.pose2d(fmap)
            else:
                heatmaps, uv = self.pose2d(fmap)
        if self.pooling is None:
            feats = self.lifting(latent)
        else:
            feats = self.lifting(self.pooling(latent, heatmaps if self.pooling.mode == "joint" else uv))
        verts = self.decoder(feats)
        joints3d = torch.einsum("jv,bvc->bjc", self.J_regressor, verts)
        return MobReconOutput(uv=uv, joints2d=uv * self.cfg.input_size - 0.5, vertices=verts, joints3d=joints3d,
                              heatmaps=heatmaps)

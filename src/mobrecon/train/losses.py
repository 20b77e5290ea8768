"""The training losses: accuracy (Eq. 10), consistency (Eq. 11) and the 2D pre-training terms.

Shapes: B samples, N views of each (flattened to B*N rows in the network's batch, view-major
within a sample: row ``b * N + n``), V vertices, F faces, J = 21 joints, S the crop size.
2D positions are compared normalised by S as the network's ``uv`` (``(pixel + 0.5) / S``, in
[0, 1] over the crop); 3D in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """Weights of each term (the release's values with consistency training: mesh 1, 2D 1,
    normal 0.05 and edge 0.5 per view, consistency 1 each). ``pose3d`` (L1 on regressed joints,
    for sets with 3D joints but no mesh) and ``heatmap`` (2D pre-training and heatmap heads) are
    additions; ``pose3d`` is off by default.

    ``unit3d``: the length, in metres, in which the 3D terms (mesh, edge, con3d, pose3d) are
    measured. In metres (1.0) a hand's L1 errors are about 0.01 and the 3D terms carry under a
    tenth of the encoder's gradient, against the 2D terms' four fifths (``benchmarks/
    loss_shares.py``); 0.2 m (the authors' release normalises by 0.2 m) gives them five times
    the weight, the balance the paper's weights were set for."""

    mesh: float = 1.0
    pose2d: float = 1.0
    normal: float = 0.05
    edge: float = 0.5
    con2d: float = 1.0
    con3d: float = 1.0
    pose3d: float = 0.0
    heatmap: float = 1.0
    unit3d: float = 1.0


def to_uv(joints2d: torch.Tensor, size: int) -> torch.Tensor:
    """Crop pixels (centres at integers) -> the network's normalised ``uv``."""
    return (joints2d + 0.5) / size


def _masked_mean(err: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``err`` (R, ...) over rows and elements where ``weight`` (R, ...) broadcast is > 0."""
    weight = weight.to(err.dtype).expand_as(err)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def mesh_loss(pred: torch.Tensor, gt: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """L1 between vertices (R, V, 3) for rows with ``has`` (R,)."""
    return _masked_mean((pred - gt).abs(), has[:, None, None])


def pose2d_loss(uv: torch.Tensor, uv_gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """L1 between normalised 2D joints (R, J, 2), over valid joints ``valid`` (R, J)."""
    return _masked_mean((uv - uv_gt).abs(), valid[..., None])


def face_edges(faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) triangles -> (3F, 2) vertex pairs of their edges (each face's three sides)."""
    return torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0)


def normal_loss(pred: torch.Tensor, gt: torch.Tensor, faces: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """Eq. 10 L_norm: the predicted face edges, as unit vectors, against the ground-truth face
    normals |e_ij / |e_ij| . n*_c|, averaged. pred, gt (R, V, 3); faces (F, 3) long."""
    a, b, c = (gt[:, faces[:, k]] for k in range(3))
    n = F.normalize(torch.cross(b - a, c - a, dim=-1), dim=-1)  # (R, F, 3)
    errs = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        e = F.normalize(pred[:, faces[:, i]] - pred[:, faces[:, j]], dim=-1)
        errs.append((e * n).sum(-1).abs())
    return _masked_mean(torch.stack(errs, -1), has[:, None, None])


def edge_loss(pred: torch.Tensor, gt: torch.Tensor, faces: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """Eq. 10 L_edge: | |e_ij| - |e*_ij| | over every face's edges. pred, gt (R, V, 3)."""
    e = face_edges(faces)
    lp = (pred[:, e[:, 0]] - pred[:, e[:, 1]]).norm(dim=-1)
    lg = (gt[:, e[:, 0]] - gt[:, e[:, 1]]).norm(dim=-1)
    return _masked_mean((lp - lg).abs(), has[:, None])


def pose3d_loss(pred: torch.Tensor, gt: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """L1 between root-relative 3D joints (R, J, 3) for rows with ``has`` (R,)."""
    return _masked_mean((pred - gt).abs(), has[:, None, None])


def relative_views(M: torch.Tensor, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From each sample's two views' crop affines M (B, 2, 2, 3) and turns R (B, 2, 3, 3):
    ``T_1->2`` (B, 2, 3) mapping crop-1 pixels to crop-2 pixels and ``R_1->2`` (B, 3, 3)."""
    b = M.shape[0]
    bottom = M.new_tensor([0.0, 0.0, 1.0]).expand(b, 2, 1, 3)
    M3 = torch.cat([M, bottom], 2)  # (B, 2, 3, 3)
    T = M3[:, 1] @ torch.linalg.inv(M3[:, 0])
    return T[:, :2], R[:, 1] @ R[:, 0].transpose(1, 2)


def consistency_losses(joints2d: torch.Tensor, vertices: torch.Tensor, M: torch.Tensor, R: torch.Tensor,
                       size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 11 for two views: ``L_con2D = |T_1->2 L_1 - L_2|`` (in units of the crop size) and
    ``L_con3D = |R_1->2 V_1 - V_2|``. joints2d (B, 2, J, 2) crop pixels; vertices (B, 2, V, 3)
    root-relative; M (B, 2, 2, 3); R (B, 2, 3, 3)."""
    T, R12 = relative_views(M, R)
    l1 = joints2d[:, 0] @ T[:, :, :2].transpose(1, 2) + T[:, None, :, 2]
    con2d = (l1 - joints2d[:, 1]).abs().mean() / size
    con3d = (vertices[:, 0] @ R12.transpose(1, 2) - vertices[:, 1]).abs().mean()
    return con2d, con3d


def gaussian_heatmaps(uv: torch.Tensor, size: int, sigma: float = 1.5) -> torch.Tensor:
    """(R, J, 2) positions in [0, 1] of the crop -> (R, J, size, size) Gaussians (peak 1) on
    the heatmap grid whose cell centres sit at (i + 0.5) / size."""
    g = (torch.arange(size, device=uv.device, dtype=uv.dtype) + 0.5) / size
    dx = (g[None, None, None, :] - uv[..., 0, None, None]) * size
    dy = (g[None, None, :, None] - uv[..., 1, None, None]) * size
    return torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma ** 2))


def heatmap_loss(logits: torch.Tensor, uv_gt: torch.Tensor, valid: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Cross-entropy between the heatmap logits' spatial softmax (R, J, H, W) and the normalised
    Gaussian at the true position, over valid joints ``valid`` (R, J). The head's soft-argmax
    reads the same softmax, so both agree on what a heatmap means."""
    r, j, h, w = logits.shape
    target = gaussian_heatmaps(uv_gt, h, sigma).reshape(r, j, -1)
    target = target / target.sum(-1, keepdim=True).clamp_min(1e-12)
    ce = -(target * F.log_softmax(logits.reshape(r, j, -1), -1)).sum(-1)
    return _masked_mean(ce, valid)


def mesh_recon_losses(out: dict, batch: dict, faces: torch.Tensor, w: LossWeights, views: int,
                      size: int) -> dict[str, torch.Tensor]:
    """Every term of Eq. 10-11 for a batch of B samples x ``views`` views.

    ``out``: the network's outputs on the B*views flattened inputs; ``batch``: targets with a
    view axis (B, views, ...) plus per-sample flags (B,). Returns the weighted terms and
    ``total``; the accuracy terms are summed over views (the paper's weights are per view).
    """
    flat = lambda t: t.reshape(-1, *t.shape[2:])  # noqa: E731  (B, N, ...) -> (B*N, ...)
    rep = lambda t: t.repeat_interleave(views)  # noqa: E731  (B,) -> (B*N,)
    has_v, has_j = rep(batch["has_vertices"]), rep(batch["has_joints3d"])
    gt_v = flat(batch["vertices"])
    valid2d = flat(batch["joints2d_valid"])
    u = 1.0 / w.unit3d  # metres -> the 3D terms' unit
    terms = {
        "mesh": w.mesh * u * mesh_loss(out["vertices"], gt_v, has_v),
        "pose2d": w.pose2d * pose2d_loss(out["uv"], to_uv(flat(batch["joints2d"]), size), valid2d),
        "normal": w.normal * normal_loss(out["vertices"], gt_v, faces, has_v),
        "edge": w.edge * u * edge_loss(out["vertices"], gt_v, faces, has_v),
    }
    if w.pose3d:
        terms["pose3d"] = w.pose3d * u * pose3d_loss(out["joints3d"], flat(batch["joints3d"]), has_j)
    if "heatmaps" in out and w.heatmap:
        terms["heatmap"] = w.heatmap * heatmap_loss(out["heatmaps"], to_uv(flat(batch["joints2d"]), size), valid2d)
    terms = {k: v * views for k, v in terms.items()}
    if views == 2 and (w.con2d or w.con3d):
        b = batch["M"].shape[0]
        con2d, con3d = consistency_losses(out["joints2d"].reshape(b, 2, -1, 2),
                                          out["vertices"].reshape(b, 2, -1, 3), batch["M"], batch["R"], size)
        terms["con2d"], terms["con3d"] = w.con2d * con2d, w.con3d * u * con3d
    terms["total"] = sum(terms.values())
    return terms


def pose2d_pretrain_losses(out: dict, batch: dict, w: LossWeights, views: int, size: int) -> dict[str, torch.Tensor]:
    """Stage 1 (paper Sec. 6, Figure 14): both the positions and the heatmaps supervised."""
    flat = lambda t: t.reshape(-1, *t.shape[2:])  # noqa: E731
    uv_gt = to_uv(flat(batch["joints2d"]), size)
    valid = flat(batch["joints2d_valid"])
    terms = {"pose2d": w.pose2d * pose2d_loss(out["uv"], uv_gt, valid),
             "heatmap": w.heatmap * heatmap_loss(out["heatmaps"], uv_gt, valid)}
    terms["total"] = sum(terms.values())
    return terms

"""Linear blend skinning over a kinematic tree, batched and differentiable (torch)."""

from __future__ import annotations

import torch


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. aa: (..., 3) axis * angle in radians -> (..., 3, 3) rotation matrices.

    Stable at zero angle (the gradient there is that of the identity's first-order term).
    """
    angle = torch.linalg.norm(aa, dim=-1, keepdim=True)  # (..., 1)
    small = angle < 1e-8
    safe = torch.where(small, torch.ones_like(angle), angle)
    axis = aa / safe
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(aa.shape[:-1] + (3, 3))
    s = torch.sin(safe)[..., None]
    c = torch.cos(safe)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(k.shape)
    rot = eye + s * k + (1 - c) * (k @ k)
    # First-order expansion near zero keeps gradients defined: I + [aa]_x.
    ax, ay, az = aa.unbind(-1)
    k0 = torch.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero], dim=-1).reshape(k.shape)
    return torch.where(small[..., None], eye + k0, rot)


def matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`axis_angle_to_matrix`. rot: (..., 3, 3) -> (..., 3), angles in [0, pi]."""
    # Via a unit quaternion, which is well conditioned for all angles.
    m = rot
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    qw = torch.sqrt(torch.clamp(1 + tr, min=1e-12)) / 2
    qx = torch.sqrt(torch.clamp(1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], min=0)) / 2
    qy = torch.sqrt(torch.clamp(1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], min=0)) / 2
    qz = torch.sqrt(torch.clamp(1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2], min=0)) / 2
    qx = torch.copysign(qx, m[..., 2, 1] - m[..., 1, 2])
    qy = torch.copysign(qy, m[..., 0, 2] - m[..., 2, 0])
    qz = torch.copysign(qz, m[..., 1, 0] - m[..., 0, 1])
    v = torch.stack([qx, qy, qz], dim=-1)
    sin_half = torch.linalg.norm(v, dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, qw[..., None])
    return torch.where(sin_half > 1e-8, v / sin_half.clamp(min=1e-12) * angle, 2 * v)


def rigid_transforms(rotmats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor):
    """Pose a kinematic tree.

    rotmats: (B, K, 3, 3) local rotations (parent-relative, axes of the rest frame);
    joints: (B, K, 3) rest joint positions; parents: (K,) long, parents[0] == -1, parents[k] < k.
    Returns posed joint positions (B, K, 3) and skinning transforms (B, K, 4, 4) that map rest
    positions to posed positions.
    """
    B, K = joints.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(B, K, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rotmats
    local[..., :3, 3] = rel
    local[..., 3, 3] = 1
    chain = [local[:, 0]]
    for k in range(1, K):
        chain.append(chain[int(parents[k])] @ local[:, k])
    world = torch.stack(chain, dim=1)  # (B, K, 4, 4)
    posed_joints = world[..., :3, 3]
    # Remove the rest position so the transform acts on rest-space vertices.
    offset = (world[..., :3, :3] @ joints[..., None])[..., 0]
    skin = world.clone()
    skin[..., :3, 3] = posed_joints - offset
    return posed_joints, skin


def lbs(
    v_shaped: torch.Tensor,
    joints: torch.Tensor,
    rotmats: torch.Tensor,
    parents: torch.Tensor,
    weights: torch.Tensor,
    pose_offsets: torch.Tensor | None = None,
):
    """Linear blend skinning.

    v_shaped: (B, V, 3) rest vertices after shape; joints: (B, K, 3) rest joints;
    rotmats: (B, K, 3, 3); parents: (K,); weights: (V, K) rows summing to 1;
    pose_offsets: optional (B, V, 3) corrective offsets added before skinning.
    Returns posed vertices (B, V, 3) and posed joints (B, K, 3).
    """
    posed_joints, skin = rigid_transforms(rotmats, joints, parents)
    v = v_shaped if pose_offsets is None else v_shaped + pose_offsets
    t = torch.einsum("vk,bkij->bvij", weights, skin)  # (B, V, 4, 4)
    verts = (t[..., :3, :3] @ v[..., None])[..., 0] + t[..., :3, 3]
    return verts, posed_joints

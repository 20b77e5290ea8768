"""The interface every hand model offers (OpenHand, MANO)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class HandOutput:
    """vertices: (B, V, 3) metres; joints: (B, 21, 3) metres, FreiHAND keypoint order."""

    vertices: torch.Tensor
    joints: torch.Tensor


class HandModel(nn.Module):
    """A parametric right hand.

    Subclasses provide the buffers ``v_template`` (V, 3), ``faces`` (F, 3) long,
    ``J_regressor`` (21, V) mapping vertices to the 21 FreiHAND-order keypoints, and implement
    :meth:`forward`. Pose is axis-angle (B, 16, 3): index 0 the global orientation, 1..15 the
    finger joints in the model's own ``pose_joint_names`` order. Shape is (B, num_shape).
    """

    num_shape: int
    pose_joint_names: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def faces_np(self) -> np.ndarray:
        return self.faces.cpu().numpy().astype(np.int64)

    def regress_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, 21, 3) keypoints in FreiHAND order."""
        return torch.einsum("jv,bvc->bjc", self.J_regressor.to(vertices.dtype), vertices)

    def _batch(self, pose: torch.Tensor | None, shape: torch.Tensor | None, batch_size: int | None = None):
        """Fill in zero pose / shape and check shapes; returns (pose (B,16,3), shape (B,S))."""
        ref = self.v_template
        if pose is not None:
            pose = torch.as_tensor(pose, dtype=ref.dtype, device=ref.device)
            if pose.dim() == 2 and pose.shape[1] == 48:
                pose = pose.reshape(-1, 16, 3)
            if pose.dim() != 3 or pose.shape[1:] != (16, 3):
                raise ValueError(f"pose must have shape (B, 16, 3) or (B, 48), got {tuple(pose.shape)}")
        if shape is not None:
            shape = torch.as_tensor(shape, dtype=ref.dtype, device=ref.device)
            if shape.dim() != 2 or shape.shape[1] != self.num_shape:
                raise ValueError(f"shape must have shape (B, {self.num_shape}), got {tuple(shape.shape)}")
        b = batch_size or (pose.shape[0] if pose is not None else shape.shape[0] if shape is not None else 1)
        if pose is None:
            pose = ref.new_zeros(b, 16, 3)
        if shape is None:
            shape = ref.new_zeros(b, self.num_shape)
        if pose.shape[0] != shape.shape[0]:
            raise ValueError(f"pose batch {pose.shape[0]} != shape batch {shape.shape[0]}")
        return pose, shape

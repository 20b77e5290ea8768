"""OpenHand: the project's own parametric right hand, usable wherever MANO is used.

778 vertices, 1,538 faces, open at the wrist; 16 articulated joints + 5 fingertips = 21
keypoints in FreiHAND order; linear blend skinning; six interpretable shape parameters.
The geometry comes from the CC0 MakeHuman base mesh (see ``openhand_build.py``).

Frame (metres): origin at the wrist joint, +y from the wrist towards the middle-finger MCP,
+z out of the back of the hand, +x towards the little finger.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mobrecon.hand.base import HandModel, HandOutput
from mobrecon.hand.lbs import axis_angle_to_matrix, lbs, matrix_to_axis_angle, rigid_transforms
from mobrecon.hand.skeleton import ARTICULATED, FINGERS, JOINT_NAMES


# Articulated joints (0..15) whose bone is an outer phalanx: thumb distal; finger middle + distal.
OUTER_PHALANGES = (3, 5, 6, 8, 9, 11, 12, 14, 15)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) vertices, (F, 3) faces -> (B, V, 3) unit area-weighted vertex normals."""
    tri = vertices[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    vn = torch.zeros_like(vertices).index_add_(1, faces.reshape(-1), fn.repeat_interleave(3, dim=1))
    return torch.nn.functional.normalize(vn, dim=-1)


def default_asset_path() -> Path:
    return Path(str(resources.files("mobrecon") / "assets" / "openhand.npz"))


def _euler_xyz(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) angles (a, b, c) -> (..., 3, 3) rotation Rx(a) @ Ry(b) @ Rz(c)."""
    eye = torch.eye(3, dtype=angles.dtype, device=angles.device)
    mats = [axis_angle_to_matrix(eye[i] * angles[..., i: i + 1]) for i in range(3)]
    return mats[0] @ mats[1] @ mats[2]


def _euler_xyz_inverse(rot: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_euler_xyz` for the middle angle in (-pi/2, pi/2)."""
    b = torch.asin(rot[..., 0, 2].clamp(-1, 1))
    a = torch.atan2(-rot[..., 1, 2], rot[..., 2, 2])
    c = torch.atan2(-rot[..., 0, 1], rot[..., 0, 0])
    return torch.stack([a, b, c], dim=-1)


class OpenHand(HandModel):
    """The built-in hand. ``OpenHand()(pose, shape) -> HandOutput``.

    pose: (B, 16, 3) axis-angle; [:, 0] global orientation about the wrist, [:, 1:] the finger
    joints in FreiHAND order (thumb, index, middle, ring, pinky; MCP, PIP, DIP each), each a
    rotation relative to its parent expressed in the rest frame's axes (as in MANO).
    shape: (B, 6) = scale, finger_length, thumb_length, palm_width, palm_length, thickness;
    a value of 1 is a 10 % change, sensible values lie in [-1.5, 1.5].
    Anatomical angles (B, 15, 3) = (flexion, splay, twist) in radians per finger joint convert
    to and from pose with :meth:`angles_to_pose` / :meth:`pose_to_angles`.
    """

    pose_joint_names = tuple(JOINT_NAMES[k] for k in ARTICULATED)

    def __init__(self, path: str | Path | None = None):
        super().__init__()
        path = Path(path) if path is not None else default_asset_path()
        if not path.is_file():
            raise FileNotFoundError(f"OpenHand asset not found: {path} (rebuild it with `make asset`)")
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        f32 = lambda k: torch.as_tensor(data[k], dtype=torch.float32)  # noqa: E731
        self.register_buffer("v_template", f32("v_template"))
        self.register_buffer("faces", torch.as_tensor(data["faces"], dtype=torch.long))
        self.register_buffer("weights", f32("weights"))
        self.register_buffer("J_regressor", f32("J_regressor"))
        self.register_buffer("shapedirs", f32("shapedirs"))
        self.register_buffer("parents", torch.as_tensor(data["parents"], dtype=torch.long))
        self.register_buffer("joint_frames", f32("joint_frames"))
        self.register_buffer("joint_limits", f32("joint_limits"))
        self.register_buffer("curl_max", f32("curl_max"))
        self.shape_names = tuple(str(s) for s in data["shape_names"])
        self.num_shape = len(self.shape_names)
        self.source = str(data["source"])
        self.asset_path = path

    # ------------------------------------------------------------------ forward
    def shaped(self, shape: torch.Tensor) -> torch.Tensor:
        """(B, S) -> rest vertices (B, V, 3) with the shape applied."""
        return self.v_template + torch.einsum("vcs,bs->bvc", self.shapedirs, shape)

    def forward(self, pose=None, shape=None, transl=None) -> HandOutput:
        """pose (B,16,3) | (B,48), shape (B,6), transl (B,3) -> vertices (B,778,3), joints (B,21,3)."""
        pose, shape = self._batch(pose, shape)
        v_shaped = self.shaped(shape)
        rest_joints = self.regress_joints(v_shaped)[:, list(ARTICULATED)]
        verts, _ = lbs(v_shaped, rest_joints, axis_angle_to_matrix(pose), self.parents, self.weights)
        if transl is not None:
            verts = verts + torch.as_tensor(transl, dtype=verts.dtype, device=verts.device)[:, None]
        return HandOutput(vertices=verts, joints=self.regress_joints(verts))

    def skeleton(self, pose=None, shape=None) -> torch.Tensor:
        """Posed kinematic-chain positions (B, 16, 3) of the articulated joints (no transl)."""
        pose, shape = self._batch(pose, shape)
        rest_joints = self.regress_joints(self.shaped(shape))[:, list(ARTICULATED)]
        joints, _ = rigid_transforms(axis_angle_to_matrix(pose), rest_joints, self.parents)
        return joints

    # --------------------------------------------------------- anatomical angles
    def angles_to_pose(self, angles: torch.Tensor, global_orient: torch.Tensor | None = None) -> torch.Tensor:
        """angles (B, 15, 3) (flex, splay, twist) radians, global_orient (B, 3) -> pose (B, 16, 3)."""
        angles = torch.as_tensor(angles, dtype=self.v_template.dtype)
        frames = self.joint_frames[1:]
        rot = frames @ _euler_xyz(angles) @ frames.transpose(-1, -2)
        finger = matrix_to_axis_angle(rot)
        if global_orient is None:
            global_orient = finger.new_zeros(finger.shape[0], 3)
        return torch.cat([torch.as_tensor(global_orient, dtype=finger.dtype)[:, None], finger], dim=1)

    def pose_to_angles(self, pose: torch.Tensor) -> torch.Tensor:
        """pose (B, 16, 3) -> anatomical angles (B, 15, 3) of the finger joints."""
        pose, _ = self._batch(pose, None)
        frames = self.joint_frames[1:]
        rot = frames.transpose(-1, -2) @ axis_angle_to_matrix(pose[:, 1:]) @ frames
        return _euler_xyz_inverse(rot)

    def clamp_angles(self, angles: torch.Tensor) -> torch.Tensor:
        """Clamp (B, 15, 3) anatomical angles into the joint limits."""
        lim = self.joint_limits[1:]
        return torch.maximum(torch.minimum(angles, lim[..., 1]), lim[..., 0])

    def within_limits(self, pose: torch.Tensor, tol_deg: float = 0.5) -> torch.Tensor:
        """(B, 16, 3) -> (B,) bool: every finger joint inside its limits (within tol_deg)."""
        angles = self.pose_to_angles(pose)
        lim = self.joint_limits[1:]
        tol = np.radians(tol_deg)
        ok = (angles >= lim[..., 0] - tol) & (angles <= lim[..., 1] + tol)
        return ok.flatten(1).all(1)

    def finger_angles(self, flexion: torch.Tensor, splay: torch.Tensor | None = None) -> torch.Tensor:
        """Convenience: per-finger curl and spread -> anatomical angles (B, 15, 3).

        flexion: (B, 5) in [-1, 1] (thumb..pinky): 1 curls the finger fully (each joint to its
        ``curl_max``, where the fingertip meets the palm), 0 is straight, negative values
        hyper-extend each joint towards its (small) limit.
        splay: (B, 5) in [-1, 1]: fraction of the MCP splay limit; positive turns a finger
        towards the thumb side (the thumb: away from the palm).
        """
        flexion = torch.as_tensor(flexion, dtype=self.v_template.dtype)
        b = flexion.shape[0]
        lim = self.joint_limits[1:].reshape(5, 3, 3, 2)  # finger, joint, dof, (min, max)
        fl = flexion[:, :, None]
        curl = self.curl_max.reshape(5, 3)
        flex = torch.where(fl >= 0, fl * curl[None], -fl * lim[None, :, :, 0, 0])
        angles = flexion.new_zeros(b, 5, 3, 3)
        angles[..., 0] = flex
        if splay is not None:
            sp = torch.as_tensor(splay, dtype=flexion.dtype)
            angles[:, :, 0, 1] = torch.where(sp >= 0, sp * lim[None, :, 0, 1, 1], -sp * lim[None, :, 0, 1, 0])
        return angles.reshape(b, 15, 3)

    # ------------------------------------------------------------- collisions
    def penetration(self, pose=None, shape=None, chunk: int = 64) -> torch.Tensor:
        """(B,) deepest interpenetration (metres) between non-adjacent parts of the posed mesh.

        Every vertex belongs to the joint with its largest skinning weight. For each vertex, the
        nearest vertex of a part that is neither its own nor its parent's nor its child's (and
        was more than 2 cm away in the rest pose; one of the two on an outer phalanx) is found;
        if the vertex lies behind that vertex's surface normal, the depth counts. 0 means no
        interpenetration found.
        """
        pose, shape = self._batch(pose, shape)
        checked = self._penetration_pairs()
        depths = []
        for i in range(0, pose.shape[0], chunk):
            v = self.forward(pose[i: i + chunk], shape[i: i + chunk]).vertices
            n = vertex_normals(v, self.faces)
            dist = torch.cdist(v, v).masked_fill(~checked, float("inf"))
            d, idx = dist.min(-1)  # (b, V)
            q = torch.gather(v, 1, idx[..., None].expand(-1, -1, 3))
            nq = torch.gather(n, 1, idx[..., None].expand(-1, -1, 3))
            behind = -((v - q) * nq).sum(-1)
            depths.append(torch.where(d < 0.015, behind, torch.zeros_like(behind)).clamp(min=0).max(-1).values)
        return torch.cat(depths)

    def _penetration_pairs(self) -> torch.Tensor:
        """(V, V) bool: vertex pairs on parts that may not interpenetrate."""
        if getattr(self, "_pairs", None) is None:
            part = self.weights.argmax(1)
            parent = self.parents.clamp(min=0)[part]
            same = part[:, None] == part[None, :]
            adjacent = (parent[:, None] == part[None, :]) | (part[:, None] == parent[None, :])
            near_at_rest = torch.cdist(self.v_template, self.v_template) < 0.02
            # Only the outer phalanges are checked (fingers: middle and distal; thumb: distal):
            # the thumb's proximal phalanx moves inside the soft thenar pad by design.
            outer = torch.isin(part, torch.tensor(OUTER_PHALANGES))
            self._pairs = ~(same | adjacent | near_at_rest) & (outer[:, None] | outer[None, :])
        return self._pairs

    def finger_names(self) -> tuple[str, ...]:
        return FINGERS

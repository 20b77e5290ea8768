"""Pseudo-meshes: OpenHand fitted to a teacher's 2D keypoints and 3D world landmarks.

For each hand (already a right hand; mirror left ones with :func:`mirror_labels` first) the
fitter finds OpenHand's global orientation, finger angles (inside the joint limits), shape and
root translation in the camera with intrinsics ``K`` such that

* the model's 21 joints project onto the teacher's ``keypoints2d`` (robust Geman-McClure
  penalty on the error measured in units of the hand's box, the longer side of the tight box
  of the keypoints);
* the model's joints match the teacher's ``world`` landmarks up to a similarity (the world
  landmarks are Procrustes-aligned, rotation + scale + offset, onto the model's joints inside
  the loss; the alignment is held fixed for the gradient, which is exact at its optimum);
* a Gaussian prior on shape and a weak one on the finger angles; the joint limits are hard
  (each angle is ``lo + (hi - lo) * sigmoid(x)``).

The global orientation starts from the world landmarks' weak-perspective fit to the 2D
keypoints (and its depth-flipped twin, and the teacher's own axes): every start runs for
``FitConfig.select_iters`` steps, the best one per hand continues. Everything is batched in
torch (float32, CPU) with Adam; each hand's loss is independent of the others in its batch.

Residuals per hand: ``residual_2d`` mean joint reprojection error as a fraction of the box;
``residual_3d`` mean joint distance (mm) after aligning the world landmarks onto the fitted
joints by a similarity. ``confidence = exp(-(residual_2d / 0.05)^2 / 2 - (residual_3d / 12)^2 / 2)``
(``FitConfig.conf_2d``, ``conf_3d_mm``); a fit is *kept* when ``residual_2d <= 0.06`` and
``residual_3d <= 15`` mm (``FitConfig.drop_2d``, ``drop_3d_mm``).

This module needs the intrinsics from its caller (``mobrecon fit`` uses
:func:`mobrecon.data.root.default_intrinsics` of each image's size, as the predictor does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mobrecon.data.sample import make_sample
from mobrecon.hand.lbs import axis_angle_to_matrix, matrix_to_axis_angle, rigid_transforms
from mobrecon.hand.poses import random_angles
from mobrecon.hand.skeleton import ARTICULATED
from mobrecon.io_utils import read_npz

FITS_FORMAT = "mobrecon-pseudo-meshes/1"
PALM = (0, 1, 5, 9, 13, 17)  # wrist, thumb CMC, index..pinky MCP: the near-rigid part of the hand


@dataclass
class FitConfig:
    """Weights and steps of the fit. Errors: 2D in box units, 3D in units of ``hand_size``."""

    shape_iters: int = 80  # Adam steps of fingers and shape to the world landmarks alone
    select_iters: int = 40  # steps every orientation start runs before the best one is kept
    iters: int = 150  # steps of the best start
    lr: float = 0.05
    batch_size: int = 256
    w_2d: float = 1.0
    w_3d: float = 1.0
    sigma_start: float = 1.0  # Geman-McClure scale (box units) while the starts compete: ~L2
    sigma_2d: float = 0.1  # ... and afterwards: joints off by more than ~0.2 box count less
    w_shape: float = 3e-4  # Gaussian prior on the shape's proportions (1 = 10 % change)
    w_scale: float = 1e-2  # ... and on its overall scale, which the data hardly see (depth)
    w_angles: float = 1e-4  # pull of the finger angles (radians) towards the rest pose
    hand_size: float = 0.18  # typical wrist-to-middle-tip length (m): 3D error unit, depth start
    conf_2d: float = 0.05
    conf_3d_mm: float = 12.0
    drop_2d: float = 0.06
    drop_3d_mm: float = 15.0


# ------------------------------------------------------------------------------ labels
def mirror_labels(keypoints2d: np.ndarray, world: np.ndarray, size: np.ndarray, left: np.ndarray):
    """Make left hands right: (H, 21, 2) pixels, (H, 21, 3) world, (H, 2) image (width, height),
    (H,) bool -> mirrored copies (x_px -> W - 1 - x_px, world x -> -x where ``left``)."""
    kp = np.array(keypoints2d, np.float32, copy=True)
    w3 = np.array(world, np.float32, copy=True)
    left = np.asarray(left, bool).reshape(-1)
    width = np.asarray(size, np.float32).reshape(-1, 2)[:, 0]
    kp[left, :, 0] = (width[left, None] - 1) - kp[left, :, 0]
    w3[left, :, 0] = -w3[left, :, 0]
    return kp, w3


# --------------------------------------------------------------------------- geometry
def similarity_align(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(B, N, 3), (B, N, 3) -> src moved onto dst by the best rotation, scale and offset (B, N, 3)."""
    ms, md = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    a, b = src - ms, dst - md
    u, s, vt = torch.linalg.svd(a.transpose(1, 2) @ b)
    d = torch.sign(torch.det(u @ vt))
    fix = torch.ones_like(s)
    fix[:, 2] = d
    rot = (u * fix[:, None]) @ vt  # applied as a @ rot
    scale = (s * fix).sum(1) / a.pow(2).sum((1, 2)).clamp(min=1e-12)
    return scale[:, None, None] * (a @ rot) + md


def _rotation_onto(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(B, N, 3), (B, N, 3) -> rotation R (B, 3, 3) with R @ (src - mean) ~ (dst - mean)."""
    a, b = src - src.mean(1, keepdim=True), dst - dst.mean(1, keepdim=True)
    u, _, vt = torch.linalg.svd(b.transpose(1, 2) @ a)
    d = torch.sign(torch.det(u @ vt))
    fix = torch.ones(len(a), 3, dtype=a.dtype)
    fix[:, 2] = d
    return (u * fix[:, None]) @ vt


def _weak_perspective_rotation(world: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) world, (B, 21, 2) pixels -> rotation (B, 3, 3) taking world axes to camera axes
    (x right, y down, z forward) that best explains the 2D keypoints under an affine camera."""
    w = world - world.mean(1, keepdim=True)
    k = kp - kp.mean(1, keepdim=True)
    gram = w.transpose(1, 2) @ w + 1e-8 * torch.eye(3)
    affine = torch.linalg.solve(gram, w.transpose(1, 2) @ k).transpose(1, 2)  # (B, 2, 3)
    u, _, vt = torch.linalg.svd(affine, full_matrices=False)  # (B,2,2), (B,2), (B,2,3)
    rows = u @ vt
    return torch.stack([rows[:, 0], rows[:, 1], torch.linalg.cross(rows[:, 0], rows[:, 1])], 1)


def _depth_flip(rot: torch.Tensor, world: torch.Tensor) -> torch.Tensor:
    """The other orientation an affine camera cannot tell from ``rot`` for a flat hand: mirror
    the palm plane in the world, then the depth in the camera (B, 3, 3)."""
    p = world[:, list(PALM)]
    p = p - p.mean(1, keepdim=True)
    normal = torch.linalg.svd(p, full_matrices=False)[2][:, 2]  # (B, 3)
    mirror_world = torch.eye(3) - 2 * normal[:, :, None] * normal[:, None, :]
    return torch.diag(torch.tensor([1.0, 1.0, -1.0])) @ rot @ mirror_world


def _spread(points: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) -> (B,) root-mean-square distance of the points from their centre."""
    return (points - points.mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt()


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera space, (B, 3, 3) -> (B, N, 2) pixels."""
    q = points @ K.transpose(1, 2)
    return q[..., :2] / q[..., 2:3].clamp(min=1e-4)


# ---------------------------------------------------------------------------- fitting
def _euler_xyz(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) angles (a, b, c) -> (..., 3, 3) Rx(a) Ry(b) Rz(c), smooth everywhere (unlike a
    trip through axis-angle, whose gradient is undefined at the rest pose)."""
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones_like(c[..., 0]), torch.zeros_like(c[..., 0])

    def mat(*rows):
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    rx = mat((one, zero, zero), (zero, c[..., 0], -s[..., 0]), (zero, s[..., 0], c[..., 0]))
    ry = mat((c[..., 1], zero, s[..., 1]), (zero, one, zero), (-s[..., 1], zero, c[..., 1]))
    rz = mat((c[..., 2], -s[..., 2], zero), (s[..., 2], c[..., 2], zero), (zero, zero, one))
    return rx @ ry @ rz


class _JointRig:
    """OpenHand's 21 joints straight from pose and shape, without posing the 778 vertices.

    Skinning is linear in the vertices and the joints are a fixed linear map of them, so
    ``joints_j = sum_k T_k @ (sum_v Jreg[j, v] w[v, k] (v_v, 1))``, where the inner sums (which
    are linear in the shape) are computed once: about 30 times less work per step than
    ``hand(...).joints``, with the same result.
    """

    def __init__(self, hand):
        jw = hand.J_regressor[:, :, None] * hand.weights[None]  # (21, V, 16)
        self.mass = jw.sum(1)  # (21, 16)
        self.base = torch.einsum("jvk,vc->jkc", jw, hand.v_template)  # (21, 16, 3)
        self.dirs = torch.einsum("jvk,vcs->jkcs", jw, hand.shapedirs)  # (21, 16, 3, S)
        art = hand.J_regressor[list(ARTICULATED)]
        self.rest_base = art @ hand.v_template  # (16, 3)
        self.rest_dirs = torch.einsum("jv,vcs->jcs", art, hand.shapedirs)  # (16, 3, S)
        self.parents = hand.parents
        self.frames = hand.joint_frames[1:]

    def joints(self, rot: torch.Tensor | None, angles: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Global rotation matrix (B, 3, 3) (None: identity), anatomical angles (B, 15, 3),
        shape (B, S) -> joints (B, 21, 3) == ``hand(hand.angles_to_pose(angles, aa(rot)),
        shape).joints``, without the axis-angle round trip (whose gradient is undefined at the
        rest pose)."""
        fingers = self.frames @ _euler_xyz(angles) @ self.frames.transpose(-1, -2)  # (B, 15, 3, 3)
        if rot is None:
            rot = torch.eye(3).expand(len(angles), 3, 3)
        rotmats = torch.cat([rot[:, None], fingers], 1)
        rest = self.rest_base + torch.einsum("jcs,bs->bjc", self.rest_dirs, shape)
        _, skin = rigid_transforms(rotmats, rest, self.parents)
        local = self.base + torch.einsum("jkcs,bs->bjkc", self.dirs, shape)  # (B, 21, 16, 3)
        return (torch.einsum("bkcd,bjkd->bjc", skin[..., :3, :3], local)
                + torch.einsum("bkc,jk->bjc", skin[..., :3, 3], self.mass))


class _Batch:
    """The parameters of a batch of fits, their model evaluation and their loss."""

    def __init__(self, rig: _JointRig, hand, kp, world, K, cfg: FitConfig):
        self.rig, self.hand, self.cfg = rig, hand, cfg
        self.kp, self.world, self.K = kp, world, K
        self.box = (kp.amax(1) - kp.amin(1)).amax(1).clamp(min=1.0)
        n = len(kp)
        lim = hand.joint_limits[1:]
        self.lo, self.span = lim[..., 0], lim[..., 1] - lim[..., 0]
        rest = ((0 - self.lo) / self.span).clamp(0.02, 0.98)
        self.logits = torch.logit(rest).expand(n, 15, 3).clone().requires_grad_()
        self.shape = torch.zeros(n, hand.num_shape, requires_grad=True)
        with torch.no_grad():
            self.rest_spread = _spread(self.joints_model()[:1])
        self.place(torch.eye(3).expand(n, 3, 3))

    def place(self, rot0: torch.Tensor) -> None:
        """Start the camera pose: orientation ``rot0`` (B, 3, 3); depth from the ratio of the
        turned hand's spread to the keypoints' spread, x/y from the keypoints' centre."""
        self.rot0 = rot0
        self.delta = torch.zeros(len(rot0), 3, requires_grad=True)
        kp, K = self.kp, self.K
        with torch.no_grad():
            j = self.joints_model() @ rot0.transpose(1, 2)
            s3 = (j[..., :2] - j[..., :2].mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt()
            s2 = (kp - kp.mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt()
            f = (K[:, 0, 0] + K[:, 1, 1]) / 2
            z = (f * s3 / s2.clamp(min=1e-3)).clamp(0.05, 20.0)
            ab = (kp.mean(1) - K[:, :2, 2]) / torch.stack([K[:, 0, 0], K[:, 1, 1]], 1)
            centre = ab * z[:, None] - j.mean(1)[:, :2]
        # Translation (a * z, b * z, z): (a, b) moves in steps of one box (a0 + unit * p),
        # z in log steps, so that one learning rate suits every hand's size and distance.
        self.ab0 = centre / z[:, None]
        self.ab_unit = (self.box / f)[:, None]
        self.trans = torch.cat([torch.zeros_like(centre), z.log()[:, None]], 1).requires_grad_()

    def params(self, camera: bool = True):
        return [self.logits, self.shape] + ([self.delta, self.trans] if camera else [])

    def angles(self) -> torch.Tensor:
        return self.lo + self.span * torch.sigmoid(self.logits)

    def rotation(self) -> torch.Tensor:
        return self.rot0 @ axis_angle_to_matrix(self.delta)

    def translation(self) -> torch.Tensor:
        z = self.trans[:, 2:].exp()
        return torch.cat([(self.ab0 + self.ab_unit * self.trans[:, :2]) * z, z], 1)

    def joints_model(self) -> torch.Tensor:
        """(B, 21, 3) joints in the hand's own frame (no global turn, no translation)."""
        return self.rig.joints(None, self.angles(), self.shape)

    def joints_camera(self) -> torch.Tensor:
        """(B, 21, 3) camera-space joints: ``hand(pose, shape, transl).joints``."""
        return self.rig.joints(self.rotation(), self.angles(), self.shape) + self.translation()[:, None]

    def losses(self, sigma: float | None) -> torch.Tensor:
        """Per-hand total loss (B,); ``sigma`` the Geman-McClure scale of the 2D term (box
        units), None for the 3D terms alone (the hand's own frame, no camera)."""
        cfg = self.cfg
        joints = self.joints_model() if sigma is None else self.joints_camera()
        with torch.no_grad():
            target = similarity_align(self.world, joints)
            # In units of the hand's own size, so that the 3D term cannot pull the scale (which
            # only the shape prior sets: 2D and 3D both allow any scale).
            unit = cfg.hand_size * _spread(joints) / self.rest_spread
        loss = cfg.w_3d * ((joints - target) / unit[:, None, None]).pow(2).sum(-1).mean(1)
        shape2 = self.shape.pow(2)
        loss = loss + cfg.w_scale * shape2[:, 0] + cfg.w_shape * shape2[:, 1:].sum(1)
        loss = loss + cfg.w_angles * self.angles().pow(2).sum((1, 2))
        if sigma is not None:
            e2 = ((_project(joints, self.K) - self.kp) / self.box[:, None, None]).pow(2).sum(-1)
            loss = loss + cfg.w_2d * (sigma ** 2 * e2 / (e2 + sigma ** 2)).mean(1)
        return loss

    def take(self, idx: torch.Tensor) -> None:
        """Keep rows ``idx`` (repeated or chosen) of every parameter and input."""
        for name in ("logits", "shape", "delta", "trans"):
            setattr(self, name, getattr(self, name).detach()[idx].clone().requires_grad_())
        for name in ("kp", "world", "K", "box", "rot0", "ab0", "ab_unit"):
            setattr(self, name, getattr(self, name)[idx])


def _adam(batch: _Batch, steps: int, lr: float, sigma: float | None) -> None:
    opt = torch.optim.Adam(batch.params(camera=sigma is not None), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr * 0.1)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        batch.losses(sigma).sum().backward()
        opt.step()
        sched.step()


def _starts(kp: torch.Tensor, world: torch.Tensor) -> torch.Tensor:
    """(S, B, 3, 3) candidate world-to-camera rotations: weak-perspective fit, its depth flip,
    and the teacher's own axes (MediaPipe's world axes roughly follow the camera's)."""
    rot = _weak_perspective_rotation(world, kp)
    return torch.stack([rot, _depth_flip(rot, world), torch.eye(3).expand_as(rot)])


def _fit_batch(rig: _JointRig, hand, kp, world, K, cfg: FitConfig) -> dict[str, torch.Tensor]:
    """Three stages: fingers and shape to the world landmarks alone (no camera); every
    orientation start with the camera for ``select_iters`` steps; the best start to the end."""
    n = len(kp)
    batch = _Batch(rig, hand, kp, world, K, cfg)
    _adam(batch, cfg.shape_iters, cfg.lr, None)
    world_rots = _starts(kp, world)  # (S, B, 3, 3)
    s = len(world_rots)
    batch.take(torch.arange(n).repeat(s))
    with torch.no_grad():
        # The fitted hand turned onto the world landmarks as each start puts them in the camera.
        target = (world[None] @ world_rots.transpose(-1, -2)).reshape(s * n, 21, 3)
        batch.place(_rotation_onto(batch.joints_model(), target))
    _adam(batch, cfg.select_iters, cfg.lr, cfg.sigma_start)
    with torch.no_grad():
        best = batch.losses(cfg.sigma_start).reshape(s, n).argmin(0)
    batch.take(best * n + torch.arange(n))
    _adam(batch, cfg.iters, cfg.lr, cfg.sigma_2d)
    with torch.no_grad():
        transl = batch.translation()
        pose = hand.angles_to_pose(batch.angles(), matrix_to_axis_angle(batch.rotation()))
        out = hand(pose, batch.shape, transl)
        proj = _project(out.joints, batch.K)
        r2d = (proj - batch.kp).norm(dim=-1).mean(1) / batch.box
        aligned = similarity_align(batch.world, out.joints)
        r3d = (aligned - out.joints).norm(dim=-1).mean(1) * 1000
    return {"vertices": out.vertices, "joints3d": out.joints, "joints2d": proj, "pose": pose,
            "shape": batch.shape.detach(), "transl": transl, "residual_2d": r2d, "residual_3d": r3d,
            "start": best}


def fit_hands(hand, keypoints2d: np.ndarray, world: np.ndarray, K: np.ndarray, cfg: FitConfig | None = None,
              progress=None) -> dict[str, np.ndarray]:
    """Fit OpenHand to H right hands.

    hand: an OpenHand (:func:`mobrecon.hand.load.load_hand`); keypoints2d (H, 21, 2) pixels,
    FreiHAND order, pixel centres at integers; world (H, 21, 3) metres, any origin / axes /
    scale; K (H, 3, 3) or (3, 3) intrinsics. ``progress(n)`` is called after each batch with
    the number of hands it held.

    Returns float32 arrays (uint8 / bool where said): ``vertices`` (H, 778, 3) and ``joints3d``
    (H, 21, 3) camera-space metres, ``joints2d`` (H, 21, 2) their projection, ``pose`` (H, 16, 3)
    axis-angle (global orientation first), ``shape`` (H, 6), ``transl`` (H, 3) such that
    ``hand(pose, shape, transl)`` gives the vertices, ``K`` (H, 3, 3), ``residual_2d`` (H,)
    box fractions, ``residual_3d`` (H,) mm, ``confidence`` (H,) in [0, 1], ``keep`` (H,) bool,
    ``start`` (H,) uint8 which orientation start won (0 weak perspective, 1 its flip, 2 the
    teacher's axes).
    """
    cfg = cfg or FitConfig()
    kp = torch.as_tensor(np.asarray(keypoints2d, np.float32))
    w3 = torch.as_tensor(np.asarray(world, np.float32))
    n = len(kp)
    if kp.shape != (n, 21, 2) or w3.shape != (n, 21, 3):
        raise ValueError(f"keypoints2d must be (H, 21, 2) and world (H, 21, 3), got {tuple(kp.shape)}, {tuple(w3.shape)}")
    Kt = torch.as_tensor(np.broadcast_to(np.asarray(K, np.float32), (n, 3, 3)).copy())
    if not (torch.isfinite(kp).all() and torch.isfinite(w3).all()):
        raise ValueError("keypoints2d / world contain NaN or infinite values")
    rig = _JointRig(hand)
    parts = []
    for i in range(0, n, cfg.batch_size):
        sl = slice(i, i + cfg.batch_size)
        parts.append(_fit_batch(rig, hand, kp[sl], w3[sl], Kt[sl], cfg))
        if progress is not None:
            progress(len(kp[sl]))
    keys = ("vertices", "joints3d", "joints2d", "pose", "shape", "transl", "residual_2d", "residual_3d", "start")
    if parts:
        out = {k: torch.cat([p[k] for p in parts]).numpy() for k in keys}
    else:
        empty = {"vertices": (0, hand.num_vertices, 3), "joints3d": (0, 21, 3), "joints2d": (0, 21, 2),
                 "pose": (0, 16, 3), "shape": (0, hand.num_shape), "transl": (0, 3)}
        out = {k: np.zeros(empty.get(k, (0,)), np.float32) for k in keys}
    out = {k: v.astype(np.uint8 if k == "start" else np.float32) for k, v in out.items()}
    out["K"] = Kt.numpy()
    out["confidence"] = fit_confidence(out["residual_2d"], out["residual_3d"], cfg)
    out["keep"] = (out["residual_2d"] <= cfg.drop_2d) & (out["residual_3d"] <= cfg.drop_3d_mm)
    return out


def fit_confidence(residual_2d: np.ndarray, residual_3d: np.ndarray, cfg: FitConfig | None = None) -> np.ndarray:
    """(H,) box fractions, (H,) mm -> (H,) float32 in [0, 1], 1 for a perfect fit."""
    cfg = cfg or FitConfig()
    z = (np.asarray(residual_2d) / cfg.conf_2d) ** 2 + (np.asarray(residual_3d) / cfg.conf_3d_mm) ** 2
    return np.exp(-0.5 * z).astype(np.float32)


# ---------------------------------------------------------------------- self-check data
def synthetic_labels(hand, n: int, seed: int = 0, size: tuple[int, int] = (640, 480), noise_2d: float = 0.0,
                     noise_3d: float = 0.002, focal: float | None = None) -> dict[str, np.ndarray]:
    """Teacher-like labels made from known OpenHand hands, to test and measure the fitter.

    n random poses inside the joint limits (free of interpenetration), shapes uniform in
    [-1, 1], uniformly random orientations, the wrist 0.3-0.6 m in front of a camera with
    ``focal`` (default: 50 degrees over the longer side) and the hand inside the image.
    Returns ``keypoints2d`` (n, 21, 2) (plus Gaussian noise ``noise_2d`` in box units),
    ``world`` (n, 21, 3): the root-relative joints turned by a random rotation, scaled by
    0.8-1.2 and moved, plus Gaussian noise ``noise_3d`` metres; ``K`` (n, 3, 3); ``size``
    (n, 2); and the truth: ``joints3d`` (n, 21, 3), ``vertices`` (n, V, 3), ``pose``, ``shape``.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    f = focal or 0.5 * max(w, h) / np.tan(np.radians(25.0))
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.float32)
    angles = random_angles(hand, n, seed=seed)
    glob = torch.as_tensor(_random_rotvecs(rng, n), dtype=torch.float32)
    pose = hand.angles_to_pose(angles, glob)
    shape = torch.as_tensor(rng.uniform(-1, 1, (n, hand.num_shape)), dtype=torch.float32)
    with torch.no_grad():
        rel = hand(pose, shape)
    j = rel.joints.numpy()
    z = rng.uniform(0.3, 0.6, n)
    # Centre the hand's joints somewhere in the middle half of the image.
    centre = np.stack([rng.uniform(0.25, 0.75, n) * w, rng.uniform(0.25, 0.75, n) * h], 1)
    t = np.concatenate([(centre - K[:2, 2]) / f * z[:, None], z[:, None]], 1) - j.mean(1)
    t[:, 2] = z
    joints3d = (j + t[:, None]).astype(np.float32)
    vertices = (rel.vertices.numpy() + t[:, None]).astype(np.float32)
    q = joints3d @ K.T
    kp = q[..., :2] / q[..., 2:3]
    box = (kp.max(1) - kp.min(1)).max(1)
    kp = kp + rng.normal(0, noise_2d, kp.shape) * box[:, None, None]
    rot = torch.as_tensor(_random_rotvecs(rng, n), dtype=torch.float32)
    R = axis_angle_to_matrix(rot).numpy()
    rr = joints3d - joints3d[:, 9:10]
    world = rng.uniform(0.8, 1.2, (n, 1, 1)) * np.einsum("nij,nkj->nki", R, rr) + rng.normal(0, 0.02, (n, 1, 3))
    world = world + rng.normal(0, noise_3d, world.shape)
    return {"keypoints2d": kp.astype(np.float32), "world": world.astype(np.float32),
            "K": np.repeat(K[None], n, 0), "size": np.tile(np.array([w, h], np.int32), (n, 1)),
            "joints3d": joints3d, "vertices": vertices, "pose": pose.numpy(), "shape": shape.numpy()}


def _random_rotvecs(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) axis-angle vectors of rotations uniform over SO(3)."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.sign(q[:, :1])
    angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
    axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=1, keepdims=True), 1e-12)
    return axis * angle[:, None]


# ------------------------------------------------------------------ teacher labels files
LABELS_FORMAT = "mobrecon-teacher-labels/1"
_LABEL_KEYS = ("format", "root", "files", "size", "image", "keypoints2d", "world", "hand")


def read_labels(path) -> dict[str, np.ndarray]:
    """A teacher labels file (``mobrecon label``) as a dict of arrays, checked; raises
    FileNotFoundError / ValueError with one line naming the file and what is wrong."""
    data = read_npz(path, "labels")
    missing = [k for k in _LABEL_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: not a teacher labels file (missing {', '.join(missing)})")
    if str(data["format"]) != LABELS_FORMAT:
        raise ValueError(f"{path}: labels format {str(data['format'])!r}, expected {LABELS_FORMAT!r}")
    h, n = len(data["image"]), len(data["files"])
    shapes = {"keypoints2d": (h, 21, 2), "world": (h, 21, 3), "hand": (h,), "size": (n, 2)}
    for k, want in shapes.items():
        if data[k].shape != want:
            raise ValueError(f"{path}: {k} has shape {data[k].shape}, expected {want}")
    if h and (data["image"].min() < 0 or data["image"].max() >= n):
        raise ValueError(f"{path}: image indices outside 0..{n - 1}")
    if not set(np.unique(data["hand"])) <= {"left", "right"}:
        raise ValueError(f"{path}: hand must be 'left' or 'right'")
    return data


def fit_labels(hand, labels: dict, K: np.ndarray, cfg: FitConfig | None = None, progress=None) -> dict[str, np.ndarray]:
    """Fit every hand of a labels dict (:func:`read_labels`); K (H, 3, 3) per hand.

    Left hands are mirrored first (:func:`mirror_labels`), so every fit is a right hand in the
    mirrored photo (``mirrored`` True: flip the image left-right before use; the returned ``K``
    is already that of the mirrored photo). Returns :func:`fit_hands`' arrays plus ``format``, ``teacher``, ``root``,
    ``files``, ``size`` (per image), ``image`` (H,) row in ``files``, ``hand`` (H,) the true
    side, ``mirrored`` (H,) bool, ``keypoints2d`` (H, 21, 2) the teacher's keypoints as fitted.
    """
    left = labels["hand"] == "left"
    size = labels["size"][labels["image"]]
    kp, world = mirror_labels(labels["keypoints2d"], labels["world"], size, left)
    K = np.array(np.broadcast_to(np.asarray(K, np.float32), (len(kp), 3, 3)))
    K[left, 0, 2] = (size[left, 0] - 1) - K[left, 0, 2]
    K[left, 0, 1] = -K[left, 0, 1]
    fit = fit_hands(hand, kp, world, K, cfg, progress=progress)
    meta = {"format": np.str_(FITS_FORMAT), "teacher": np.str_(str(labels.get("teacher", ""))),
            "root": np.str_(str(labels["root"])), "files": labels["files"], "size": labels["size"],
            "image": labels["image"].astype(np.int32), "hand": labels["hand"], "mirrored": left,
            "keypoints2d": kp}
    return {**meta, **fit}


def pseudo_mesh_sample(fits: dict, i: int, image: np.ndarray, dataset: str = "real") -> dict:
    """Hand ``i`` of a fits dict as a training sample (:func:`mobrecon.data.sample.make_sample`)
    from its photo (H, W, 3) uint8 RGB as read from disk (mirrored here when the hand is a left
    one). ``joints2d`` are the teacher's keypoints; ``joints3d`` / ``vertices`` the fit's; the
    fit's ``confidence[i]`` is for the caller to weigh the 3D losses by."""
    image = np.asarray(image)
    if fits["mirrored"][i]:
        image = image[:, ::-1]
    return make_sample(image, fits["K"][i], joints2d=fits["keypoints2d"][i], joints3d=fits["joints3d"][i],
                       vertices=fits["vertices"][i], dataset=dataset, index=int(i))

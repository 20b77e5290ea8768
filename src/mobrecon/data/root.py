"""Root recovery: place a root-relative hand in camera space so it overlays the image.

The network predicts the mesh relative to its wrist; the camera-space translation ``t`` of the
wrist follows from the predicted 2D joints and the intrinsics ``K`` (as CMR does for its
"aligned mesh"). Each joint ``X_j + t`` must project onto ``(u_j, v_j)``:

    fx (X + tx) = (u - cx)(Z + tz) - s (Y + ty)        (skew s, usually 0)
    fy (Y + ty) = (v - cy)(Z + tz)

which is linear in ``t``: two equations per joint, solved by least squares, then optionally
refined by a few Gauss-Newton steps on the pixel reprojection error itself (the linear solve
weights far joints less than near ones). Each least-squares problem has three unknowns and is
solved by its (3, 3) normal equations (``np.linalg.lstsq``'s SVD cost several times as much per
call, which mattered for ``predict``'s latency; roots agree with it to ~1e-8 m).

With the crop (:mod:`mobrecon.data.crop`) this is the geometry that evaluation
(:mod:`mobrecon.eval.evaluate`) and inference (:mod:`mobrecon.infer.predictor`) share.
"""

from __future__ import annotations

import numpy as np

from mobrecon.data.crop import apply_affine, invert_affine


CONVERGED = 1e-7  # m: a Gauss-Newton step this small ends the refinement (steps shrink ~500x each)


def _lstsq3(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least-squares x (3,) of A (N, 3) x = b (N,) by the normal equations; NaN where A has rank < 3."""
    try:
        return np.linalg.solve(A.T @ A, A.T @ b)
    except np.linalg.LinAlgError:
        return np.full(3, np.nan)


def _linear(rel: np.ndarray, uv: np.ndarray, K: np.ndarray, w: np.ndarray) -> np.ndarray:
    fx, s, cx = K[0]
    _, fy, cy = K[1]
    du, dv = uv[:, 0] - cx, uv[:, 1] - cy
    X, Y, Z = rel.T
    # Solve for t with the skew term folded in: v-row first gives ty in terms of tz.
    A = np.zeros((2 * len(rel), 3))
    b = np.zeros(2 * len(rel))
    A[0::2] = np.stack([np.full_like(X, fx), np.full_like(X, s), -du], 1)
    b[0::2] = du * Z - fx * X - s * Y
    A[1::2] = np.stack([np.zeros_like(X), np.full_like(X, fy), -dv], 1)
    b[1::2] = dv * Z - fy * Y
    sw = np.sqrt(np.repeat(w, 2))
    return _lstsq3(A * sw[:, None], b * sw)


def _project(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    q = p @ K.T
    return q[:, :2] / q[:, 2:3]


def _from_scale(rel: np.ndarray, uv: np.ndarray, K: np.ndarray, w: np.ndarray, depth_range) -> np.ndarray:
    """A start that is always in front of the camera: depth from the ratio of the hand's 3D and
    2D spreads, x/y from the back-projected 2D centre."""
    f = (K[0, 0] + K[1, 1]) / 2
    c3 = (rel * w[:, None]).sum(0) / w.sum()
    c2 = (uv * w[:, None]).sum(0) / w.sum()
    s3 = np.sqrt((w * ((rel[:, :2] - c3[:2]) ** 2).sum(1)).sum() / w.sum())
    s2 = np.sqrt((w * ((uv - c2) ** 2).sum(1)).sum() / w.sum())
    z = np.clip(f * s3 / max(s2, 1e-9), *depth_range)
    xy = np.linalg.solve(K[:2, :2], c2 - K[:2, 2]) * z
    return np.array([xy[0], xy[1], z]) - c3


def _reprojection(rel, t, uv, K, w) -> float:
    p = rel + t
    if (p[:, 2] <= 0).any():
        return np.inf
    return float((w[:, None] * (_project(p, K) - uv) ** 2).sum())


def recover_root(joints_rel: np.ndarray, joints2d: np.ndarray, K: np.ndarray, valid: np.ndarray | None = None,
                 refine: int = 5, depth_range: tuple[float, float] = (0.02, 20.0)) -> np.ndarray:
    """Camera-space translation t (3,) such that ``joints_rel + t`` projects onto ``joints2d``.

    joints_rel (J, 3) metres relative to the root; joints2d (J, 2) pixels; K (3, 3); valid (J,)
    weights (default all 1); ``refine`` Gauss-Newton steps on the reprojection error (each
    accepted only if it lowers the error). The hand is kept in front of the camera: where the
    linear fit puts it behind (an untrained network's flat hand), the start is taken from the
    ratio of the 3D and 2D spreads; the root depth stays within ``depth_range`` metres.
    """
    rel = np.asarray(joints_rel, np.float64)
    uv = np.asarray(joints2d, np.float64)
    K = np.asarray(K, np.float64)
    w = np.ones(len(rel)) if valid is None else np.asarray(valid, np.float64).reshape(-1)
    if w.sum() < 2:
        raise ValueError("root recovery needs at least two valid 2D joints")
    t = _linear(rel, uv, K, w)
    lo, hi = depth_range
    if not (np.isfinite(t).all() and lo <= t[2] <= hi and (rel[:, 2] + t[2] > 0).all()):
        t = _from_scale(rel, uv, K, w, depth_range)
    err = _reprojection(rel, t, uv, K, w)
    fx, s, fy = K[0, 0], K[0, 1], K[1, 1]
    sw = np.sqrt(w)
    for _ in range(refine):
        p = rel + t
        z = p[:, 2]
        r = (_project(p, K) - uv) * sw[:, None]
        # d(proj)/dt for u = (fx X + s Y)/Z + cx, v = fy Y / Z + cy
        J = np.zeros((len(rel), 2, 3))
        J[:, 0, 0] = fx / z
        J[:, 0, 1] = s / z
        J[:, 0, 2] = -(fx * p[:, 0] + s * p[:, 1]) / z ** 2
        J[:, 1, 1] = fy / z
        J[:, 1, 2] = -fy * p[:, 1] / z ** 2
        step = _lstsq3((J * sw[:, None, None]).reshape(-1, 3), -r.reshape(-1))
        for _ in range(10):  # halve the step until it helps and keeps the hand in front
            cand = t + step
            cand_err = _reprojection(rel, cand, uv, K, w) if lo <= cand[2] <= hi else np.inf
            if cand_err <= err:
                break
            step = step / 2
        else:
            break
        t, err = cand, cand_err
        if np.abs(step).max() < CONVERGED:
            break
    return t


def recover_roots(joints_rel: np.ndarray, joints2d: np.ndarray, K: np.ndarray, valid: np.ndarray | None = None,
                  refine: int = 5) -> np.ndarray:
    """Batched :func:`recover_root`: (B, J, 3), (B, J, 2), (B, 3, 3) or (3, 3) -> (B, 3)."""
    K = np.broadcast_to(np.asarray(K, np.float64), (len(joints_rel), 3, 3))
    return np.stack([recover_root(joints_rel[i], joints2d[i], K[i], None if valid is None else valid[i], refine)
                     for i in range(len(joints_rel))])


def default_intrinsics(width: int, height: int, fov_deg: float = 50.0) -> np.ndarray:
    """(3, 3) K for an image of this size taken with a typical phone camera: the horizontal
    field of view ``fov_deg`` over the longer side, the principal point at the centre."""
    f = 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])


def uncrop_hand(joints2d_crop: np.ndarray, joints3d: np.ndarray, vertices: np.ndarray, M: np.ndarray,
                K: np.ndarray) -> dict[str, np.ndarray]:
    """One network output back in the photo's frame: ``joints2d`` (21, 2) image pixels (the crop
    affine M (2, 3) undone), ``joints3d_rel`` (21, 3) / ``vertices_rel`` (V, 3) relative to the
    predicted wrist, and ``root`` (3,) the wrist's camera-space position from root recovery
    with K (3, 3). Camera space is ``*_rel + root``."""
    j2 = apply_affine(invert_affine(M), np.asarray(joints2d_crop, np.float64))
    rel_j = np.asarray(joints3d, np.float64)
    wrist = rel_j[0].copy()
    rel_j = rel_j - wrist
    rel_v = np.asarray(vertices, np.float64) - wrist
    return {"joints2d": j2, "joints3d_rel": rel_j, "vertices_rel": rel_v, "root": recover_root(rel_j, j2, K)}

"""Hand-pose and hand-mesh error metrics (numpy), following the FreiHAND evaluation protocol.

Conventions (shapes use B samples, N points, D coordinates, T frames):

- Every function works in the units it is given (metres in, metres out); the reporting layer
  (``MetricAccumulator.summary``) converts to millimetres.
- ``valid`` masks are boolean, ``True`` where a point is annotated; invalid points are left out of
  means, of the Procrustes fit and of PCK.
- Procrustes alignment is the FreiHAND one: both point sets centred on their means and divided by
  their Frobenius norms (plus 1e-8), then the orthogonal matrix and scale of
  ``scipy.linalg.orthogonal_procrustes``; reflections are not excluded (FreiHAND does not either).
  Joints and vertices are aligned separately, each with its own fit.
- PCK counts an error as correct when ``error <= threshold``; the AUC is computed per point index
  (keypoint) with the trapezoid rule over ``linspace(lo, hi, n)``, divided by ``hi - lo``, and then
  averaged over the point indices that have data (FreiHAND's ``EvalUtil.get_measures``).
- F-score uses nearest-neighbour distances between the two vertex sets as point clouds, a point
  counting when its distance is strictly below the threshold (FreiHAND's ``calculate_fscore``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import cKDTree

_NORM_EPS = 1e-8  # added to the Frobenius norms, as the FreiHAND script does


# --------------------------------------------------------------------------------------------
# Procrustes alignment
# --------------------------------------------------------------------------------------------


def procrustes_fit(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS):
    """Similarity transform taking ``pred`` onto ``gt`` in the least-squares sense (FreiHAND).

    pred, gt: (N, 3); valid: (N,) bool or None (fit on the valid points only); eps: added to both
    Frobenius norms (FreiHAND's 1e-8; it shrinks the scale by about ``2 eps / ||pred_c||``, ~1e-7
    on a hand, so an exact similar copy aligns to a few nanometres rather than 1e-15; 0 disables).
    Returns ``(rot (3, 3), scale float, shift (3,))`` with
    ``aligned = scale * pred @ rot + shift`` for any (M, 3) points in ``pred``'s frame.

    With ``pred_n = (pred - mean(pred)) / ||.||`` and ``gt_n`` alike,
    ``R, s = orthogonal_procrustes(pred_n, gt_n)`` minimises ``||pred_n @ R - gt_n||`` so
    ``rot = R`` (the FreiHAND script calls ``orthogonal_procrustes(gt_n, pred_n)``, which returns
    ``R.T`` and the same ``s``, and multiplies by its transpose: the same map).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"procrustes_fit: expected two (N, D) arrays of one shape, got {pred.shape}, {gt.shape}")
    p, g = (pred, gt) if valid is None else (pred[np.asarray(valid, bool)], gt[np.asarray(valid, bool)])
    mu_p, mu_g = p.mean(0), g.mean(0)
    norm_p = np.linalg.norm(p - mu_p) + eps
    norm_g = np.linalg.norm(g - mu_g) + eps
    rot, s = orthogonal_procrustes((p - mu_p) / norm_p, (g - mu_g) / norm_g)
    scale = float(s) * norm_g / norm_p
    shift = mu_g - scale * mu_p @ rot
    return rot, scale, shift


def apply_similarity(points: np.ndarray, rot: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    """(M, D) points -> ``scale * points @ rot + shift``, (M, D)."""
    return scale * np.asarray(points, dtype=np.float64) @ rot + shift


def procrustes_align(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS
) -> np.ndarray:
    """``pred`` (N, 3) aligned onto ``gt`` (N, 3) by rotation, scale and translation -> (N, 3).

    Equals ``(pred_n @ R) * s * ||gt_c|| + mean(gt)`` with ``R, s`` from
    ``orthogonal_procrustes(pred_n, gt_n)`` (see ``procrustes_fit``).
    """
    return apply_similarity(pred, *procrustes_fit(pred, gt, valid, eps))


def procrustes_align_batch(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS
) -> np.ndarray:
    """Per-sample ``procrustes_align``: pred, gt (B, N, 3), valid (B, N) or None -> (B, N, 3)."""
    pred, gt = _batch_pair(pred, gt)
    vb = _batch_valid(valid, pred.shape[:2])
    out = np.empty_like(pred)
    for b in range(pred.shape[0]):
        if vb is not None and not vb[b].any():
            out[b] = np.nan
        else:
            out[b] = procrustes_align(pred[b], gt[b], None if vb is None else vb[b], eps)
    return out


# --------------------------------------------------------------------------------------------
# Per-sample position errors
# --------------------------------------------------------------------------------------------


def root_align(points: np.ndarray, root: np.ndarray | int = 0) -> np.ndarray:
    """Translate so the root is at the origin.

    points: (B, N, D); root: an index into N (the wrist is keypoint 0) or explicit root positions
    (B, D). Returns (B, N, D). Vertices are root-aligned with the root of their joints:
    ``root_align(verts, joints[:, 0])``.
    """
    points = np.asarray(points, dtype=np.float64)
    if np.ndim(root) == 0:
        r = points[:, int(root)]
    else:
        r = np.asarray(root, dtype=np.float64)
    return points - r[:, None, :]


def point_errors(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance per point: pred, gt (B, N, D) -> (B, N); NaN where ``valid`` is False."""
    pred, gt = _batch_pair(pred, gt)
    err = np.linalg.norm(pred - gt, axis=-1)
    vb = _batch_valid(valid, err.shape)
    return err if vb is None else np.where(vb, err, np.nan)


def mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean per-joint position error per sample: pred, gt (B, N, D), valid (B, N) -> (B,).

    Plain mean Euclidean distance in the given frame; for the root-relative MPJPE reported by
    ``MetricAccumulator`` pass ``root_align(pred), root_align(gt)``. NaN for a sample with no valid
    joint.
    """
    return _nanmean_rows(point_errors(pred, gt, valid))


def mpvpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean per-vertex position error per sample: pred, gt (B, V, 3) -> (B,). See ``mpjpe``."""
    return mpjpe(pred, gt, valid)


def pa_point_errors(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS
) -> np.ndarray:
    """Per-point errors after per-sample Procrustes alignment: (B, N, 3) -> (B, N)."""
    return point_errors(procrustes_align_batch(pred, gt, valid, eps), gt, valid)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS):
    """Procrustes-aligned (rotation, scale, translation) MPJPE per sample: (B, N, 3) -> (B,)."""
    return _nanmean_rows(pa_point_errors(pred, gt, valid, eps))


def pa_mpvpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, eps: float = _NORM_EPS):
    """Procrustes-aligned MPVPE per sample (vertices fitted on their own): (B, V, 3) -> (B,)."""
    return pa_mpjpe(pred, gt, valid, eps)


# --------------------------------------------------------------------------------------------
# PCK and its area under the curve
# --------------------------------------------------------------------------------------------


def pck_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of errors ``<=`` each threshold: errors (M,) (NaN ignored), thresholds (K,) -> (K,).

    NaN everywhere when no error is finite.
    """
    e = np.asarray(errors, dtype=np.float64).ravel()
    e = e[~np.isnan(e)]
    t = np.asarray(thresholds, dtype=np.float64)
    if e.size == 0:
        return np.full(t.shape, np.nan)
    return (e[None, :] <= t[:, None]).mean(axis=1)


def pck_auc(
    per_point_errors: np.ndarray,
    max_threshold: float,
    n: int = 100,
    min_threshold: float = 0.0,
    return_curve: bool = False,
):
    """Normalised area under the PCK curve, FreiHAND style.

    per_point_errors: (M, N) errors of M samples at N point indices (keypoints), NaN where not
    annotated; a 1-D (M,) array is one point index. Thresholds ``linspace(min, max, n)``.
    For each point index with data: PCK curve, trapezoid area divided by ``max - min``; the result
    is the mean over those point indices (so each keypoint weighs the same whatever its count).
    3D joints: max 0.05 m (0-50 mm); 2D joints: max 30 px.

    Returns the AUC in [0, 1] (NaN without data), or ``(auc, thresholds (n,), curve (n,))`` with
    ``curve`` the PCK averaged over point indices when ``return_curve``.
    """
    e = np.asarray(per_point_errors, dtype=np.float64)
    if e.ndim == 1:
        e = e[:, None]
    if e.ndim != 2:
        raise ValueError(f"pck_auc: expected (M, N) errors, got shape {e.shape}")
    thresholds = np.linspace(min_threshold, max_threshold, n)
    curves = [pck_curve(e[:, j], thresholds) for j in range(e.shape[1]) if np.any(~np.isnan(e[:, j]))]
    if not curves:
        auc, mean_curve = float("nan"), np.full(thresholds.shape, np.nan)
    else:
        span = float(max_threshold - min_threshold)
        auc = float(np.mean([_trapezoid(c, thresholds) / span for c in curves]))
        mean_curve = np.mean(curves, axis=0)
    return (auc, thresholds, mean_curve) if return_curve else auc


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


# --------------------------------------------------------------------------------------------
# F-score between vertex sets
# --------------------------------------------------------------------------------------------


def f_score(pred_verts: np.ndarray, gt_verts: np.ndarray, threshold: float, return_pr: bool = False):
    """F-score of two point clouds at a distance threshold (same units as the points).

    pred_verts: (N, 3); gt_verts: (M, 3) (N and M may differ). Precision: fraction of predicted
    points whose nearest ground-truth point is closer than ``threshold``; recall: fraction of
    ground-truth points whose nearest predicted point is closer than it; ``F = 2PR / (P + R)``,
    0 when both are 0 or a set is empty. FreiHAND reports F@5 mm and F@15 mm (0.005, 0.015 m).
    Returns F, or ``(F, precision, recall)`` with ``return_pr``.
    """
    p = np.asarray(pred_verts, dtype=np.float64).reshape(-1, 3)
    g = np.asarray(gt_verts, dtype=np.float64).reshape(-1, 3)
    if len(p) == 0 or len(g) == 0:
        return (0.0, 0.0, 0.0) if return_pr else 0.0
    d_pred = cKDTree(g).query(p)[0]  # each predicted point to its nearest gt point
    d_gt = cKDTree(p).query(g)[0]  # each gt point to its nearest predicted point
    precision = float(np.mean(d_pred < threshold))
    recall = float(np.mean(d_gt < threshold))
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return (f, precision, recall) if return_pr else f


# --------------------------------------------------------------------------------------------
# Acceleration over sequences
# --------------------------------------------------------------------------------------------


def accel_frames(pred: np.ndarray, fps: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Per-frame mean acceleration magnitude of a sequence: pred (T, N, D) -> (T - 2,).

    Acceleration at frame t (1 <= t <= T-2) is ``(x[t-1] - 2 x[t] + x[t+1]) * fps**2``, in the
    input units per second squared (pixels -> px/s^2; metres -> m/s^2, times 1000 for mm/s^2).
    valid: (T, N); a joint counts at frame t only if valid at t-1, t and t+1; NaN for a frame
    with none. Empty for T < 3.
    """
    x = np.asarray(pred, dtype=np.float64)
    return _accel_frames(x, None, fps, valid)


def accel(pred: np.ndarray, fps: float, valid: np.ndarray | None = None) -> float:
    """Mean acceleration magnitude of the prediction itself (no ground truth), averaged over
    joints then frames: (T, N, D) -> float in input units / s^2 (NaN for T < 3)."""
    return _nanmean_all(accel_frames(pred, fps, valid))


def accel_error_frames(pred: np.ndarray, gt: np.ndarray, fps: float, valid: np.ndarray | None = None):
    """Per-frame acceleration error: mean over joints of ``|a_pred - a_gt|``.

    pred, gt: (T, N, D); valid: (T, N) or None. Returns (T - 2,) in input units / s^2 (see
    ``accel_frames`` for the finite difference and the mask rule).
    """
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(gt, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"accel_error: pred {x.shape} and gt {y.shape} differ")
    return _accel_frames(x, y, fps, valid)


def accel_error(pred: np.ndarray, gt: np.ndarray, fps: float, valid: np.ndarray | None = None) -> float:
    """Acceleration error of a sequence: (T, N, D) pair -> float, averaged over joints then frames
    (NaN for T < 3)."""
    return _nanmean_all(accel_error_frames(pred, gt, fps, valid))


def _accel_frames(x: np.ndarray, y: np.ndarray | None, fps: float, valid) -> np.ndarray:
    if x.ndim != 3:
        raise ValueError(f"acceleration: expected a (T, N, D) sequence, got shape {x.shape}")
    if x.shape[0] < 3:
        return np.zeros(0)
    second = lambda s: (s[:-2] - 2 * s[1:-1] + s[2:]) * float(fps) ** 2  # noqa: E731
    a = second(x) if y is None else second(x) - second(y)
    mag = np.linalg.norm(a, axis=-1)  # (T-2, N)
    if valid is None:
        return mag.mean(axis=1)
    v = np.asarray(valid, bool)
    v3 = v[:-2] & v[1:-1] & v[2:]
    return _nanmean_rows(np.where(v3, mag, np.nan))


# --------------------------------------------------------------------------------------------
# Accumulation over a data set
# --------------------------------------------------------------------------------------------


class MetricAccumulator:
    """Collects predictions and ground truth batch by batch and reports the data set's metrics.

    ``add(pred, gt)`` takes dicts with any of these keys (a single sample may drop the B axis):

    - ``joints3d`` (B, 21, 3) metres, with optional ``joints3d_valid`` (B, 21) in ``gt``;
    - ``vertices`` (B, V, 3) metres (V may differ between pred and gt: then only F-scores);
    - ``joints2d`` (B, 21, 2) pixels, with optional ``joints2d_valid`` (B, 21) in ``gt``;
    - ``sequence`` (B,) ids and ``frame`` (B,) integer indices (read from ``gt``, else ``pred``)
      for the acceleration errors.

    A metric is computed for a sample when both dicts carry its key. Conventions of ``summary``:

    - ``mpjpe_mm`` / ``mpvpe_mm`` are root-relative when ``root_relative`` (the default): pred
      and gt are each translated so their wrist (joint ``root_index``) is at the origin, vertices
      with their own joints' wrist (a sample with vertices but no joints3d raises). With
      ``root_relative=False`` they are in the given (camera) frame, as FreiHAND's unaligned score.
    - ``pa_*`` use per-sample Procrustes with scale, joints and vertices fitted separately.
    - Means pool per point index first and then average over indices (FreiHAND; identical to the
      plain mean when everything is valid); ``auc3d_pa`` is the PCK AUC of the aligned joint
      errors over 0-50 mm, ``auc2d`` of the 2D joint errors over 0-30 px.
    - ``f5``/``f15``: F-score of the Procrustes-aligned vertices (vertices fitted on their own; if
      the vertex counts differ, with the joints' transform); ``f5_raw``/``f15_raw`` without
      alignment, root-relative under the same rule as MPJPE. Both averaged over samples.
    - ``accel2d_px_s2`` / ``accel3d_mm_s2``: acceleration error against the ground truth at
      ``fps``, per sequence sorted by frame, split where frame indices are not consecutive, and
      averaged over all frames that have both neighbours; 3D under the same root rule as MPJPE.
    - ``count_*``: numbers of samples (and frames) behind each group.
    """

    def __init__(self, fps: float = 30.0, root_index: int = 0, root_relative: bool = True):
        self.fps = float(fps)
        self.root_index = int(root_index)
        self.root_relative = bool(root_relative)
        self._j3d_err: list[np.ndarray] = []  # (B, N) root-relative / raw errors, metres
        self._j3d_pa_err: list[np.ndarray] = []  # (B, N) aligned errors, metres
        self._v_err: list[np.ndarray] = []  # (B,) per-sample mean vertex error, metres
        self._v_pa_err: list[np.ndarray] = []
        self._f: dict[str, list[float]] = defaultdict(list)
        self._j2d_err: list[np.ndarray] = []  # (B, N) pixels
        self._seq: dict[Any, list[tuple[int, dict[str, np.ndarray]]]] = defaultdict(list)

    # -- feeding ------------------------------------------------------------------------------

    def add(self, pred: dict, gt: dict) -> None:
        """Add one batch (see the class docstring for the keys and shapes)."""
        b = _batch_size(pred, gt)
        if b == 0:
            return
        pj = _get(pred, "joints3d", b, 3)
        gj = _get(gt, "joints3d", b, 3)
        jv = _get_mask(gt, "joints3d_valid", b)
        have_j3d = pj is not None and gj is not None
        if have_j3d:
            self._j3d_err.append(point_errors(*self._frame3d(pj, gj, pj, gj), jv))
            self._j3d_pa_err.append(pa_point_errors(pj, gj, jv))

        pv = _get(pred, "vertices", b, 3)
        gv = _get(gt, "vertices", b, 3)
        if pv is not None and gv is not None:
            if self.root_relative and not have_j3d:
                raise ValueError("MetricAccumulator: root-relative vertex errors need joints3d in pred and gt")
            pv_r, gv_r = self._frame3d(pv, gv, pj, gj)
            same_topology = pv.shape[1] == gv.shape[1]
            if same_topology:
                self._v_err.append(mpvpe(pv_r, gv_r))
                pv_al = procrustes_align_batch(pv, gv)
                self._v_pa_err.append(mpvpe(pv_al, gv))
            elif have_j3d:
                fits = [procrustes_fit(pj[i], gj[i], None if jv is None else jv[i]) for i in range(b)]
                pv_al = np.stack([apply_similarity(pv[i], *fit) for i, fit in enumerate(fits)])
            else:
                pv_al = None
            for i in range(b):
                for t, name in ((0.005, "f5"), (0.015, "f15")):
                    self._f[name + "_raw"].append(f_score(pv_r[i], gv_r[i], t))
                    if pv_al is not None:
                        self._f[name].append(f_score(pv_al[i], gv[i], t))

        p2 = _get(pred, "joints2d", b, 2)
        g2 = _get(gt, "joints2d", b, 2)
        v2 = _get_mask(gt, "joints2d_valid", b)
        if p2 is not None and g2 is not None:
            self._j2d_err.append(point_errors(p2, g2, v2))

        seq = gt.get("sequence", pred.get("sequence"))
        frame = gt.get("frame", pred.get("frame"))
        if seq is not None and frame is not None:
            seqs = np.broadcast_to(np.asarray(seq, dtype=object), (b,)) if np.ndim(seq) == 0 else list(seq)
            frames = np.broadcast_to(np.asarray(frame), (b,)) if np.ndim(frame) == 0 else np.asarray(frame)
            for i in range(b):
                rec = {}
                if have_j3d:
                    rec["p3"], rec["g3"] = (x[0] for x in self._frame3d(pj[i : i + 1], gj[i : i + 1], None, None))
                    rec["v3"] = None if jv is None else jv[i]
                if p2 is not None and g2 is not None:
                    rec["p2"], rec["g2"] = p2[i], g2[i]
                    rec["v2"] = None if v2 is None else v2[i]
                self._seq[_hashable(seqs[i])].append((int(frames[i]), rec))

    def _frame3d(self, pred, gt, pred_joints, gt_joints):
        """Root-align a (B, N, 3) pair with the joints' root (the pair's own when joints are None)."""
        if not self.root_relative:
            return pred, gt
        pr = pred[:, self.root_index] if pred_joints is None else pred_joints[:, self.root_index]
        gr = gt[:, self.root_index] if gt_joints is None else gt_joints[:, self.root_index]
        return root_align(pred, pr), root_align(gt, gr)

    # -- reporting ----------------------------------------------------------------------------

    def summary(self) -> dict[str, float | int]:
        """Metrics over everything added so far (only those with data), in mm / px / [0, 1]."""
        out: dict[str, float | int] = {}
        if self._j3d_err:
            e = np.concatenate(self._j3d_err)
            e_pa = np.concatenate(self._j3d_pa_err)
            out["mpjpe_mm"] = 1000.0 * _pooled_mean(e)
            out["pa_mpjpe_mm"] = 1000.0 * _pooled_mean(e_pa)
            out["auc3d_pa"] = pck_auc(e_pa, 0.05, 100)
            out["count_joints3d"] = int(e.shape[0])
        if self._v_err:
            out["mpvpe_mm"] = 1000.0 * _nanmean_all(np.concatenate(self._v_err))
            out["pa_mpvpe_mm"] = 1000.0 * _nanmean_all(np.concatenate(self._v_pa_err))
        for name in ("f5", "f15", "f5_raw", "f15_raw"):
            if self._f[name]:
                out[name] = float(np.mean(self._f[name]))
        if self._f["f5_raw"]:
            out["count_vertices"] = len(self._f["f5_raw"])
        if self._j2d_err:
            e2 = np.concatenate(self._j2d_err)
            out["mpjpe2d_px"] = _pooled_mean(e2)
            out["auc2d"] = pck_auc(e2, 30.0, 100)
            out["count_joints2d"] = int(e2.shape[0])
        out.update(self._accel_summary())
        return out

    def _accel_summary(self) -> dict[str, float | int]:
        frames = {"2d": [], "3d": []}
        for items in self._seq.values():
            items = sorted(items, key=lambda fr: fr[0])
            for run in _consecutive_runs(items):
                for dim, (kp, kg, kv) in {"2d": ("p2", "g2", "v2"), "3d": ("p3", "g3", "v3")}.items():
                    if len(run) < 3 or not all(kp in r for _, r in run):
                        continue
                    p = np.stack([r[kp] for _, r in run])
                    g = np.stack([r[kg] for _, r in run])
                    masks = [r[kv] for _, r in run]
                    v = None if all(m is None for m in masks) else np.stack(
                        [np.ones(p.shape[1], bool) if m is None else m for m in masks]
                    )
                    frames[dim].append(accel_error_frames(p, g, self.fps, v))
        out: dict[str, float | int] = {}
        for dim, key, scale in (("2d", "accel2d_px_s2", 1.0), ("3d", "accel3d_mm_s2", 1000.0)):
            if frames[dim]:
                f = np.concatenate(frames[dim])
                out[key] = scale * _nanmean_all(f)
                out[f"count_accel{dim}_frames"] = int(np.sum(~np.isnan(f)))
        if self._seq:
            out["count_sequences"] = len(self._seq)
        return out


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _batch_pair(pred, gt):
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    if pred.ndim != 3:
        raise ValueError(f"expected (B, N, D) arrays, got shape {pred.shape}")
    return pred, gt


def _batch_valid(valid, shape):
    if valid is None:
        return None
    v = np.asarray(valid, bool)
    if v.shape != tuple(shape):
        raise ValueError(f"valid mask {v.shape} does not match points {tuple(shape)}")
    return v


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """(B, N) -> (B,) mean over finite entries, NaN for a row without any."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=1)
    s = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanmean_all(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def _pooled_mean(e: np.ndarray) -> float:
    """(M, N) -> mean over point indices (with data) of each index's mean over samples."""
    ok = ~np.isnan(e)
    n = ok.sum(axis=0)
    s = np.where(ok, e, 0.0).sum(axis=0)
    have = n > 0
    return float(np.mean(s[have] / n[have])) if have.any() else float("nan")


def _batch_size(pred: dict, gt: dict) -> int:
    for d in (gt, pred):
        for key in ("joints3d", "vertices", "joints2d"):
            if d.get(key) is not None:
                a = np.asarray(d[key])
                return 1 if a.ndim == 2 else int(a.shape[0])
    return 0


def _get(d: dict, key: str, b: int, dim: int) -> np.ndarray | None:
    if d.get(key) is None:
        return None
    a = np.asarray(d[key], dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] != b or a.shape[2] != dim:
        raise ValueError(f"MetricAccumulator: {key} has shape {a.shape}, expected ({b}, N, {dim})")
    return a


def _get_mask(d: dict, key: str, b: int) -> np.ndarray | None:
    if d.get(key) is None:
        return None
    m = np.asarray(d[key], bool)
    return m[None] if m.ndim == 1 else m


def _hashable(x):
    if isinstance(x, np.ndarray):
        return x.item() if x.ndim == 0 else tuple(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def _consecutive_runs(items: list[tuple[int, dict]]):
    """Split frame-sorted ``(frame, record)`` items where frame indices are not consecutive."""
    run: list[tuple[int, dict]] = []
    for item in items:
        if run and item[0] != run[-1][0] + 1:
            yield run
            run = []
        run.append(item)
    if run:
        yield run

"""Smooth motion for synthetic hand videos: pose paths, camera paths and a jittered crop track.

* **Pose**: the hand moves from key pose to key pose along straight lines in anatomical angle
  space (:meth:`OpenHand.angles_to_pose`), each movement timed by the minimum-jerk profile
  ``s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5`` (Flash & Hogan's model of point-to-point human
  movements: velocity and acceleration are zero at both ends, so the path is C2 across keys).
  Key intervals are random around a mean. The joint limits form a box in angle space, so every
  frame between two keys inside the limits is inside them too. Each movement is checked for
  interpenetration (:meth:`OpenHand.penetration`) at 8 points along its line, its end
  included, with the sequence's hand shape; a key whose movement fails is redrawn, and after
  ``tries`` failures the key is pulled halfway towards the previous one until the movement
  passes (holding the pose always passes), so planning always ends. Between check points a
  movement may still graze a finger a few millimetres deep (about 1 % of the frames go beyond
  2 mm, the limit at the check points).
* **Camera**: viewpoint longitude / latitude / distance / roll and aim offset follow uniform
  cubic B-splines (C2) of random-walk control points. A B-spline stays in the convex hull of
  its control points, so bounds on the control points (latitude, distance, offset) hold on the
  whole path.
* **Crop**: a tracker's crop window in the (virtual) video frame: the hand's tight square box,
  smoothed over time (Gaussian, as a tracker's filter would), divided by a fill factor, plus
  independent per-frame jitter of its centre and scale, as a detector's boxes show. The crop
  is a pure image operation: it changes the intrinsics (:func:`crop_intrinsics`), never the
  camera pose, so camera-space 3D joints stay smooth and only the 2D joints jitter.

Crop windows are ``(cu, cv, side)`` in frame pixels; pixel centres sit at integer coordinates
(:mod:`mobrecon.viz.render`), and crop pixel ``(size - 1) / 2`` is frame point ``(cu, cv)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

KEY_SOURCES = ("random", "uniform")


# ------------------------------------------------------------------------------ interpolation
def min_jerk(tau) -> np.ndarray:
    """Minimum-jerk progress ``10 t^3 - 15 t^4 + 6 t^5`` of ``tau`` clipped to [0, 1] (same shape)."""
    t = np.clip(np.asarray(tau, np.float64), 0.0, 1.0)
    return t * t * t * (10.0 + t * (-15.0 + 6.0 * t))


def bspline_basis(tau) -> np.ndarray:
    """(n,) fractions in [0, 1] -> (n, 4) uniform cubic B-spline weights of the 4 control points
    of a segment (rows sum to 1, all >= 0)."""
    t = np.asarray(tau, np.float64).reshape(-1)
    t2, t3 = t * t, t * t * t
    return np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], axis=1) / 6.0


def n_control_points(u_max: float) -> int:
    """Control points a uniform cubic B-spline needs to be evaluated on [0, u_max]."""
    return int(math.floor(u_max)) + 4


def bspline(ctrl: np.ndarray, u) -> np.ndarray:
    """Uniform cubic B-spline of control points ``ctrl`` (m, ...) at parameters ``u`` (n,) in
    [0, m - 3] -> (n, ...). Segment ``i`` (u in [i, i + 1)) blends ``ctrl[i:i + 4]``."""
    ctrl = np.asarray(ctrl, np.float64)
    u = np.asarray(u, np.float64).reshape(-1)
    if len(ctrl) < 4 or u.size and (u.min() < 0 or u.max() > len(ctrl) - 3):
        raise ValueError(f"bspline: parameters must lie in [0, {len(ctrl) - 3}] for {len(ctrl)} control points")
    i = np.minimum(np.floor(u).astype(np.int64), len(ctrl) - 4)
    w = bspline_basis(u - i)
    return np.einsum("nk,nk...->n...", w, ctrl[i[:, None] + np.arange(4)[None, :]])


def _reflect(x, lo: float, hi: float) -> np.ndarray:
    """Fold ``x`` into [lo, hi] by reflection at the bounds."""
    span = hi - lo
    if span <= 0:
        return np.full_like(np.asarray(x, np.float64), lo)
    y = np.mod(np.asarray(x, np.float64) - lo, 2 * span)
    return lo + span - np.abs(y - span)


# ------------------------------------------------------------------------------------- poses
@dataclass(frozen=True)
class PoseTrack:
    """``angles`` (F, 15, 3) float64 anatomical angles per frame; ``keys`` (K, 15, 3) the key
    poses; ``key_times`` (K,) seconds (``key_times[0] = 0``, the last one at or after the last
    frame); ``penetration`` (K - 1,) deepest interpenetration (metres) found on each movement's
    check points."""

    angles: np.ndarray
    keys: np.ndarray
    key_times: np.ndarray
    penetration: np.ndarray


def key_times(rng: np.random.Generator, duration: float, mean_interval: float, spread: float = 0.4) -> np.ndarray:
    """(K,) key times from 0 up to at least ``duration`` seconds, intervals uniform in
    ``mean_interval * [1 - spread, 1 + spread]``."""
    times = [0.0]
    while times[-1] < duration or len(times) < 2:
        times.append(times[-1] + mean_interval * rng.uniform(1.0 - spread, 1.0 + spread))
    return np.asarray(times)


def piecewise_min_jerk(keys: np.ndarray, times: np.ndarray, t) -> np.ndarray:
    """Key values ``keys`` (K, ...) at ``times`` (K,) increasing -> values (n, ...) at ``t``
    (n,): minimum-jerk movement from each key to the next; held at the ends."""
    keys = np.asarray(keys, np.float64)
    t = np.asarray(t, np.float64).reshape(-1)
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    s = min_jerk((t - times[k]) / (times[k + 1] - times[k]))
    s = s.reshape(-1, *([1] * (keys.ndim - 1)))
    return keys[k] + s * (keys[k + 1] - keys[k])


def _check_points(levels: int) -> list[np.ndarray]:
    """Fractions along a movement to check, coarse to fine: [1, 1/2], [1/4, 3/4], [1/8, 3/8, ...]."""
    stages = [np.array([1.0, 0.5])]
    for lev in range(2, levels + 1):
        stages.append(np.arange(1, 2**lev, 2) / 2**lev)
    return stages


def pose_track(hand, rng: np.random.Generator, n_frames: int, fps: float, key_s: float,
               shape=None, source: str = "random", table=None, hold_prob: float = 0.1,
               levels: int = 3, max_pen: float = 2e-3, tries: int = 24) -> PoseTrack:
    """A smooth pose path of ``n_frames`` frames at ``fps`` (see the module docstring).

    ``source``: "random" draws key poses uniformly inside the joint limits, "uniform" picks
    them from ``table`` (N, 15, 3) (the paper's 1,520 uniform poses). With probability
    ``hold_prob`` a key repeats the previous one (the hand rests). A movement passes when the
    interpenetration (:meth:`OpenHand.penetration` with ``shape`` (6,), the sequence's hand
    shape) stays within ``max_pen`` metres at ``2**levels`` evenly spaced points along it, its
    end included; the points are checked coarse to fine, so most failing candidates cost one or
    two poses. Deterministic given ``rng``.
    """
    if source not in KEY_SOURCES:
        raise ValueError(f"key source must be one of {', '.join(KEY_SOURCES)}, got {source!r}")
    if source == "uniform" and table is None:
        raise ValueError("key source 'uniform' needs the pose table")
    shape_t = torch.zeros(1, hand.num_shape)
    if shape is not None:
        shape_t = torch.as_tensor(shape, dtype=torch.float32).reshape(1, -1)
    lim = hand.joint_limits[1:].double().numpy()  # (15, 3, 2)
    stages = _check_points(levels)

    def draw() -> np.ndarray:
        if source == "random":
            return lim[..., 0] + rng.uniform(0.0, 1.0, lim.shape[:2]) * (lim[..., 1] - lim[..., 0])
        return np.asarray(table[int(rng.integers(len(table)))], np.float64)

    def depth(a: np.ndarray, b: np.ndarray) -> float:
        """Deepest interpenetration on the movement a -> b (stops at the first failing stage)."""
        worst = 0.0
        for at in stages:
            pts = a[None] + at[:, None, None] * (b - a)[None]
            with torch.no_grad():
                pose = hand.angles_to_pose(torch.as_tensor(pts, dtype=torch.float32))
                worst = max(worst, float(hand.penetration(pose, shape_t.expand(len(pts), -1)).max()))
            if worst > max_pen:
                break
        return worst

    times = key_times(rng, (n_frames - 1) / fps, key_s)
    keys = [draw()]
    for _ in range(100):  # a first pose free of interpenetration for this hand shape
        if depth(keys[0], keys[0]) <= max_pen:
            break
        keys[0] = draw()
    pens = []
    for _ in range(len(times) - 1):
        prev = keys[-1]
        if rng.random() < hold_prob:
            keys.append(prev.copy())
            pens.append(0.0)
            continue
        for _attempt in range(tries):
            cand = draw()
            d = depth(prev, cand)
            if d <= max_pen:
                break
        while d > max_pen and np.abs(cand - prev).max() > 1e-3:  # pull it towards the previous key
            cand = 0.5 * (prev + cand)
            d = depth(prev, cand)
        keys.append(cand)
        pens.append(d)
    keys = np.stack(keys)
    angles = piecewise_min_jerk(keys, times, np.arange(n_frames) / fps)
    return PoseTrack(angles=angles, keys=keys, key_times=times, penetration=np.asarray(pens))


# ------------------------------------------------------------------------------------ camera
@dataclass(frozen=True)
class ViewTrack:
    """Per-frame viewpoint (see :mod:`mobrecon.synth.viewpoints`): ``lon`` (F,) radians,
    unwrapped (not reduced mod 2 pi); ``lat`` (F,) radians; ``distance`` (F,) metres from the
    wrist; ``roll`` (F,) radians; ``offset`` (F, 2) aim offset in metres along the camera's
    image axes."""

    lon: np.ndarray
    lat: np.ndarray
    distance: np.ndarray
    roll: np.ndarray
    offset: np.ndarray


def view_track(rng: np.random.Generator, n_frames: int, fps: float, key_s: float = 1.0,
               speed: float = 0.6, lat_max: float = 1.1, distance: tuple[float, float] = (0.3, 0.6),
               max_offset: float = 0.04) -> ViewTrack:
    """A smooth camera path of ``n_frames`` frames at ``fps``: B-splines with one control
    point every ``key_s`` seconds.

    Longitude and roll random-walk with steps N(0, ``speed * key_s``) (``speed`` is a typical
    turn rate, rad/s), latitude with half that, reflected into [0, ``lat_max``] (``lat_max``
    well below pi/2 keeps :func:`~mobrecon.synth.viewpoints.view_camera` from switching its
    up direction mid-sequence); distance random-walks in log space (steps N(0, 0.2 * key_s)),
    reflected into ``distance``; the aim offset is drawn afresh per control point, N(0,
    max_offset / 2) per axis, clipped to the disc of radius ``max_offset``. Deterministic
    given ``rng``.
    """
    m = n_control_points((n_frames - 1) / fps / key_s)
    step = speed * key_s

    def walk(start: float, sigma: float) -> np.ndarray:
        return start + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigma, m - 1))])

    lon = walk(rng.uniform(0.0, 2 * math.pi), step)
    roll = walk(rng.uniform(-math.pi, math.pi), step)
    lat = _reflect(walk(math.asin(rng.uniform(0.0, math.sin(lat_max))), step / 2), 0.0, lat_max)  # cap-uniform start
    lo, hi = math.log(distance[0]), math.log(distance[1])
    logd = _reflect(walk(rng.uniform(lo, hi), 0.2 * key_s), lo, hi)
    off = rng.normal(0.0, max_offset / 2, (m, 2))
    norm = np.linalg.norm(off, axis=1, keepdims=True)
    off = off * np.minimum(1.0, max_offset / np.maximum(norm, 1e-12))
    u = np.arange(n_frames) / fps / key_s
    return ViewTrack(lon=bspline(lon, u), lat=bspline(lat, u), distance=np.exp(bspline(logd, u)),
                     roll=bspline(roll, u), offset=bspline(off, u))


# -------------------------------------------------------------------------------------- crop
def square_boxes(points: np.ndarray) -> np.ndarray:
    """(F, N, 2) image points -> (F, 3) tight square boxes (centre u, v, side = the larger extent)."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    return np.concatenate([(lo + hi) / 2, (hi - lo).max(axis=1, keepdims=True)], axis=1)


def crop_track(rng: np.random.Generator, boxes: np.ndarray, fps: float, fill: float,
               smooth_s: float = 0.1, jitter: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """A tracker's crops (F, 3) around per-frame square hand boxes ``boxes`` (F, 3).

    The box centres and sides are smoothed over time (Gaussian, sigma ``smooth_s`` seconds,
    edges held), the side divided by ``fill`` (hand box side / crop side); then each frame's
    centre moves by N(0, ``jitter`` * side) per axis and its side is scaled by
    exp(N(0, ``jitter``)), independently per frame. Returns ``(smooth, jittered)``, both
    (F, 3) (cu, cv, side) in the boxes' pixels. Deterministic given ``rng``.
    """
    boxes = np.asarray(boxes, np.float64)
    sigma = smooth_s * fps
    smooth = gaussian_filter1d(boxes, sigma, axis=0, mode="nearest") if sigma > 0.05 else boxes.copy()
    smooth[:, 2] /= fill
    n = len(boxes)
    shift = rng.normal(0.0, 1.0, (n, 2)) * (jitter * smooth[:, 2:3])
    scale = np.exp(rng.normal(0.0, jitter, n))
    jittered = np.concatenate([smooth[:, :2] + shift, smooth[:, 2:3] * scale[:, None]], axis=1)
    return smooth, jittered


def crop_intrinsics(K_frame: np.ndarray, crops: np.ndarray, size: int) -> np.ndarray:
    """Intrinsics (F, 3, 3) of ``size`` x ``size`` crops (F, 3) (cu, cv, side) of a frame with
    intrinsics ``K_frame`` (3, 3): ``K = A @ K_frame`` with ``A`` the crop's pixel map
    (:func:`frame_to_crop`)."""
    crops = np.asarray(crops, np.float64).reshape(-1, 3)
    s = size / crops[:, 2]
    c = (size - 1) / 2
    A = np.zeros((len(crops), 3, 3))
    A[:, 0, 0] = A[:, 1, 1] = s
    A[:, 0, 2] = c - s * crops[:, 0]
    A[:, 1, 2] = c - s * crops[:, 1]
    A[:, 2, 2] = 1.0
    return A @ np.asarray(K_frame, np.float64)


def frame_to_crop(points, crop, size: int) -> np.ndarray:
    """Frame pixels (..., N, 2) -> crop pixels, for crops (..., 3) (cu, cv, side) resized to
    ``size``: ``(p - (cu, cv)) * size / side + (size - 1) / 2``."""
    p = np.asarray(points, np.float64)
    crop = np.asarray(crop, np.float64)
    return (p - crop[..., None, :2]) * (size / crop[..., None, 2:3]) + (size - 1) / 2


def crop_to_frame(points, crop, size: int) -> np.ndarray:
    """Crop pixels (..., N, 2) -> frame pixels; the inverse of :func:`frame_to_crop` (map a
    network's 2D output back into the video frame, e.g. to measure its acceleration there)."""
    p = np.asarray(points, np.float64)
    crop = np.asarray(crop, np.float64)
    return (p - (size - 1) / 2) * (crop[..., None, 2:3] / size) + crop[..., None, :2]

"""The 216 hemispherical camera positions of the MobRecon synthetic data set, and cameras.

Paper (Sec. 6): 216 camera positions on a hemisphere, longitude 0..2pi in steps of pi/18 and
latitude in steps of pi/12; every camera points at the palm centre; the end of the wrist is
at the sphere centre, so the hemisphere contains the first-person perspectives.

Geometry used here, in the hand frame of :class:`~mobrecon.hand.openhand.OpenHand` (origin at
the wrist, +y towards the middle-finger MCP, +z out of the back of the hand, +x towards the
little finger):

* The sphere is centred at the wrist (joint 0).
* The pole is the hand's long axis pointing back along the forearm, ``-y``: the hemisphere lies
  on the forearm side of the wrist. Latitude 0 is the ring around the hand, latitude pi/2 would
  be straight behind the wrist; the highest ring used, 75 degrees (5 * pi/12), looks along the
  fingers from just behind the wrist, like a first-person view of one's own hand.
* Longitude 0 is the palm side (``-z``) and increases towards the thumb side (``-x``):
  lon = pi/2 thumb side, pi the back of the hand (``+z``), 3pi/2 the little-finger side (``+x``).

So the unit direction from the wrist to the camera is::

    d(lon, lat) = cos(lat) * (cos(lon) * (-z) + sin(lon) * (-x)) + sin(lat) * (-y)
                = (-sin(lon) cos(lat), -sin(lat), -cos(lon) cos(lat))

Grid: longitude ``k * pi/18`` (k = 0..35), latitude ``j * pi/12`` (j = 0..5, i.e. 0..75 degrees),
view id ``j * 36 + k``.

Cameras follow the OpenCV convention (x right, y down, z forward; ``x_cam = R @ x_world + t``)
and the pixel convention of :mod:`mobrecon.viz.render` (pixel centres at integer coordinates,
the principal point of a ``size`` x ``size`` image at ``(size - 1) / 2``).
"""

from __future__ import annotations

import math

import numpy as np

N_LON = 36
N_LAT = 6
N_VIEWS = N_LON * N_LAT  # 216
LON_STEP = math.pi / 18
LAT_STEP = math.pi / 12

WRIST = 0
PALM_JOINTS = (0, 5, 9, 13, 17)  # wrist and the four finger MCPs

# Hand-frame axes.
_HAND_X = np.array([1.0, 0.0, 0.0])
_HAND_Y = np.array([0.0, 1.0, 0.0])
_HAND_Z = np.array([0.0, 0.0, 1.0])


def hemisphere_viewpoints() -> np.ndarray:
    """(216, 2) float64 (longitude, latitude) radians; row ``j * 36 + k`` is
    (k * pi/18, j * pi/12)."""
    j, k = np.meshgrid(np.arange(N_LAT), np.arange(N_LON), indexing="ij")
    return np.stack([k.ravel() * LON_STEP, j.ravel() * LAT_STEP], axis=1)


def view_direction(lon, lat) -> np.ndarray:
    """Unit direction(s) (..., 3) from the wrist to the camera in the hand frame (see module doc)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    return np.stack([-np.sin(lon) * np.cos(lat), -np.sin(lat), -np.cos(lon) * np.cos(lat)], axis=-1)


def palm_center(joints):
    """(..., 21, 3) keypoints -> (..., 3) mean of the wrist and the four finger MCPs.

    Works on numpy arrays and torch tensors alike.
    """
    return joints[..., list(PALM_JOINTS), :].mean(-2)


def look_at(eye, target, up_hint, roll: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World->camera rigid transform of a camera at ``eye`` looking at ``target``.

    OpenCV convention: returns ``(R, t)`` (float64, (3, 3) and (3,)) with
    ``x_cam = R @ x_world + t``; the camera z axis points from ``eye`` to ``target``; image up
    (``-y_cam``) is the direction closest to ``up_hint`` that is orthogonal to the viewing
    axis (when ``up_hint`` is parallel to it, the world axis least aligned with the viewing axis
    is used instead). ``roll`` (radians) then rotates the camera about its viewing axis: the
    camera's x axis turns towards its y axis, so the scene appears turned by ``-roll`` in the
    image (counter-clockwise on screen for positive roll, with y down).
    """
    eye = np.asarray(eye, dtype=np.float64).reshape(3)
    target = np.asarray(target, dtype=np.float64).reshape(3)
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = z / n
    up = np.asarray(up_hint, dtype=np.float64).reshape(3)
    up_perp = up - (up @ z) * z
    if np.linalg.norm(up_perp) < 1e-6 * max(np.linalg.norm(up), 1e-12):
        up = np.eye(3)[int(np.argmin(np.abs(z)))]
        up_perp = up - (up @ z) * z
    y = -up_perp / np.linalg.norm(up_perp)
    x = np.cross(y, z)
    if roll:
        c, s = math.cos(roll), math.sin(roll)
        x, y = c * x + s * y, -s * x + c * y
    R = np.stack([x, y, z])
    return R, -R @ eye


def view_camera(
    joints,
    lon: float,
    lat: float,
    distance: float,
    roll: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Camera ``(R, t)`` for the viewpoint ``(lon, lat)`` of a hand with keypoints ``joints``
    (21, 3) given in the hand frame.

    The camera sits at ``wrist + distance * view_direction(lon, lat)`` and looks at the palm
    centre shifted by ``offset`` = (dx, dy) metres along the camera's own image axes (x right,
    y down; off-centre jitter, so the palm centre lands off the principal point). Image up is
    the hand's +y (fingers up) unless that is within ~8 degrees of the viewing axis, then the
    hand's -z (palm up). ``roll`` rotates the camera about its viewing axis (see :func:`look_at`).
    """
    joints = np.asarray(joints, dtype=np.float64).reshape(21, 3)
    wrist = joints[WRIST]
    eye = wrist + float(distance) * view_direction(lon, lat)
    target = palm_center(joints)
    z = target - eye
    z = z / np.linalg.norm(z)
    up_hint = _HAND_Y if abs(z @ _HAND_Y) < 0.99 else -_HAND_Z
    R, t = look_at(eye, target, up_hint, roll)
    if offset[0] or offset[1]:
        shifted = target + float(offset[0]) * R[0] + float(offset[1]) * R[1]
        R, t = look_at(eye, shifted, up_hint, roll)
    return R, t


def jitter_view(
    rng: np.random.Generator,
    lon: float,
    lat: float,
    *,
    distance: float = 1.0,
    distance_range: tuple[float, float] = (0.85, 1.15),
    max_offset: float = 0.02,
) -> dict:
    """A random perturbation of a grid viewpoint ("jitter mode"), so crops look like a detector's.

    Returns ``dict(lon, lat, distance, roll, offset)`` to pass to :func:`view_camera`:

    * ``lon``: ``lon`` + U(-pi/36, pi/36) (half a longitude step), wrapped into [0, 2pi);
    * ``lat``: ``lat`` + U(-pi/24, pi/24) (half a latitude step), reflected at 0 so the camera
      stays on the forearm-side hemisphere, and capped at pi/2;
    * ``distance``: ``distance`` times U(*distance_range)`` (with the default ``distance=1`` it
      is the factor itself);
    * ``roll``: U(-pi, pi) about the viewing axis;
    * ``offset``: (dx, dy) metres, uniform in the disc of radius ``max_offset``.

    Deterministic given the state of ``rng`` (always draws the same six numbers, in order).
    """
    u = rng.uniform(-1.0, 1.0, size=2)
    lon_j = float((lon + u[0] * LON_STEP / 2) % (2 * math.pi))
    lat_j = float(min(abs(lat + u[1] * LAT_STEP / 2), math.pi / 2))
    dist = float(distance * rng.uniform(*distance_range))
    roll = float(rng.uniform(-math.pi, math.pi))
    r = max_offset * math.sqrt(rng.uniform())
    phi = rng.uniform(0.0, 2 * math.pi)
    offset = (float(r * math.cos(phi)), float(r * math.sin(phi)))
    return dict(lon=lon_j, lat=lat_j, distance=dist, roll=roll, offset=offset)


def intrinsics(size: int, fov_deg: float) -> np.ndarray:
    """(3, 3) float64 pinhole K of a ``size`` x ``size`` image with horizontal = vertical field
    of view ``fov_deg``; principal point at the exact image centre ``(size - 1) / 2`` (the
    convention of :mod:`mobrecon.viz.render`: pixel centres at integer coordinates)."""
    if size <= 0 or not 0 < fov_deg < 180:
        raise ValueError(f"intrinsics: need size > 0 and 0 < fov_deg < 180, got {size}, {fov_deg}")
    f = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    c = (size - 1) / 2
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def distance_for_fill(size: int, K, hand_extent_m: float = 0.2, fill: float = 0.8) -> float:
    """Camera distance (metres) at which an object of extent ``hand_extent_m`` facing the
    camera spans ``fill`` of a ``size``-pixel image with intrinsics ``K`` (uses fx)."""
    fx = float(np.asarray(K)[0, 0])
    return hand_extent_m * fx / (fill * size)

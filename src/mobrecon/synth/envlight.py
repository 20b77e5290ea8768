"""Image-based lighting from real HDR environment maps (equirectangular, linear RGB).

The maps are prepared by :mod:`mobrecon.synth.look_assets` into the look cache as float16
``.npy`` arrays (H, 2H, 3). Conventions (shared with :class:`mobrecon.viz.render.EnvLight`):
the map frame has y up; row 0 of a map is the zenith and column 0 azimuth -pi; pixel
(row i, col j) of an (H, W) map looks along ``(sin t sin p, cos t, -sin t cos p)`` with
``t = pi (i + 0.5) / H`` and ``p = 2 pi (j + 0.5) / W - pi``.

Per map, once: 9 spherical-harmonic coefficients of the radiance (projected from a 32 x 64
copy), the cosine-convolved irradiance coefficients (Ramamoorthi & Hanrahan's A_l = pi,
2pi/3, pi/4) and a specular copy prefiltered with a Phong lobe (exponent ~12: a broad,
skin-like highlight). Per image (:meth:`EnvMaps.sample`): a random map, rotation (any azimuth,
camera pitch -45..+15 degrees, roll +-10), exposure (metered on the bright side of the
irradiance and on the side facing the camera, +-0.7 stops) and specular gain; :func:`env_background` renders the map itself as a
perspective background for a camera K with the same rotation and exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from mobrecon.viz.render import EnvLight, tonemap

__all__ = ["EnvMaps", "camera_auto", "map_directions", "sh_basis", "irradiance_sh", "prefilter_specular", "env_background"]

_A = np.array([math.pi] + [2.0 * math.pi / 3.0] * 3 + [math.pi / 4.0] * 5)  # cosine lobe, per band
_SPEC_EXPONENT = 12.0
_LUMA = np.array([0.2126, 0.7152, 0.0722])
_FACING_CAMERA = np.array([0.0, 0.0, -1.0])  # the normal of a surface facing the camera (camera frame)
# camera_auto: a white surface facing the camera comes out at this linear value (skin at
# ~0.5 display luminance, as in the close-up photos of ../shared/realdata, training split)
_AUTO_WHITE = 1.6


@lru_cache(maxsize=8)
def map_directions(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (h, w, 3) of an equirectangular map's pixel centres (map frame, y up)
    and their solid angles (h, w); both float64, read-only."""
    t = math.pi * (np.arange(h) + 0.5) / h
    p = 2.0 * math.pi * (np.arange(w) + 0.5) / w - math.pi
    st, ct = np.sin(t)[:, None], np.cos(t)[:, None]
    d = np.stack([st * np.sin(p)[None], np.broadcast_to(ct, (h, w)), -st * np.cos(p)[None]], -1)
    dw = np.broadcast_to(st * (math.pi / h) * (2.0 * math.pi / w), (h, w)).copy()
    d.flags.writeable = False
    dw.flags.writeable = False
    return d, dw


def sh_basis(d: np.ndarray) -> np.ndarray:
    """Real SH basis up to l = 2 of unit directions (..., 3) -> (..., 9) (the shader's order)."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([0.282095 * np.ones_like(x), 0.488603 * y, 0.488603 * z, 0.488603 * x,
                     1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3.0 * z * z - 1.0),
                     1.092548 * x * z, 0.546274 * (x * x - y * y)], -1)


def irradiance_sh(radiance: np.ndarray) -> np.ndarray:
    """Equirectangular radiance (h, w, 3) -> (9, 3) coefficients C with
    ``sum_k C[k] Y_k(n) = irradiance(n) / pi`` (diffuse radiance of a white surface)."""
    h, w = radiance.shape[:2]
    d, dw = map_directions(h, w)
    L = np.einsum("hwk,hwc,hw->kc", sh_basis(d), radiance.astype(np.float64), dw)
    return (L * (_A / math.pi)[:, None]).astype(np.float32)


def prefilter_specular(radiance: np.ndarray, exponent: float = _SPEC_EXPONENT) -> np.ndarray:
    """Radiance (h, w, 3), h <= 32, convolved with a normalised Phong lobe
    ``max(cos, 0) ** exponent`` -> (h, w, 3) float32."""
    h, w = radiance.shape[:2]
    d, dw = map_directions(h, w)
    d = d.reshape(-1, 3)
    k = np.maximum(d @ d.T, 0.0) ** exponent * dw.reshape(1, -1)
    k /= k.sum(1, keepdims=True)
    return (k @ radiance.reshape(-1, 3).astype(np.float64)).reshape(h, w, 3).astype(np.float32)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A random camera -> map rotation: the camera (x right, y down, z forward) held roughly
    upright, at any azimuth, pitched -45..+15 degrees, rolled +-10 degrees. (3, 3) float64."""
    flip = np.diag([1.0, -1.0, -1.0])  # camera axes -> map axes for a level camera facing -z
    yaw = rng.uniform(-math.pi, math.pi)
    pitch = math.radians(rng.uniform(-45.0, 15.0))
    roll = math.radians(rng.uniform(-10.0, 10.0))
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return Ry @ Rx @ flip @ Rz


@lru_cache(maxsize=1)
def _meter_dirs() -> np.ndarray:
    """64 roughly even unit directions (Fibonacci sphere) for metering, (64, 9) SH basis."""
    i = np.arange(64) + 0.5
    z = 1.0 - 2.0 * i / 64
    r = np.sqrt(1.0 - z * z)
    a = math.pi * (3.0 - math.sqrt(5.0)) * i
    return sh_basis(np.stack([r * np.cos(a), r * np.sin(a), z], 1))


@dataclass
class _Map:
    name: str
    radiance: np.ndarray   # (H, 2H, 3) float32, for backgrounds
    sh: np.ndarray         # (9, 3)
    specular: np.ndarray   # (32, 64, 3) float32
    meter: float           # 90th percentile of white-surface diffuse luminance over directions


class EnvMaps:
    """The environment maps of a look cache (``names`` and ``files`` of its index), loaded on
    first use; a missing or corrupt file is skipped with one warning naming it."""

    def __init__(self, files: list[Path], warn=print):
        self.files = [Path(f) for f in files]
        self._warn = warn
        self._maps: list[_Map] | None = None

    def __len__(self) -> int:
        return len(self.maps)

    @property
    def maps(self) -> list[_Map]:
        if self._maps is None:
            self._maps = []
            for f in self.files:
                try:
                    rad = np.load(f).astype(np.float32)
                    if rad.ndim != 3 or rad.shape[2] != 3 or rad.shape[1] != 2 * rad.shape[0] or not np.isfinite(rad).all():
                        raise ValueError(f"expected a finite (H, 2H, 3) map, got {rad.shape}")
                except Exception as e:  # noqa: BLE001 - any unreadable file is skipped
                    self._warn(f"warning: skipping environment map {f}: {' '.join(str(e).split())[:200]}")
                    continue
                rad = np.maximum(rad, 0.0)
                small = cv2.resize(rad, (64, 32), interpolation=cv2.INTER_AREA)
                sh = irradiance_sh(small)
                lum = (_meter_dirs() @ sh) @ _LUMA
                self._maps.append(_Map(f.stem, rad, sh, prefilter_specular(small), float(max(np.percentile(lum, 90), 1e-6))))
        return self._maps

    def sample(self, rng: np.random.Generator, auto: bool = False) -> tuple[EnvLight, dict]:
        """A random light: ``(EnvLight, info)`` with info ``map`` (index), ``name``,
        ``exposure`` (multiplier on the map's radiance), ``gains`` (3,) (white balance, ones
        without ``auto``) and ``to_map`` (3, 3).

        ``auto``: light as a phone camera would record it (:func:`camera_auto`): white balance
        and exposure set on the side of the hand facing the camera, a soft fill, a weak
        highlight. Without it the map's own colour and contrast are kept."""
        k = int(rng.integers(len(self.maps)))
        m = self.maps[k]
        to_map = _rotation(rng)
        if auto:
            sh, gains, exposure = camera_auto(m.sh, to_map, rng)
            light = EnvLight(sh=sh, to_map=to_map, specular=m.specular * (gains * exposure).astype(np.float32),
                             spec_gain=float(rng.uniform(0.1, 0.5)))
            return light, {"map": k, "name": m.name, "exposure": exposure, "to_map": to_map, "gains": gains}
        # centre-weighted metering, as a camera exposing for the hand: the geometric mean of
        # the bright side and the side facing the camera; a white surface there -> ~1.4 linear
        front = float(sh_basis(to_map @ _FACING_CAMERA) @ m.sh @ _LUMA)
        meter = math.sqrt(m.meter * max(front, 0.25 * m.meter))  # at most 1 stop over the bright side
        exposure = 1.4 / meter * 2.0 ** rng.uniform(-0.7, 0.7)
        light = EnvLight(sh=m.sh * exposure, to_map=to_map, specular=m.specular * exposure,
                         spec_gain=float(rng.uniform(0.4, 1.2)))
        return light, {"map": k, "name": m.name, "exposure": exposure, "to_map": to_map, "gains": np.ones(3)}

    def background(self, k: int, K: np.ndarray, size: int | tuple[int, int], to_map: np.ndarray,
                   exposure: float | np.ndarray) -> np.ndarray:
        """Map ``k`` seen through intrinsics K: see :func:`env_background`."""
        return env_background(self.maps[k].radiance, K, size, to_map, exposure)


def camera_auto(sh: np.ndarray, to_map: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """A phone camera's automatic white balance and exposure applied to a light.

    sh (9, 3) irradiance coefficients of a map (:func:`irradiance_sh`), ``to_map`` (3, 3) the
    camera -> map rotation. What a white surface facing the camera receives is made grey
    (randomly 60-100 % of the way), a fill light of 10-50 % of it is added from all sides (the
    room's bounce light that low-order SH of a map under-states next to a hand), and the
    exposure puts that surface at :data:`_AUTO_WHITE` +-0.4 stops. Returns ``(sh', gains (3,),
    exposure)`` with ``sh' = (sh * gains + fill) * exposure``, the specular copy to be scaled by
    ``gains * exposure``."""
    facing = sh_basis(to_map @ _FACING_CAMERA)
    front = facing @ sh  # (3,) a camera-facing white surface
    front = np.maximum(front, 1e-6 * max(float(front.max()), 1e-6))
    gains = (front.mean() / front) ** rng.uniform(0.6, 1.0)
    out = np.asarray(sh, np.float64) * gains
    lum = float(front * gains @ _LUMA)
    out[0] += rng.uniform(0.1, 0.5) * lum / 0.282095  # Y00 is constant 0.282095
    lum = float(facing @ out @ _LUMA)
    exposure = _AUTO_WHITE / max(lum, 1e-6) * 2.0 ** rng.uniform(-0.4, 0.4)
    return (out * exposure).astype(np.float32), gains, float(exposure)


def env_background(radiance: np.ndarray, K: np.ndarray, size: int | tuple[int, int],
                   to_map: np.ndarray, exposure: float | np.ndarray) -> np.ndarray:
    """The environment map (H, 2H, 3) as a pinhole camera with intrinsics K (3, 3) and rotation
    ``to_map`` (camera -> map) sees it: bilinear lookup, exposure (a multiplier, or (3,) per
    channel), :func:`tonemap`.
    ``size``: int or (H, W). Returns (H, W, 3) uint8 RGB."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else size
    mh, mw = radiance.shape[:2]
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    d = rays @ np.asarray(to_map, np.float64).T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    t = np.arccos(np.clip(d[..., 1], -1.0, 1.0))
    p = np.arctan2(d[..., 0], -d[..., 2])
    mx = ((p + math.pi) / (2.0 * math.pi) * mw - 0.5).astype(np.float32)
    my = (t / math.pi * mh - 0.5).astype(np.float32)
    src = cv2.copyMakeBorder(radiance.astype(np.float32), 0, 0, 1, 1, cv2.BORDER_WRAP)  # azimuth wraps
    img = cv2.remap(src, mx + 1.0, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.convertScaleAbs(tonemap(img * np.asarray(exposure, np.float32)), alpha=255.0)

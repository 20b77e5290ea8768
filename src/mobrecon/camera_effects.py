"""Camera effects: what a real camera does to an image that a renderer does not.

Exposure and white-balance shifts, vignetting, defocus blur (a disc), motion blur (a line),
and signal-dependent sensor noise (shot noise, whose variance grows with the light collected,
plus read noise), all applied in linear light. They complement
:func:`mobrecon.photometric.augment_photometric` (colour jitter, gamma, small blurs, additive
noise, JPEG), which runs after them in the generators.

Two steps, so that a video can keep one camera for a whole sequence: :func:`sample_camera`
draws a :class:`CameraEffects` (the parameters), :meth:`CameraEffects.apply` renders an image
through it (randomness only for the noise). Images are (H, W, 3) uint8 sRGB at the ends and
(H, W, 3) float32 linear RGB in between; every function returns a new array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mobrecon.image import check_rgb

__all__ = ["CameraEffects", "sample_camera", "to_linear", "to_srgb", "expose", "vignette", "defocus",
           "motion_blur", "sensor_noise"]

_GAMMA = 2.2
_TO_LINEAR = ((np.arange(256, dtype=np.float64) / 255.0) ** _GAMMA).astype(np.float32)


def to_linear(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB (gamma 2.2) -> (H, W, 3) float32 linear RGB in [0, 1]."""
    return _TO_LINEAR[image]


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """(H, W, 3) float linear RGB -> (H, W, 3) uint8 sRGB (clipped to [0, 1], gamma 2.2, rounded)."""
    x = np.clip(linear, 0.0, 1.0).astype(np.float32, copy=False)
    return np.rint(255.0 * np.power(x, np.float32(1.0 / _GAMMA))).astype(np.uint8)


def expose(linear: np.ndarray, ev: float, gains) -> np.ndarray:
    """Exposure shift by ``ev`` stops and white-balance ``gains`` (3,) per RGB channel:
    (H, W, 3) float32 linear -> (H, W, 3) float32 linear."""
    g = (2.0 ** ev) * np.asarray(gains, np.float32).reshape(1, 1, 3)
    return linear * g.astype(np.float32)


def vignette(linear: np.ndarray, strength: float, center=(0.5, 0.5)) -> np.ndarray:
    """Light falling off away from the lens axis at ``center`` (x, y as shares of the width
    and height; a crop is rarely centred on the lens): factor 1 - strength * (r / R)^2 with R
    the image's half diagonal. (H, W, 3) float32 linear -> (H, W, 3) float32 linear."""
    h, w = linear.shape[:2]
    y, x = np.ogrid[:h, :w]
    r2 = ((x + 0.5 - center[0] * w) ** 2 + (y + 0.5 - center[1] * h) ** 2) / (0.25 * (h * h + w * w))
    return linear * np.clip(1.0 - strength * r2, 0.0, 1.0).astype(np.float32)[..., None]


def _disc(radius: float) -> np.ndarray:
    """An anti-aliased disc kernel of ``radius`` pixels, (2k+1, 2k+1) float32 summing to 1."""
    k = max(1, math.ceil(radius))
    y, x = np.mgrid[-k:k + 1, -k:k + 1]
    ker = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0).astype(np.float32)
    return ker / ker.sum()


def defocus(linear: np.ndarray, radius: float) -> np.ndarray:
    """Defocus blur: the image convolved with a disc of ``radius`` pixels (the circle of
    confusion; reflected borders). (H, W, 3) float32 -> (H, W, 3) float32."""
    if radius <= 0:
        return linear.copy()
    return cv2.filter2D(linear, -1, _disc(radius), borderType=cv2.BORDER_REFLECT)


def _line(length: float, angle: float) -> np.ndarray:
    """An anti-aliased line kernel ``length`` pixels long at ``angle`` radians (x right, y
    down) through the centre, (2k+1, 2k+1) float32 summing to 1."""
    k = max(1, math.ceil(length / 2))
    ker = np.zeros((2 * k + 1, 2 * k + 1), np.float32)
    dx, dy = 0.5 * length * math.cos(angle), 0.5 * length * math.sin(angle)
    s = 16  # cv2.line's 4 fractional bits
    p0 = (int(round((k - dx) * s)), int(round((k - dy) * s)))
    p1 = (int(round((k + dx) * s)), int(round((k + dy) * s)))
    cv2.line(ker, p0, p1, 1.0, 1, cv2.LINE_AA, shift=4)
    return ker / ker.sum()


def motion_blur(linear: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Motion blur: the image smeared along a straight line of ``length`` pixels at ``angle``
    radians (camera shake or a moving hand during the exposure; reflected borders).
    (H, W, 3) float32 -> (H, W, 3) float32."""
    if length <= 1:
        return linear.copy()
    return cv2.filter2D(linear, -1, _line(length, angle), borderType=cv2.BORDER_REFLECT)


def sensor_noise(rng: np.random.Generator, linear: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Signal-dependent sensor noise, independent per pixel and channel (as on a Bayer
    sensor): Gaussian with variance ``shot * signal + read**2`` (linear units, signal in
    [0, 1]: shot noise grows with the light, read noise is the floor that dominates in the
    dark). (H, W, 3) float32 -> (H, W, 3) float32 (may leave [0, 1]; :func:`to_srgb` clips)."""
    sigma = np.sqrt(shot * np.maximum(linear, 0.0) + read * read)
    return linear + sigma * rng.standard_normal(linear.shape, dtype=np.float32)


@dataclass(frozen=True)
class CameraEffects:
    """One camera's settings (see :func:`sample_camera`). ``ev`` stops; ``gains`` (3,) RGB
    white-balance gains; ``vignette`` strength and its ``center`` (x, y shares); ``defocus``
    radius px (0: sharp); ``motion`` (length px, angle rad) (length 0: none); ``shot``,
    ``read`` the noise (0: none)."""

    ev: float = 0.0
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignette: float = 0.0
    center: tuple[float, float] = (0.5, 0.5)
    defocus: float = 0.0
    motion: tuple[float, float] = (0.0, 0.0)
    shot: float = 0.0
    read: float = 0.0

    def apply(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(H, W, 3) uint8 sRGB -> a new (H, W, 3) uint8 image through this camera: exposure
        and white balance, vignetting, defocus, motion blur, then sensor noise (drawn from
        ``rng``; needed when ``shot`` or ``read`` is set)."""
        check_rgb(image)
        x = expose(to_linear(image), self.ev, self.gains)
        if self.vignette > 0:
            x = vignette(x, self.vignette, self.center)
        if self.defocus > 0:
            x = defocus(x, self.defocus)
        if self.motion[0] > 1:
            x = motion_blur(x, *self.motion)
        if self.shot > 0 or self.read > 0:
            if rng is None:
                raise ValueError("CameraEffects.apply: sensor noise needs an rng")
            x = sensor_noise(rng, x, self.shot, self.read)
        return to_srgb(x)


def sample_camera(rng: np.random.Generator, size: int, motion: bool = True) -> CameraEffects:
    """Random camera effects for an image of side ``size`` pixels: exposure +-1 stop (normal,
    sd 0.35), a white balance from warm to cool with a slight green/magenta tint, vignetting
    (half the images, 10-50 % at the corners, off-centre), defocus (30 %, radius 0.6 px to
    2.5 % of the side), motion blur (20 % with ``motion``, 1.5 px to 5 % of the side) and
    sensor noise (70 %, shot 2e-4..3e-3, read 1e-3..6e-3)."""
    ev = float(np.clip(rng.normal(0.0, 0.35), -1.0, 1.0))
    warm, tint = rng.uniform(-0.15, 0.15), rng.uniform(-0.05, 0.05)
    gains = (1.0 + warm, 1.0 + tint, 1.0 - warm)
    vig = rng.uniform(0.1, 0.5) if rng.random() < 0.5 else 0.0
    center = tuple(float(c) for c in rng.uniform(0.2, 0.8, 2))
    blur = rng.uniform(0.6, max(0.6, 0.025 * size)) if rng.random() < 0.3 else 0.0
    move = (rng.uniform(1.5, max(1.5, 0.05 * size)), rng.uniform(0.0, math.pi)) if rng.random() < 0.2 else (0.0, 0.0)
    if not motion:
        move = (0.0, 0.0)
    noisy = rng.random() < 0.7
    shot = rng.uniform(2e-4, 3e-3) if noisy else 0.0
    read = rng.uniform(1e-3, 6e-3) if noisy else 0.0
    return CameraEffects(ev=ev, gains=gains, vignette=vig, center=center, defocus=blur,
                         motion=(float(move[0]), float(move[1])), shot=shot, read=read)

"""Photometric augmentation: an RGB image as a different camera, light and compression would
have given it (colour jitter, gamma, blur, sensor noise, JPEG artefacts).

Used on generated images (:mod:`mobrecon.synth`), on training crops
(:mod:`mobrecon.data.transform`) and on the detector's and handedness classifier's training
images (:mod:`mobrecon.detect`); randomness comes from an explicit ``np.random.Generator``.
What a real camera adds in linear light (exposure, white balance, vignetting, defocus, motion
blur, signal-dependent sensor noise) is :mod:`mobrecon.camera_effects`, which the generators
apply before this.
"""

from __future__ import annotations

import cv2
import numpy as np

from mobrecon.image import check_rgb

__all__ = ["augment_photometric"]


_LUMA = np.array([0.299, 0.587, 0.114])


def augment_photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Moderate random photometric augmentation of an RGB image.

    Applies, in order: a colour transform (brightness x0.75-1.25, contrast x0.75-1.25,
    saturation x0.7-1.3, hue rotation up to +-6 degrees, slight white-balance gains); sometimes
    a gamma change; sometimes Gaussian blur (sigma 0.3-1.2) or linear motion blur (3-7 px);
    usually Gaussian sensor noise (sigma 1-6 levels); sometimes JPEG compression (quality 35-90).

    Args:
        rng: random generator.
        image: (H, W, 3) uint8 RGB; not modified.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    check_rgb(image)
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    # one affine colour transform: white balance -> hue -> saturation -> contrast/brightness
    wb = np.diag(1.0 + rng.normal(0.0, 0.03, 3))
    ang = np.deg2rad(rng.uniform(-6.0, 6.0))
    k = np.ones(3) / np.sqrt(3.0)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    hue = np.cos(ang) * np.eye(3) + np.sin(ang) * kx + (1.0 - np.cos(ang)) * np.outer(k, k)
    s = rng.uniform(0.7, 1.3)
    sat = s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), _LUMA)
    c = rng.uniform(0.75, 1.25)
    b = rng.uniform(0.75, 1.25)
    mean = float(np.dot(cv2.mean(image)[:3], _LUMA))
    a = b * c * (sat @ hue @ wb)
    t = np.full(3, b * (1.0 - c) * mean)
    out = cv2.transform(image, np.hstack([a, t[:, None]]))  # uint8, saturated
    if rng.random() < 0.3:  # gamma
        g = rng.uniform(0.8, 1.25)
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    r = rng.random()
    if r < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2))
    elif r < 0.32:  # motion blur along a random direction
        ks = int(rng.choice([3, 5, 7]))
        ker = np.zeros((ks, ks), np.float32)
        th = rng.uniform(0.0, np.pi)
        dx, dy = np.cos(th) * (ks // 2), np.sin(th) * (ks // 2)
        cv2.line(ker, (int(round(ks // 2 - dx)), int(round(ks // 2 - dy))),
                 (int(round(ks // 2 + dx)), int(round(ks // 2 + dy))), 1.0, 1, cv2.LINE_AA)
        ker /= ker.sum()
        out = cv2.filter2D(out, -1, ker, borderType=cv2.BORDER_REFLECT)
    if rng.random() < 0.7:  # sensor noise: luminance plus some chroma
        sig = rng.uniform(1.0, 6.0)
        f = out.astype(np.float32)
        f += sig * rng.standard_normal((h, w, 1), dtype=np.float32)
        if rng.random() < 0.5:  # blotchy chroma noise (as after demosaicing), at half resolution
            ch = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32)
            f += (0.6 * sig) * cv2.resize(ch, (w, h), interpolation=cv2.INTER_LINEAR)
        out = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # JPEG artefacts (OpenCV expects BGR)
        q = int(rng.integers(35, 91))
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.ascontiguousarray(out)

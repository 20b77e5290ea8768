"""Photographic backgrounds for the generator: random crops of openly licensed photos.

The photos are prepared by :mod:`mobrecon.synth.look_assets` (JPEGs in the look cache, the
shorter side at most 768 px). :meth:`PhotoBackgrounds.sample` takes a random crop (a random
share of the photo, so the scale varies about 6x), sometimes flipped, rotated a little,
defocused (Gaussian blur, as a background behind a hand held near the camera often is),
re-tinted and re-exposed, and resizes it to the requested size. Images are RGB uint8.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from mobrecon.image import read_image

__all__ = ["PhotoBackgrounds"]


class PhotoBackgrounds:
    """The photos ``files`` (decoded on first use and kept in memory); a missing or corrupt
    file is skipped with one warning naming it."""

    def __init__(self, files: list[Path], warn=print):
        self.files = [Path(f) for f in files]
        self._warn = warn
        self._images: list[np.ndarray] | None = None

    @property
    def images(self) -> list[np.ndarray]:
        if self._images is None:
            self._images = []
            for f in self.files:
                try:
                    img = read_image(f)
                    usable = min(img.shape[:2]) >= 32
                except (FileNotFoundError, ValueError):
                    usable = False
                if not usable:
                    self._warn(f"warning: skipping background photo {f}: missing, unreadable or too small")
                    continue
                self._images.append(img)
        return self._images

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, size: int | tuple[int, int]) -> tuple[np.ndarray, int]:
        """A random background of ``size`` (int or (H, W)): ``(image (H, W, 3) uint8, photo index)``."""
        h, w = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
        k = int(rng.integers(len(self.images)))
        src = self.images[k]
        sh, sw = src.shape[:2]
        # crop side: 15-100 % of the shorter side (log-uniform), aspect of the output
        side = min(sh, sw) * math.exp(rng.uniform(math.log(0.15), 0.0))
        ch = min(sh, side * min(1.0, h / w))
        cw = min(sw, side * min(1.0, w / h))
        cx = rng.uniform(cw / 2, sw - cw / 2)
        cy = rng.uniform(ch / 2, sh - ch / 2)
        ang = rng.normal(0.0, 6.0) if rng.random() < 0.5 else 0.0
        # affine: output pixel -> source pixel (scale, small rotation about the crop centre)
        s = cw / w
        a = math.radians(ang)
        M = np.array([[s * math.cos(a), -s * math.sin(a)], [s * math.sin(a), s * math.cos(a)]])
        t = np.array([cx, cy]) - M @ np.array([(w - 1) / 2, (h - 1) / 2])
        img = cv2.GaussianBlur(src, (0, 0), 0.5 * s) if s > 1.5 else src  # shrinking: pre-blur against aliasing
        out = cv2.warpAffine(img, np.hstack([M, t[:, None]]), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT101)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        r = rng.random()
        if r < 0.45:  # defocus
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.5) * max(h, w) / 128.0)
        gain = rng.uniform(0.6, 1.25) * (1.0 + rng.normal(0.0, 0.05, 3))
        out = cv2.transform(np.ascontiguousarray(out), np.diag(gain))
        return np.ascontiguousarray(out), k

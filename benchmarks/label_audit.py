"""Label audit (issue 16, step 2): do the training targets agree with each other after every
augmentation path?

For generated samples (or any data set spec, e.g. ``pseudo:`` real photos) put through the training transform (rotation, scale, shift, colour; two
views), the 3D joints (root-relative + root, in the crop's turned camera space) are projected
with the crop's K and compared with the 2D labels in crop pixels; the vertices regressed to
joints are compared with the 3D joint labels; the relative transform between the two views
(what the consistency losses use) is checked to carry view 1's labels onto view 2's. It also
checks the pixel convention shared by ``uv``, the heatmap grid and grid sampling, prints every
figure, and draws a grid of augmented crops with the 2D labels (green) and the projected 3D
joints (red crosses) over them.

    python benchmarks/label_audit.py data/synth_test --count 200 --png docs/label_audit.png
"""

from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np
import torch

from mobrecon.data.crop import apply_affine
from mobrecon.data.mixed import open_dataset
from mobrecon.data.transform import AugmentConfig, TrainTransform
from mobrecon.hand.load import load_hand
from mobrecon.hand.skeleton import BONES
from mobrecon.models.pose_pooling import grid_sample_pooling
from mobrecon.train.losses import gaussian_heatmaps, relative_views, to_uv
from mobrecon.models.mapreg import soft_argmax_2d


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-space points -> (N, 2) pixels with K (3, 3)."""
    p = points @ K.T
    return p[:, :2] / p[:, 2:3]


def audit(root: str, count: int, seed: int) -> tuple[dict, list[np.ndarray]]:
    ds = open_dataset(root)
    hand = load_hand("openhand")
    J = hand.J_regressor.numpy().astype(np.float64)
    tf = TrainTransform(AugmentConfig())
    rng = np.random.default_rng(seed)
    reproj, regress, con2d, con3d, crops = [], [], [], [], []
    for i in rng.choice(len(ds), size=min(count, len(ds)), replace=False):
        sample = ds[int(i)]
        out = tf(sample, np.random.default_rng([seed, int(i)]))
        for v in range(out["image"].shape[0]):
            j3 = out["joints3d"][v].astype(np.float64) + out["root"][v]
            j2 = out["joints2d"][v].astype(np.float64)
            ok = out["joints2d_valid"][v] > 0
            reproj.append(np.linalg.norm(project(j3, out["K"][v].astype(np.float64)) - j2, axis=1)[ok])
            regress.append(np.linalg.norm(J @ out["vertices"][v] - out["joints3d"][v], axis=1) * 1000)
            if len(crops) < 16:
                crops.append(draw(out["image"][v], j2, project(j3, out["K"][v].astype(np.float64))))
        T, R12 = relative_views(torch.from_numpy(out["M"][None]), torch.from_numpy(out["R"][None]))
        con2d.append(np.linalg.norm(apply_affine(T[0].numpy(), out["joints2d"][0]) - out["joints2d"][1], axis=1))
        con3d.append(np.linalg.norm(out["joints3d"][0] @ R12[0].numpy().T - out["joints3d"][1], axis=1) * 1000)
    figures = {
        "samples": int(min(count, len(ds))),
        "reprojection_px": stats(np.concatenate(reproj)),
        "J_regressor_vs_joints3d_mm": stats(np.concatenate(regress)),
        "view1_to_view2_2d_px": stats(np.concatenate(con2d)),
        "view1_to_view2_3d_mm": stats(np.concatenate(con3d)),
        **conventions(),
    }
    return figures, crops


def conventions(size: int = 128) -> dict:
    """Where a joint at crop pixel p lands in each consumer of ``uv = (p + 0.5) / size``:
    the heatmap target's peak, soft-argmax of that target, and the feature grid-sampled at
    ``uv`` on a map whose value at each cell is the cell's own pixel-centre x coordinate."""
    p = torch.tensor([[[20.0, 100.0], [63.5, 63.5], [40.0, 90.0], [105.0, 30.0]]])
    uv = to_uv(p, size)
    hm = gaussian_heatmaps(uv, 32)
    back = soft_argmax_2d(torch.log(hm.clamp_min(1e-30))) * size - 0.5
    figures = {"heatmap_softargmax_roundtrip_px": float((back - p).abs().max())}
    for fs in (4, 16):  # F_e is 4x4 for the 128 px crop; the MapReg map 16x16
        cell = size / fs
        xs = (torch.arange(fs, dtype=torch.float32) + 0.5) * cell - 0.5  # cell centres in crop pixels
        feat = torch.stack([xs.expand(fs, fs), xs[:, None].expand(fs, fs)])[None]  # (1, 2, fs, fs): x, y
        got = grid_sample_pooling(feat, uv)[0]  # (3, 2) sampled pixel coordinate
        inner = (p[0] >= xs[0]) & (p[0] <= xs[-1])  # points inside the outer cell centres
        err = (got - p[0]).abs()[inner.all(1)]
        figures[f"grid_sample_{fs}x{fs}_offset_px"] = float(err.max()) if len(err) else 0.0
    return figures


def stats(a: np.ndarray) -> dict:
    return {"mean": float(a.mean()), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def draw(image: np.ndarray, labels: np.ndarray, projected: np.ndarray, scale: int = 2) -> np.ndarray:
    """(3, S, S) normalised crop -> (S*scale, S*scale, 3) uint8 BGR with labels and projections."""
    img = ((image.transpose(1, 2, 0) * 0.5 + 0.5) * 255).clip(0, 255).astype(np.uint8)
    img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    to_px = lambda q: tuple(int(round((c + 0.5) * scale - 0.5)) for c in q)  # noqa: E731
    for a, b in BONES:
        cv2.line(img, to_px(labels[a]), to_px(labels[b]), (0, 200, 0), 1, cv2.LINE_AA)
    for q in projected:
        cv2.drawMarker(img, to_px(q), (0, 0, 255), cv2.MARKER_CROSS, 5, 1)
    return img


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a data set spec: a generated set (mobrecon synth --out ...), or e.g. "
                    "pseudo:FITS.npz (real photos: the 2D labels are the teacher's, the 3D the fit's)")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", default="", help="grid of augmented crops to write")
    ap.add_argument("--json", default="", help="figures to write")
    args = ap.parse_args(argv)
    figures, crops = audit(args.root, args.count, args.seed)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(text + "\n")
    if args.png:
        rows = [np.concatenate(crops[r * 4:(r + 1) * 4], 1) for r in range(len(crops) // 4)]
        cv2.imwrite(args.png, np.concatenate(rows, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())

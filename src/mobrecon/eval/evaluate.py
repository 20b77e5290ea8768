"""Run a network over a data set the way the field scores it (behind ``mobrecon eval``).

Each sample is cropped by the one crop of :class:`~mobrecon.data.transform.EvalTransform` (the
hand's 2D joints with the 1.3 margin, no rotation; a given per-sample box where the set has
no 2D joints), the network predicts 2D joints (mapped back to image pixels) and the
root-relative mesh, and the mesh is placed in camera space by root recovery from the predicted
2D joints and the sample's K (:mod:`mobrecon.data.root`). Metrics:
:class:`~mobrecon.eval.metrics.MetricAccumulator`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from mobrecon.data.root import uncrop_hand
from mobrecon.data.transform import EvalTransform
from mobrecon.eval.metrics import MetricAccumulator


class _Cropped(Dataset):
    def __init__(self, base: Dataset, transform: EvalTransform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        s = self.base[i]
        item = self.transform(s)
        item["gt_joints2d"], item["gt_joints2d_valid"] = s["joints2d"], s["joints2d_valid"]
        item["gt_K"] = s["K"]
        item["gt_joints3d"], item["gt_vertices"] = s["joints3d"], s["vertices"]
        return item


@torch.no_grad()
def predict_batches(model, dataset: Dataset, batch_size: int = 32, workers: int = 0, progress: bool = True,
                    crop: str = "joints"):
    """Yield (batch, predictions) with predictions as numpy: ``joints2d`` (B, 21, 2) image
    pixels, ``joints3d_rel`` (B, 21, 3) / ``vertices_rel`` (B, V, 3) root-relative metres,
    ``root`` (B, 3) camera-space wrist from root recovery."""
    model.eval()
    size = model.cfg.input_size
    device = next(model.parameters()).device
    loader = DataLoader(_Cropped(dataset, EvalTransform(size, crop=crop)), batch_size=batch_size, num_workers=workers)
    if progress:
        loader = tqdm(loader, unit="batch", desc="eval")
    for batch in loader:
        out = model(batch["image"].to(device))
        M = batch["M"].numpy().astype(np.float64)
        K = batch["gt_K"].numpy().astype(np.float64)
        outs = {k: out[k].float().cpu().numpy() for k in ("joints2d", "joints3d", "vertices")}
        each = [uncrop_hand(outs["joints2d"][b], outs["joints3d"][b], outs["vertices"][b], M[b], K[b])
                for b in range(len(M))]
        yield batch, {k: np.stack([e[k] for e in each]) for k in each[0]}


def evaluate(model, dataset: Dataset, count: int | None = None, batch_size: int = 32, workers: int = 0,
             progress: bool = True, fps: float = 30.0, collect: bool = False, crop: str = "joints") -> dict:
    """Metrics of ``model`` on the first ``count`` samples of ``dataset`` (all if None).

    ``crop``: ``joints`` (around the annotated 2D joints) or ``full`` (the whole image, for
    video sets of tracker crops); see :class:`~mobrecon.data.transform.EvalTransform`.
    With ``collect`` the result also holds ``predictions``: camera-space ``joints3d`` (N, 21, 3)
    and ``vertices`` (N, V, 3) (root from root recovery), for a FreiHAND submission file.
    """
    if count is not None:
        dataset = Subset(dataset, range(min(count, len(dataset))))
    acc = MetricAccumulator(fps=fps)
    n_verts = model.J_regressor.shape[1]
    kept_j, kept_v = [], []
    for batch, p in predict_batches(model, dataset, batch_size, workers, progress, crop):
        has_j = batch["has_joints3d"].numpy()
        has_v = batch["has_vertices"].numpy() & (batch["gt_vertices"].shape[1] == n_verts)
        seq, frame = list(batch["sequence"]), batch["frame"].numpy()
        # one add per group of samples with the same annotations (each sample added once)
        for sel, with3d, withv in ((np.flatnonzero(has_j & has_v), True, True),
                                   (np.flatnonzero(has_j & ~has_v), True, False),
                                   (np.flatnonzero(~has_j), False, False)):
            if len(sel) == 0:
                continue
            gt = {"joints2d": batch["gt_joints2d"].numpy()[sel],
                  "joints2d_valid": batch["gt_joints2d_valid"].numpy()[sel]}
            if (frame[sel] >= 0).all():  # video frames: the acceleration errors need their order
                gt["sequence"], gt["frame"] = [seq[i] for i in sel], frame[sel]
            pred = {"joints2d": p["joints2d"][sel]}
            if with3d:
                gt["joints3d"], pred["joints3d"] = batch["gt_joints3d"].numpy()[sel], p["joints3d_rel"][sel]
            if withv:
                gt["vertices"], pred["vertices"] = batch["gt_vertices"].numpy()[sel], p["vertices_rel"][sel]
            acc.add(pred, gt)
        if collect:
            kept_j.append(p["joints3d_rel"] + p["root"][:, None])
            kept_v.append(p["vertices_rel"] + p["root"][:, None])
    result = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in acc.summary().items()}
    result["samples"] = len(dataset)
    if collect:
        result["predictions"] = {"joints3d": np.concatenate(kept_j), "vertices": np.concatenate(kept_v)}
    return result

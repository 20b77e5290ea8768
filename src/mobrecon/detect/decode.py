"""Decoding the CenterNet heads into boxes: heatmap peaks (3x3 max-pool suppression), their
sizes and sub-cell offsets, mapped back to input pixels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mobrecon.detect.centernet import STRIDE
from mobrecon.detect.targets import cells_to_pixels


def peaks(heat: torch.Tensor, k: int = 20) -> tuple[torch.Tensor, ...]:
    """heat (C, H, W) probabilities -> the top ``k`` local maxima (3x3) over all classes:
    scores (k,), classes (k,), ys (k,), xs (k,) (fewer when the map is smaller)."""
    c, h, w = heat.shape
    keep = F.max_pool2d(heat[None], 3, stride=1, padding=1)[0] == heat
    flat = (heat * keep).reshape(-1)
    scores, idx = flat.topk(min(k, flat.numel()))
    cls = idx // (h * w)
    rem = idx % (h * w)
    return scores, cls, rem // w, rem % w


def suppress(dets: np.ndarray, iou: float) -> np.ndarray:
    """Greedy box suppression: (n, >=5) rows sorted best first -> the rows overlapping no
    better kept row by more than ``iou``."""
    from mobrecon.detect.ap import box_iou

    keep: list[int] = []
    m = box_iou(dets[:, :4], dets[:, :4])
    for i in range(len(dets)):
        if all(m[i, j] <= iou for j in keep):
            keep.append(i)
    return dets[keep]


def decode(out: dict, threshold: float = 0.3, k: int = 20, stride: int = STRIDE,
           class_nms: bool = True, nms_iou: float | None = 0.6) -> list[np.ndarray]:
    """Network outputs for a batch (``heatmap`` logits, ``size``, ``offset``: (B, 2, H, W))
    -> per image an (n, 6) float64 array of [x0, y0, x1, y1, score, class] in input pixels,
    best first, scores >= ``threshold``. With ``class_nms`` a peak is dropped where a stronger
    one of the other class sits in its 3x3 neighbourhood (one hand, one handedness); with
    ``nms_iou`` a box overlapping a better one by more than that IoU is dropped too."""
    heat = torch.sigmoid(out["heatmap"].float())
    if class_nms:  # suppress across classes too: the max over classes must be at the peak
        best = heat.max(1, keepdim=True).values
        heat = heat * (heat >= F.max_pool2d(best, 3, stride=1, padding=1)).float()
    results = []
    for b in range(heat.shape[0]):
        scores, cls, ys, xs = peaks(heat[b], k)
        sel = scores >= threshold
        scores, cls, ys, xs = scores[sel], cls[sel], ys[sel], xs[sel]
        wh = out["size"][b][:, ys, xs].float().clamp(min=0).T.numpy()          # (n, 2) cells
        off = out["offset"][b][:, ys, xs].float().T.numpy()                     # (n, 2) cells
        cx = cells_to_pixels(xs.numpy() + off[:, 0], stride)
        cy = cells_to_pixels(ys.numpy() + off[:, 1], stride)
        w, h = wh[:, 0] * stride, wh[:, 1] * stride
        dets = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, scores.numpy(),
                         cls.numpy().astype(np.float64)], 1).reshape(-1, 6).astype(np.float64)
        results.append(suppress(dets, nms_iou) if nms_iou is not None and len(dets) > 1 else dets)
    return results

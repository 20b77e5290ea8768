"""Decoding the CenterNet heads into boxes: heatmap peaks (3x3 max-pool suppression), their
sizes and sub-cell offsets, mapped back to input pixels.

In numpy and OpenCV (a 3x3 grey dilation is the 3x3 max-pool with -inf padding): a few hundred
microseconds for one 256 px image, where the same steps as torch ops cost milliseconds on a
busy machine (each small op hands work to the intra-op thread pool). Inputs may be numpy
arrays or CPU tensors."""

from __future__ import annotations

import cv2
import numpy as np

from mobrecon.detect.ap import box_iou
from mobrecon.detect.centernet import STRIDE
from mobrecon.detect.targets import cells_to_pixels

_KERNEL = np.ones((3, 3), np.uint8)


def _np(a) -> np.ndarray:
    """A numpy array or a (CPU) tensor -> float32 numpy."""
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, np.float32)


def max3x3(m: np.ndarray) -> np.ndarray:
    """(..., H, W) -> the maximum over each 3x3 neighbourhood (outside the map counts as -inf)."""
    flat = m.reshape(-1, *m.shape[-2:])
    out = np.stack([cv2.dilate(c, _KERNEL, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf) for c in flat])
    return out.reshape(m.shape)


def peaks(heat, k: int = 20) -> tuple[np.ndarray, ...]:
    """heat (C, H, W) probabilities -> the top ``k`` local maxima (3x3) over all classes:
    scores (k,), classes (k,), ys (k,), xs (k,) (fewer when the map is smaller)."""
    heat = _np(heat)
    c, h, w = heat.shape
    flat = (heat * (max3x3(heat) == heat)).reshape(-1)
    k = min(int(k), flat.size)
    idx = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    rem = idx % (h * w)
    return flat[idx], idx // (h * w), rem // w, rem % w


def suppress(dets: np.ndarray, iou: float, inside: float | None = None) -> np.ndarray:
    """Greedy box suppression: (n, >=5) rows sorted best first -> the rows overlapping no
    better kept row by more than ``iou``, and (``inside``) lying in none by more than that share
    of their own area (a finger or thumb peak inside a hand's box)."""
    keep: list[int] = []
    m = box_iou(dets[:, :4], dets[:, :4])
    if inside is not None:
        lo = np.maximum(dets[:, None, :2], dets[None, :, :2])
        hi = np.minimum(dets[:, None, 2:4], dets[None, :, 2:4])
        inter = np.clip(hi - lo, 0, None).prod(-1)
        own = np.maximum(np.clip(dets[:, 2:4] - dets[:, :2], 0, None).prod(-1), 1e-12)
        share = inter / own[:, None]  # share[i, j]: how much of box i lies in box j
    for i in range(len(dets)):
        if all(m[i, j] <= iou and (inside is None or share[i, j] <= inside) for j in keep):
            keep.append(i)
    return dets[keep]


def merge_mirrored(out: dict, n: int) -> dict[str, np.ndarray]:
    """Outputs for a batch of ``2 n`` inputs whose last ``n`` are the first ``n`` mirrored left to
    right -> outputs for the first ``n``, seen both ways (the flip test): the mirrored half's
    heatmaps are mirrored back with their classes swapped (a mirrored right hand is a left one)
    and averaged with the plain half's as probabilities (returned as logits again), the box sizes
    are averaged, and the sub-cell offsets are the plain half's. A mirrored map lines up with
    the plain one cell for cell: pixel u goes to S - 1 - u, cell j to W - 1 - j (stride 4).

    ``out``: ``heatmap`` (2n, 2, H, W) logits, ``size`` and ``offset`` (2n, 2, H, W); numpy or
    CPU tensors. Returns numpy float32 arrays (n, 2, H, W)."""
    heat = 1.0 / (1.0 + np.exp(-_np(out["heatmap"])))
    size, offset = _np(out["size"]), _np(out["offset"])
    if heat.shape[0] != 2 * n:
        raise ValueError(f"merge_mirrored: expected a batch of {2 * n} (plain, then mirrored), got {heat.shape[0]}")
    back = heat[n:, ::-1, :, ::-1]                                         # mirrored back, classes swapped
    p = np.clip((heat[:n] + back) / 2, 1e-6, 1 - 1e-6)
    return {"heatmap": np.log(p / (1 - p)).astype(np.float32),
            "size": ((size[:n] + size[n:, :, :, ::-1]) / 2).astype(np.float32),
            "offset": np.ascontiguousarray(offset[:n])}


def decode(out: dict, threshold: float = 0.3, k: int = 20, stride: int = STRIDE,
           class_nms: bool = True, nms_iou: float | None = 0.6, inside: float | None = 0.8) -> list[np.ndarray]:
    """Network outputs for a batch (``heatmap`` logits, ``size``, ``offset``: (B, 2, H, W),
    numpy or CPU tensors) -> per image an (n, 6) float64 array of [x0, y0, x1, y1, score,
    class] in input pixels, best first, scores >= ``threshold``. With ``class_nms`` a peak is
    dropped where a stronger one of the other class sits in its 3x3 neighbourhood (one hand,
    one handedness); with ``nms_iou`` a box overlapping a better one by more than that IoU is
    dropped too, and with ``inside`` one whose area lies in a better box by more than that share
    (CenterNet's typical false positive on a photo of one hand: a thumb or finger found as a
    small hand of its own inside the hand's box)."""
    heat = 1.0 / (1.0 + np.exp(-_np(out["heatmap"])))
    size, offset = _np(out["size"]), _np(out["offset"])
    if class_nms:  # suppress across classes too: the max over classes must be at the peak
        best = heat.max(1)
        heat = heat * (heat >= max3x3(best)[:, None]).astype(np.float32)
    results = []
    for b in range(heat.shape[0]):
        scores, cls, ys, xs = peaks(heat[b], k)
        sel = scores >= threshold
        scores, cls, ys, xs = scores[sel], cls[sel], ys[sel], xs[sel]
        wh = np.maximum(size[b][:, ys, xs], 0).T.astype(np.float64)         # (n, 2) cells
        off = offset[b][:, ys, xs].T.astype(np.float64)                     # (n, 2) cells
        cx = cells_to_pixels(xs + off[:, 0], stride)
        cy = cells_to_pixels(ys + off[:, 1], stride)
        w, h = wh[:, 0] * stride, wh[:, 1] * stride
        dets = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, scores.astype(np.float64),
                         cls.astype(np.float64)], 1).reshape(-1, 6)
        results.append(suppress(dets, nms_iou, inside) if nms_iou is not None and len(dets) > 1 else dets)
    return results

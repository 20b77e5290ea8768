"""Detection metrics: box IoU and average precision at an IoU threshold (VOC / COCO style:
all-point interpolated area under the precision-recall curve, detections matched greedily
by score to the unmatched ground-truth box of highest IoU)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of boxes a (N, 4) and b (M, 4), each (x0, y0, x1, y1)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _matches(detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], iou: float):
    """(scores (n,), hits (n,) 1.0 where a detection matched an unused ground-truth box at
    ``iou``, n_gt): each image's detections matched greedily in score order, so that cutting the
    list at any score keeps the same matches."""
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} detection lists for {len(ground_truth)} images")
    scores, hits = [], []
    n_gt = 0
    for det, gt in zip(detections, ground_truth):
        det = np.asarray(det, np.float64)
        det = det.reshape(len(det), -1) if det.size else np.zeros((0, 5))
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        n_gt += len(gt)
        order = np.argsort(-det[:, 4], kind="stable")
        det = det[order]
        ious = box_iou(det[:, :4], gt)
        used = np.zeros(len(gt), bool)
        for i in range(len(det)):
            scores.append(det[i, 4])
            cand = np.where(~used, ious[i], -1.0) if len(gt) else np.zeros(0)
            j = int(np.argmax(cand)) if len(cand) else -1
            if j >= 0 and cand[j] >= iou:
                used[j] = True
                hits.append(1.0)
            else:
                hits.append(0.0)
    return np.asarray(scores, np.float64), np.asarray(hits, np.float64), n_gt


def _cumulative(scores: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores sorted falling, cumulative true positives, cumulative false positives), each (n,)."""
    order = np.argsort(-scores, kind="stable")
    return scores[order], np.cumsum(hits[order]), np.cumsum(1.0 - hits[order])


def precision_recall(detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray],
                     iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, precision, recall), each (n,), detections sorted by falling score: entry k is
    what a threshold at ``scores[k]`` keeps (inputs as :func:`average_precision`)."""
    scores, hits, n_gt = _matches(detections, ground_truth, iou)
    scores, tp, fp = _cumulative(scores, hits)
    return scores, tp / np.maximum(tp + fp, 1e-12), tp / max(n_gt, 1)


def best_f1_threshold(detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray],
                      iou: float = 0.5) -> dict:
    """The score threshold with the highest F1 (precision and recall's harmonic mean) at
    ``iou``: ``threshold``, ``f1``, ``precision``, ``recall`` (threshold 1.0 and zeros when
    nothing matches)."""
    scores, prec, rec = precision_recall(detections, ground_truth, iou)
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-12)
    if not len(f1) or f1.max() <= 0:
        return {"threshold": 1.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    # a threshold keeps every detection with an equal score: the last entry of a run of ties counts
    last = np.r_[scores[1:] != scores[:-1], True]
    k = int(np.argmax(np.where(last, f1, -1.0)))
    return {"threshold": float(scores[k]), "f1": float(f1[k]), "precision": float(prec[k]), "recall": float(rec[k])}


def precision_recall_at(detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], threshold: float,
                        iou: float = 0.5) -> dict:
    """:func:`average_precision` of the detections scoring at least ``threshold`` (its
    ``precision`` and ``recall`` are then those of a detector cut there)."""
    return average_precision([d[d[:, 4] >= threshold] for d in detections], ground_truth, iou)


def average_precision(detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray],
                      iou: float = 0.5) -> dict:
    """AP over a set of images, class-agnostic.

    detections: per image an (n, >=5) array [x0, y0, x1, y1, score, ...];
    ground_truth: per image an (m, 4) array of boxes.
    Returns ``ap`` (0 when there is no ground truth), ``precision`` and ``recall`` at the
    last detection, ``n_gt``, ``n_det``, ``tp``.
    """
    scores, hits, n_gt = _matches(detections, ground_truth, iou)
    if not len(scores) or n_gt == 0:
        return {"ap": 0.0, "precision": 0.0, "recall": 0.0, "n_gt": n_gt, "n_det": len(scores), "tp": 0}
    _, tp, fp = _cumulative(scores, hits)
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1e-12)
    # all-point interpolation: precision made monotone, integrated over recall steps
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    ap = float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
    return {"ap": ap, "precision": float(precision[-1]), "recall": float(recall[-1]), "n_gt": int(n_gt),
            "n_det": len(scores), "tp": int(tp[-1])}

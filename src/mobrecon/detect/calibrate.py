"""Score threshold calibration for the hand detector: the threshold with the best F1 at IoU 0.5
on validation images (composites and real photos with their boxes), stored in the detector
file's ``meta`` so that :meth:`~mobrecon.detect.detector.HandDetector.load` uses it.

The detector's scores are not probabilities: their scale moves with every fine-tune, so a fixed
threshold (the old 0.2) that suited one set of weights can hide every hand from the next.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from mobrecon.detect.ap import average_precision, best_f1_threshold, precision_recall_at
from mobrecon.detect.detector import detection_array


def collect_detections(detector, dataset, count: int | None = None, threshold: float = 0.01,
                       progress: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(detections, ground truth) over the first ``count`` images of ``dataset`` (anything with
    ``raw(i) -> {"image", "boxes"}`` and ``len``): per image an (n, 5) array [x0, y0, x1, y1,
    score] down to ``threshold``, and the (m, 4) true boxes."""
    n = len(dataset) if count is None else min(int(count), len(dataset))
    dets, gts = [], []
    for i in tqdm(range(n), disable=not progress, unit="img", desc="calibrate"):
        item = dataset.raw(i)
        found = detector.detect(item["image"], threshold=threshold)
        dets.append(detection_array(found))
        gts.append(np.asarray(item["boxes"], np.float64).reshape(-1, 4))
    return dets, gts


def calibrate_threshold(detector, datasets: dict, count: int | None = None, iou: float = 0.5,
                        progress: bool = False) -> dict:
    """The best-F1 threshold over the images of all ``datasets`` ({name: dataset}) pooled, with
    each set's AP and precision / recall at that threshold and at the detector's current one."""
    pooled_d: list[np.ndarray] = []
    pooled_g: list[np.ndarray] = []
    per_set = {}
    for name, ds in datasets.items():
        d, g = collect_detections(detector, ds, count, progress=progress)
        pooled_d += d
        pooled_g += g
        per_set[name] = (d, g)
    if not pooled_g or not sum(len(g) for g in pooled_g):
        raise ValueError("calibration needs images with hand boxes; the sets given have none")
    best = best_f1_threshold(pooled_d, pooled_g, iou)
    sets = {}
    for name, (d, g) in per_set.items():
        sets[name] = {"images": len(g), "hands": int(sum(len(x) for x in g)),
                      "ap": round(average_precision(d, g, iou)["ap"], 4),
                      "at_new": _pr_at(d, g, best["threshold"], iou),
                      "at_old": _pr_at(d, g, detector.threshold, iou)}
    return {"threshold": round(best["threshold"], 4), "f1": round(best["f1"], 4),
            "precision": round(best["precision"], 4), "recall": round(best["recall"], 4),
            "old_threshold": detector.threshold, "iou": iou, "sets": sets}


def _pr_at(dets: Sequence[np.ndarray], gts: Sequence[np.ndarray], thr: float, iou: float) -> dict:
    r = precision_recall_at(dets, gts, thr, iou)
    return {"precision": round(r["precision"], 4), "recall": round(r["recall"], 4)}

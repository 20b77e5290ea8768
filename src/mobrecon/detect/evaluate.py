"""Scoring a detector on a composite set: AP at IoU 0.5 (class-agnostic), the handedness
accuracy of the matched detections, and the time per image."""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from mobrecon.detect.ap import average_precision, box_iou, precision_recall_at


def evaluate_detector(detector, dataset, count: int | None = None, threshold: float = 0.01,
                      iou: float = 0.5, progress: bool = False, device: str | None = None) -> dict:
    """``detector`` (:class:`~mobrecon.detect.detector.HandDetector`) on the first ``count``
    images of ``dataset`` (:class:`~mobrecon.detect.dataset.CompositeDataset`). Detections down
    to ``threshold`` enter the AP (the precision-recall curve needs the low scores);
    ``precision`` / ``recall`` are also reported at the detector's own threshold. ``device``
    ('auto', 'cpu', 'cuda'): where to run the network (None: where it already is)."""
    if device is not None:
        detector.to(device)

    n = len(dataset) if count is None else min(int(count), len(dataset))
    dets, gts, lefts = [], [], []
    seconds = 0.0
    for i in tqdm(range(n), disable=not progress, unit="img", desc="eval"):
        item = dataset.raw(i)
        t0 = time.perf_counter()
        found = detector.detect(item["image"], threshold=threshold)
        seconds += time.perf_counter() - t0
        dets.append(np.array([[*d.box, d.score, float(d.left)] for d in found]).reshape(-1, 6))
        gts.append(item["boxes"])
        lefts.append(item["left"])
    res = average_precision(dets, gts, iou)
    at_thr = precision_recall_at(dets, gts, detector.threshold, iou)
    right = total = 0
    for d, g, lf in zip(dets, gts, lefts):  # handedness of confident detections matched to a hand
        d = d[d[:, 4] >= detector.threshold]
        if len(d) and len(g):
            m = box_iou(d[:, :4], g)
            j = m.argmax(1)
            ok = m.max(1) >= iou
            right += int((d[ok, 5].astype(bool) == lf[j[ok]]).sum())
            total += int(ok.sum())
    return {"images": n, "hands": res["n_gt"], f"ap{int(iou * 100)}": round(res["ap"], 4),
            "precision": round(at_thr["precision"], 4), "recall": round(at_thr["recall"], 4),
            "threshold": detector.threshold, "handedness_accuracy": round(right / total, 4) if total else None,
            "ms_per_image": round(1000 * seconds / max(n, 1), 2), "device": str(detector.device)}

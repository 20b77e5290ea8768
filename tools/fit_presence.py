"""Fit the hand presence head (:mod:`mobrecon.detect.presence`) on a model's encoder, and
calibrate the score threshold of the two-stage hand finding (:meth:`Predictor.predict_hands`).

    python tools/fit_presence.py --out src/mobrecon/weights/presence_mobrecon_ghoststack.pt \
        [--model mobrecon_ghoststack] [--detector FILE] [--labels /work/labels] [--composites data/det2/val]

1. Training crops: on the signer frames' *training* split and on ``--composites-train`` (the
   detector's training composites, the first ``--composites-count``), the detector's candidates
   (score >= 0.02, best 8 per image) are reconstructed and re-boxed from their 2D joints. A
   candidate is a hand when its detector box or its joints' whole-hand box overlaps a true hand
   (the signer frames: every hand the teacher sees, whole-hand boxes) with IoU >= 0.5, not a
   hand when both stay under 0.3 (the rest is left out); the true boxes are added as hands.
2. Fit: :func:`~mobrecon.detect.presence.fit_presence` on the crops' encoder features.
3. Calibration on validation images only: the signer frames' validation split (every teacher
   hand) and ``--composites`` (validation composites): the best-F1 threshold of the combined
   score, pooled, through :class:`~mobrecon.infer.hand_finder.HandFinder` (the whole pipeline as
   a user runs it); AP before (the detector alone) and after, per set, in the file's meta.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mobrecon.data.crop import DETECTION_MARGIN
from mobrecon.data.real_photos import SignerFrames
from mobrecon.detect.ap import box_iou
from mobrecon.detect.calibrate import calibrate_threshold
from mobrecon.detect.dataset import CompositeDataset
from mobrecon.detect.detector import HandDetector
from mobrecon.detect.handedness import encoder_fingerprint
from mobrecon.detect.presence import DEFAULT_MIX, fit_presence, save_presence
from mobrecon.detect.real_eval import ALL_HANDS_LABELS, joints_hand_box, teacher_boxes, whole_hand_box
from mobrecon.infer.hand_finder import HandFinder
from mobrecon.infer.predictor import load


class SignerHands:
    """Signer frames with every teacher hand as whole-hand boxes: ``raw(i)`` as the calibration
    wants it (frames without a teacher hand left out)."""

    def __init__(self, root: Path, split: str, labels: Path):
        self.frames = SignerFrames(root / "rf100-hand-gestures", split, labels=labels / "signers.npz")
        self.boxes = teacher_boxes(labels / ALL_HANDS_LABELS)
        self.index = [i for i, f in enumerate(self.frames.files) if f in self.boxes]

    def __len__(self) -> int:
        return len(self.index)

    def raw(self, i: int) -> dict:
        j = self.index[i]
        return {"image": self.frames[j]["image"],
                "boxes": whole_hand_box(self.boxes[self.frames.files[j]]).reshape(-1, 4)}


def training_features(pred, det, hands, count: int | None = None, progress: bool = True):
    """(fa, fb, is_hand) over the candidates of the first ``count`` images of ``hands``
    (anything with ``raw(i) -> {"image", "boxes"}``; step 1 of the module's doc)."""
    fa, fb, label = [], [], []
    n = len(hands) if count is None else min(count, len(hands))
    for i in tqdm(range(n), disable=not progress, unit="image", desc="candidates"):
        it = hands.raw(i)
        img, gt = it["image"], np.asarray(it["boxes"], np.float64).reshape(-1, 4)
        found = det.detect(img, threshold=0.02)[:8]
        boxes = [tuple(d.box) for d in found]
        # the teacher's hands as if detected: the detector's box is a whole-hand box too
        prepared = [pred._prepare(img, b, None, left=None, margin=DETECTION_MARGIN, features=True)
                    for b in boxes + [tuple(g) for g in gt]]
        if not prepared:  # no hand and no candidate: nothing to learn from this image
            continue
        out = pred._run_prepared(prepared)
        for k, p in enumerate(prepared):
            if k >= len(boxes):
                y = 1.0
            else:
                r = pred._finish(p, {name: v[k] for name, v in out.items()})
                refined = joints_hand_box(r.joints2d)
                iou = max(box_iou(np.array([boxes[k]]), gt).max(), box_iou(refined[None], gt).max()) if len(gt) else 0.0
                y = 1.0 if iou >= 0.5 else 0.0 if iou < 0.3 else None
            if y is not None:
                fa.append(p["features"][0][0])
                fb.append(p["features"][1][0])
                label.append(y)
    return np.array(fa), np.array(fb), np.array(label)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="mobrecon_ghoststack")
    ap.add_argument("--detector", default=None, help="detector file (default: the shipped one)")
    ap.add_argument("--realdata", default="../shared/realdata")
    ap.add_argument("--labels", default="/work/labels")
    ap.add_argument("--composites", default="data/det2/val", help="validation composites (calibration)")
    ap.add_argument("--composites-train", default="data/det2/train_a", help="training composites (the fit)")
    ap.add_argument("--composites-count", type=int, default=600)
    ap.add_argument("--mix", type=float, default=DEFAULT_MIX)
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    if Path(a.out).exists() and not a.force:
        print(f"--out {a.out}: already exists (pass --force to replace it)", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    det = HandDetector.load(a.detector)
    pred = load(a.model, backend="torch", detector=det, presence=None)
    if pred.handedness is None:
        print(f"{a.model}: no handedness head on this encoder; the presence head reads its pass", file=sys.stderr)
        return 2
    root, labels = Path(a.realdata), Path(a.labels)
    parts = [training_features(pred, det, SignerHands(root, "train", labels))]
    if Path(a.composites_train).is_dir():
        parts.append(training_features(pred, det, CompositeDataset(a.composites_train), a.composites_count))
    fa, fb, y = (np.concatenate(t) for t in zip(*parts))
    head = fit_presence(fa, fb, y, l2=a.l2)
    acc = float(((head.prob_arrays(fa, fb) >= 0.5) == (y == 1)).mean())
    print(f"fitted on {len(y)} crops ({int(y.sum())} hands), training accuracy {acc:.3f}", file=sys.stderr)

    sets = {"signers_valid": SignerHands(root, "valid", labels)}
    if Path(a.composites).is_dir():
        sets["composites_val"] = CompositeDataset(a.composites)
    head.meta = {"mix": a.mix}
    pred.presence = head
    cal = calibrate_threshold(HandFinder(pred), sets, progress=True)
    before = calibrate_threshold(det, sets, progress=True)
    meta = {"model": a.model, "mix": a.mix, "threshold": cal["threshold"], "l2": a.l2,
            "detector": a.detector or "shipped", "detector_threshold": det.threshold, "flip_test": det.flip_test,
            "crops": int(len(y)), "hands": int(y.sum()), "train_accuracy": round(acc, 4),
            "calibration": cal, "detector_alone": before}
    save_presence(a.out, head, encoder_fingerprint(pred.model.encoder), meta)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("calibration", "detector_alone")}))
    for name in sets:
        print(f"  {name}: AP {before['sets'][name]['ap']:.4f} (detector alone) -> {cal['sets'][name]['ap']:.4f} "
              f"(re-boxed, re-scored); threshold {cal['threshold']:.3f}, F1 {cal['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The hand detector on real photographs and on held-out composites (issue 20's figures).

    python benchmarks/real_detector.py [--detector FILE] [--json OUT]

Signer frames' test split: AP@0.5 against the set's (gesture) boxes and against the teacher's
whole-hand boxes; held-out close-ups: best box vs the
teacher's whole-hand box and the predictor's crop vs the training crop (IoU >= 0.5 shares),
handedness of the detector and of the shipped encoder head (on the predictor's crop) against
the teacher; the four bundled photos (left hands): box, score, both handedness calls; the
held-out composites (``--composites``, seed 1) AP@0.5. Real photo sets are read from
``--realdata`` (default ../shared/realdata) with teacher labels from ``--labels``. ``--flip-test``
/ ``--no-flip-test`` overrides the detector file's setting (the threshold stays the file's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default=None, help="detector file (default: the shipped one)")
    ap.add_argument("--realdata", default="../shared/realdata")
    ap.add_argument("--labels", default="/work/labels")
    ap.add_argument("--composites", default="data/det2/test")
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--presence", default="auto", help="presence head file ('auto': the shipped one for the "
                    "model's encoder; 'none': no re-scoring)")
    ap.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                    help="score the two-stage finding as predict_hands runs it (candidates re-boxed from their "
                    "reconstructed joints, re-scored by a presence head if any; the default); --no-refine: the "
                    "detector alone")
    ap.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                    help="score with / without the flip test (default: as the detector file says)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    from mobrecon.data.real_photos import CloseUps, SignerFrames
    from mobrecon.detect.dataset import CompositeDataset
    from mobrecon.detect.detector import HandDetector
    from mobrecon.detect.evaluate import evaluate_detector
    from mobrecon.detect.real_eval import ALL_HANDS_LABELS, closeup_scores, signer_ap, teacher_boxes
    from mobrecon.data.crop import DETECTION_MARGIN
    from mobrecon.image import read_image
    from mobrecon.infer.hand_finder import HandFinder
    from mobrecon.infer.predictor import load

    det = HandDetector.load(a.detector, **({} if a.flip_test is None else {"flip_test": a.flip_test}))
    pred = load("mobrecon_ghoststack", detector=det, presence=None if a.presence == "none" else a.presence,
                refine=a.refine)
    finder = HandFinder(pred) if pred.refine else det  # what predict_hands finds, as a detector
    root, labels = Path(a.realdata), Path(a.labels)
    res = {"detector": a.detector or "shipped", "flip_test": det.flip_test, "detector_threshold": det.threshold,
           "refine": pred.refine, "presence": pred.presence is not None, "threshold": finder.threshold,
           "crop_margin": DETECTION_MARGIN}
    signers = SignerFrames(root / "rf100-hand-gestures", "test", labels=labels / "signers.npz")
    res["signers_test"] = signer_ap(finder, signers, progress=True)
    res["signers_test_teacher_boxes"] = signer_ap(finder, signers, progress=True, boxes="teacher")
    if (labels / ALL_HANDS_LABELS).is_file():  # every hand the teacher sees, not one per gesture box
        res["signers_test_all_hands"] = signer_ap(finder, signers, progress=True,
                                                  boxes=teacher_boxes(labels / ALL_HANDS_LABELS))
    print(json.dumps([res["signers_test"], res["signers_test_teacher_boxes"], res.get("signers_test_all_hands")]),
          file=sys.stderr)
    closeups = CloseUps(root / "sign-language-digits", "test", labels=labels / "closeups.npz")
    res["closeups_test"] = closeup_scores(finder, closeups, DETECTION_MARGIN, pred.handedness, progress=True)
    print(json.dumps(res["closeups_test"]), file=sys.stderr)
    photos = []
    for p in sorted(Path(a.samples).glob("*.jp*g")) + sorted(Path(a.samples).glob("*.png")):
        rgb = read_image(p)
        found = finder.detect(rgb)
        row = {"photo": p.name, "size": [rgb.shape[1], rgb.shape[0]], "found": len(found)}
        if found:
            d = found[0]
            r = pred.predict_hands(rgb, max_hands=1)[0]
            row.update(box=[round(v, 1) for v in d.box], score=round(d.score, 3), detector_hand=d.handedness,
                       head_hand=r.extra["handedness"], p_left=r.extra.get("p_left"))
        photos.append(row)
    res["samples"] = photos
    print(json.dumps(photos), file=sys.stderr)
    if Path(a.composites).is_dir():
        res["composites"] = evaluate_detector(finder, CompositeDataset(a.composites), progress=True)
    text = json.dumps(res, indent=2)
    print(text)
    if a.json:
        from mobrecon.io_utils import atomic_write_text

        atomic_write_text(a.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

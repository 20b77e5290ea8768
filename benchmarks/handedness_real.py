"""Re-fit the encoder handedness head on real crops as well as generated ones, and score it
on the held-out close-ups (issue 20).

    python benchmarks/handedness_real.py --out runs/handedness_real [--composites data/det2/train_a]

Features: ``--views`` augmented crops of every teacher hand of the close-ups' and signer frames'
TRAIN splits (:class:`~mobrecon.detect.handedness_data.RealHandCrops`) and of ``--count``
generated hands drawn from ``--composites`` (composite and still sets, :class:`~mobrecon.detect.handedness_data.HandCrops`), through the frozen
encoder of the shipped ``mobrecon_ghoststack``; the head (:func:`fit_head`) is written to
``OUT/handedness.pt`` with its record in ``OUT/record.json``. Scores: agreement with the
teacher on the held-out close-ups' training-style crops, for the shipped head and the new one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="mobrecon_ghoststack", help="the model whose encoder the head reads "
                    "(a registered name: its shipped weights; or a model file)")
    ap.add_argument("--realdata", default="../shared/realdata")
    ap.add_argument("--labels", default="/work/labels")
    ap.add_argument("--composites", default="data/det2/train_a", help="generated sets (composite and/or still "
                    "sets), comma-separated")
    ap.add_argument("--count", type=int, default=3000, help="generated hands drawn from them (augmented crops)")
    ap.add_argument("--views", type=int, default=2, help="augmented crops per real hand")
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    from mobrecon.data.crop import hand_box
    from mobrecon.data.real_photos import CloseUps, SignerFrames
    from mobrecon.detect.handedness import (HandednessClassifier, HandednessHead, encoder_features,
                                            encoder_fingerprint, save_head)
    from mobrecon.detect.handedness_data import HandCrops, RealHandCrops
    from mobrecon.detect.handedness_train import _crops_features, fit_head
    from mobrecon.data.crop import BOX_MARGIN
    from mobrecon.infer.predictor import load
    from mobrecon.io_utils import atomic_save_npz

    t0 = time.perf_counter()
    pred = load(a.model, detector=None, backend="torch")
    shipped = pred.handedness  # None when no shipped head fits this encoder (e.g. new weights)
    size = pred.model.cfg.input_size
    with torch.no_grad():  # the feature size of this encoder, for a placeholder head while extracting
        dim = encoder_features(pred.model.encoder.eval(), torch.zeros(1, 3, size, size)).shape[1]
    clf = HandednessClassifier(pred.model.encoder, HandednessHead(dim), input_size=size)
    root, labels = Path(a.realdata), Path(a.labels)
    real = RealHandCrops([CloseUps(root / "sign-language-digits", "train", labels=labels / "closeups.npz"),
                          SignerFrames(root / "rf100-hand-gestures", "train", labels=labels / "signers.npz")],
                         size=pred.model.cfg.input_size)
    comp = HandCrops(a.composites, size=pred.model.cfg.input_size, augment=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    feats = {}
    gen_idx = np.sort(np.random.default_rng(0).permutation(comp.n_hands)[:a.count])
    for name, crops, idx in (("real", real, np.arange(real.n_hands * a.views)), ("generated", comp, gen_idx)):
        cache = out / f"features_{name}_{len(idx)}.npz"  # features are kept: a re-fit reuses them
        if cache.is_file():
            with np.load(cache) as z:
                feats[name] = (z["fa"], z["fb"], z["left"])
            continue
        parts = [_crops_features(clf, crops, idx[s:s + 256]) for s in range(0, len(idx), 256)]
        feats[name] = tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
        atomic_save_npz(cache, dict(zip(("fa", "fb", "left"), feats[name])), compressed=False)
        print(f"{name}: {len(idx)} crops, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    fa, fb, y = (np.concatenate([feats["real"][k], feats["generated"][k]]) for k in range(3))
    head = fit_head(fa, fb, y, a.l2)

    test = CloseUps(root / "sign-language-digits", "test", labels=labels / "closeups.npz")
    p_old, p_new, truth = [], [], []
    new = HandednessClassifier(pred.model.encoder, head, input_size=pred.model.cfg.input_size)
    for j in range(test.num_hands):
        h = test.hand_sample(j)
        crop = hand_box(h["keypoints2d"], margin=BOX_MARGIN)
        p_old.append(shipped.prob_left(h["image"], [crop])[0] if shipped is not None else np.nan)
        p_new.append(new.prob_left(h["image"], [crop])[0])
        truth.append(h["hand"] == "left")
    truth = np.array(truth)
    rec = {"real_hands": real.n_hands, "views": a.views, "generated": a.composites, "generated_crops": len(gen_idx),
           "l2": a.l2, "train_accuracy": round(float(((head(torch.from_numpy(fa), torch.from_numpy(fb)) > 0).numpy()
                                                       == (y > 0.5)).mean()), 4),
           "closeups_test_hands": int(len(truth)),
           "closeups_test_agreement_shipped": (round(float(((np.array(p_old) >= 0.5) == truth).mean()), 4)
                                               if shipped is not None else None),
           "closeups_test_agreement_new": round(float(((np.array(p_new) >= 0.5) == truth).mean()), 4),
           "seconds": round(time.perf_counter() - t0, 1)}
    save_head(out / "handedness.pt", head, encoder_fingerprint(pred.model.encoder),
              {"model": pred.name, "data": f"real train crops ({real.n_hands} hands x {a.views}) + "
               f"{a.composites}", **{k: rec[k] for k in ("train_accuracy", "closeups_test_agreement_new")}})
    (out / "record.json").write_text(json.dumps(rec, indent=2) + "\n")
    print(json.dumps(rec, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

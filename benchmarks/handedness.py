"""Handedness classifier figures for docs/DETECTION.md: accuracy on held-out generated hands (as
rendered: right; mirrored: left), split by whether the palm or the back faces the camera and by
how edge-on the hand is; accuracy on composite hands (forearms, small hands, distractors); the
verdicts on the real photos in ``samples/`` (all left hands) and their mirror images (right);
and the classifier's latency per crop (1 and 2 threads: one encoder pass over the crop and its
mirror image, batch 2, plus the head).

    python benchmarks/handedness.py --stills data/hand/test --composites data/hand/comp_test
    python benchmarks/handedness.py --model mobrecon_densestack --weights runs/h/handedness.pt --json

Palm or back: the palm normal of a right hand, (index MCP - wrist) x (pinky MCP - wrist) in
camera space (OpenCV axes), points out of the palm; the palm faces the camera when that normal
points towards it, and ``|cos|`` of the angle between them says how face-on the hand is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def palm_cosine(joints3d: np.ndarray) -> np.ndarray:
    """(N, 21, 3) right-hand camera-space joints -> (N,) cosine between the palm normal,
    (index MCP - wrist) x (little MCP - wrist), which points out of a right palm, and the
    direction from the palm to the camera: > 0 when the palm faces the camera."""
    j = np.asarray(joints3d, np.float64)
    n = np.cross(j[:, 5] - j[:, 0], j[:, 17] - j[:, 0])
    to_cam = -(j[:, 0] + j[:, 5] + j[:, 17]) / 3
    return np.einsum("ij,ij->i", n, to_cam) / np.maximum(np.linalg.norm(n, axis=1) * np.linalg.norm(to_cam, axis=1),
                                                         1e-12)


def still_scores(clf, root: str) -> dict:
    """Accuracy on a still set, overall and by palm / back and face-on / edge-on."""
    from mobrecon.detect.handedness_data import HandCrops
    from mobrecon.synth import storage

    crops = HandCrops(root, size=clf.input_size)
    n = crops.n_hands
    x = np.stack([crops[i]["input"] for i in range(n)])
    p = np.concatenate([clf.prob_left_crops(x[s:s + 256]) for s in range(0, n, 256)])
    # the head is mirror-antisymmetric: a mirrored hand's P(left) is exactly 1 - p
    right = np.concatenate([p < 0.5, 1.0 - p >= 0.5])
    joints = np.concatenate([np.load(s / "annotations.npz")["joints3d"] for s in storage.complete_shards(root)])
    cos = np.tile(palm_cosine(joints), 2)
    groups = {"palm to camera": cos > 0, "back to camera": cos <= 0, "face-on (|cos| > 0.5)": np.abs(cos) > 0.5,
              "edge-on (|cos| < 0.25)": np.abs(cos) < 0.25}
    out = {"data": root, "hands": n, "accuracy": round(float(right.mean()), 4),
           "accuracy_right": round(float(right[:n].mean()), 4), "accuracy_left": round(float(right[n:].mean()), 4)}
    out["by_view"] = {k: {"crops": int(m.sum()), "accuracy": round(float(right[m].mean()), 4)} for k, m in groups.items()}
    return out


def photo_verdicts(clf) -> list[dict]:
    """The four left-hand photos in samples/ (whole image as the crop) and their mirror images."""
    from mobrecon.image import read_image

    rows = []
    for path in sorted((ROOT / "samples").glob("*.*")):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        rgb = read_image(path)
        for mirrored in (False, True):
            side, p = clf.classify(np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb)
            truth = "right" if mirrored else "left"
            rows.append({"photo": path.name, "mirrored": mirrored, "truth": truth, "said": side,
                         "p_left": round(p, 3)})
    return rows


def latency_ms(clf, threads: int, runs: int) -> float:
    from mobrecon.timing import time_calls

    torch.set_num_threads(threads)
    x = np.random.default_rng(0).normal(size=(1, 3, clf.input_size, clf.input_size)).astype(np.float32)
    return round(statistics.median(time_calls(lambda: clf.prob_left_crops(x), 10, runs)), 3)


def main(argv=None) -> int:
    from mobrecon.detect.handedness_train import evaluate_handedness
    from mobrecon.infer.predictor import load_handedness
    from mobrecon.models.weights import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mobrecon_ghoststack", help="reconstruction model whose encoder the head reads")
    ap.add_argument("--weights", help="handedness head file (default: the shipped head for --model)")
    ap.add_argument("--stills", default="data/hand/test", help="held-out still set (mobrecon synth)")
    ap.add_argument("--composites", help="held-out composite set (mobrecon detect-data)")
    ap.add_argument("--runs", type=int, default=200, help="timed calls per thread count")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)

    clf = load_handedness(args.weights or "auto", resolve_model(args.model))
    if clf is None:
        print(f"benchmarks/handedness.py: no shipped handedness head fits {args.model}", file=sys.stderr)
        return 2
    res = {"model": args.model, "weights": args.weights or "shipped", "meta": clf.meta,
           "head_parameters": int(clf.head.weight.numel())}
    if args.stills and Path(args.stills).is_dir():
        res["stills"] = still_scores(clf, args.stills)
    if args.composites:
        res["composites"] = {"data": args.composites, **evaluate_handedness(clf, args.composites)}
    res["photos"] = photo_verdicts(clf)
    res["photos_correct"] = f"{sum(r['said'] == r['truth'] for r in res['photos'])} of {len(res['photos'])}"
    res["latency_ms_per_crop"] = {str(t): latency_ms(clf, t, args.runs) for t in (1, 2)}
    text = json.dumps(res, indent=1)
    if args.out:
        from mobrecon.io_utils import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    if args.json:
        print(text)
    else:
        for k, v in res.items():
            print(f"{k}: {json.dumps(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hand detector figures for docs/DETECTION.md: AP at IoU 0.5 on a held-out composite set, detector
latency (batch 1; 1 and 2 threads) and the whole pipeline's frames/s (detector + reconstruction,
with and without the handedness head deciding left or right) beside reconstruction alone (a
given box) and video tracking (detector and handedness only when tracking is lost).

    python benchmarks/detector.py                       # shipped detector, data/det_test
    python benchmarks/detector.py --detector runs/hand_detector/detector.pt --json

The held-out set is made (1,000 images, seed 1; the shipped detector trained on seed 0) when
``--data`` does not exist. Reconstruction uses the shipped ``mobrecon_ghoststack`` weights
where they exist, else the same network with random weights (the same cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _median_ms(fn, warmup: int, runs: int) -> float:
    from mobrecon.timing import time_calls

    return statistics.median(time_calls(fn, warmup, runs))


def _photo(det, size=(480, 640)) -> tuple[np.ndarray, np.ndarray]:
    """A 640 x 480 composite-style photo with one hand that ``det`` finds (IoU > 0.5 at its
    default threshold, so the pipeline timings include a reconstruction), and the hand's box."""
    import cv2

    from mobrecon.detect.ap import box_iou
    from mobrecon.detect.composites import CompositeConfig, CompositeWorker

    h, w = size
    worker = CompositeWorker(CompositeConfig(count=1, seed=11, size=256, p_zero=0, p_two=0, occluder_prob=0))
    try:
        for i in range(200):
            s = worker.sample(i)
            if len(s["boxes"]) != 1 or (s["boxes"][0, 2:] - s["boxes"][0, :2]).min() <= 40:
                continue
            img = cv2.resize(s["image"], (w, h), interpolation=cv2.INTER_LINEAR)
            box = s["boxes"][0] * np.array([w / 256, h / 256, w / 256, h / 256])
            found = det.detect(img)
            if found and box_iou(np.array([found[0].box]), box[None])[0, 0] > 0.5:
                return img, box
    finally:
        worker.close()
    raise RuntimeError("no composite photo whose hand the detector finds in 200 tries")


def main(argv=None) -> int:
    from mobrecon.detect.dataset import CompositeDataset
    from mobrecon.detect.detector import HandDetector
    from mobrecon.detect.evaluate import evaluate_detector
    from mobrecon.infer.predictor import Predictor
    from mobrecon.models.weights import resolve_model, shipped_weights

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", help="detector file (default: the shipped one)")
    ap.add_argument("--data", default="data/det_test", help="held-out composite set")
    ap.add_argument("--count", type=int, help="score only the first N images")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    if not Path(args.data).is_dir():
        from mobrecon.detect.composites import CompositeConfig, generate_composites

        generate_composites(args.data, CompositeConfig(count=1000, seed=1), workers=1, progress=not args.json)
    try:
        det = HandDetector.load(args.detector)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks/detector.py: error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    result = {"detector": args.detector or "shipped", "data": args.data, "torch": torch.__version__,
              "params": sum(p.numel() for p in det.model.parameters())}
    result.update(evaluate_detector(det, CompositeDataset(args.data), count=args.count))

    photo, box = _photo(det)
    x = torch.zeros(1, 3, det.input_size, det.input_size)
    name = "mobrecon_ghoststack"
    model = resolve_model(name)
    result["reconstruction_weights"] = "shipped" if shipped_weights(name).is_file() else "random"
    from mobrecon.infer.predictor import load_handedness

    hands = load_handedness("auto", model)
    result["handedness_head"] = "shipped" if hands is not None else "none"
    pred = Predictor(model, name=name, detector=det, handedness=hands)
    timings = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            net_ms = _median_ms(lambda: det.model(x), 5, args.runs)
        detect_ms = _median_ms(lambda: det.detect(photo), 5, args.runs)
        recon_ms = _median_ms(lambda: pred.predict(photo, box=box, hand="right"), 5, args.runs)
        told_ms = _median_ms(lambda: pred.predict_hands(photo, hand="right"), 5, args.runs)
        pipe_ms = _median_ms(lambda: pred.predict_hands(photo), 5, args.runs)
        frames = [np.roll(photo, 2 * i, axis=1) for i in range(args.runs)]
        t0 = time.perf_counter()
        _, report = pred.predict_video(frames)
        video_fps = len(frames) / (time.perf_counter() - t0)
        timings.append({"threads": threads, "detector_net_ms": round(net_ms, 2), "detect_640x480_ms": round(detect_ms, 2),
                        "reconstruction_only_fps": round(1000 / recon_ms, 1),
                        "detector_reconstruction_fps": round(1000 / told_ms, 1), "pipeline_fps": round(1000 / pipe_ms, 1),
                        "video_tracking_fps": round(video_fps, 1), "video_detector_runs": report["detector_runs"],
                        "hands_found_in_photo": len(det.detect(photo))})
    result["timings"] = timings
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"detector {result['detector']} ({result['params']:,} params) on {args.data}: {result['images']} images, "
          f"{result['hands']} hands: AP@0.5 {result['ap50']:.3f}; at threshold {result['threshold']}: precision "
          f"{result['precision']:.3f}, recall {result['recall']:.3f}, handedness {result['handedness_accuracy']}")
    print(f"reconstruction weights: {result['reconstruction_weights']}; 640x480 photo, batch 1, median of {args.runs}")
    print("| threads | detector net (256x256) | detect (640x480, letterbox + decode) | reconstruction only | "
          "detector + reconstruction | detector + handedness + reconstruction | video, tracked |")
    print("|---|---|---|---|---|---|---|")
    for t in timings:
        print(f"| {t['threads']} | {t['detector_net_ms']:.1f} ms | {t['detect_640x480_ms']:.1f} ms | "
              f"{t['reconstruction_only_fps']:.1f} frames/s | {t['detector_reconstruction_fps']:.1f} frames/s | "
              f"{t['pipeline_fps']:.1f} frames/s | "
              f"{t['video_tracking_fps']:.1f} frames/s ({t['video_detector_runs']} detector runs / {args.runs} frames) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

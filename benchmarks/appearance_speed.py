"""Time the synthetic-appearance functions (mobrecon.synth.appearance): milliseconds per call
of make_background (each kind, 128 and 256 px), draw_occluders and augment_photometric.
Usage: python benchmarks/appearance_speed.py [--reps N] [--threads T]"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from mobrecon.photometric import augment_photometric
from mobrecon.synth.appearance import (
    BACKGROUND_KINDS,
    draw_occluders,
    make_background,
)


def _ms_per_call(fn, reps: int) -> tuple[float, float]:
    """(median, max) milliseconds per call over ``reps`` calls, after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.max(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's choice)")
    args = ap.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    print(f"OpenCV threads: {cv2.getNumThreads()}, reps: {args.reps}; figures are median / max ms per call")
    rng = np.random.default_rng(0)
    print(f"{'function':<34}{'128 px':>16}{'256 px':>16}")
    for kind in (*BACKGROUND_KINDS, None):
        cells = []
        for size in (128, 256):
            med, mx = _ms_per_call(lambda: make_background(rng, size, kind), args.reps)
            cells.append(f"{med:6.2f} / {mx:6.2f}")
        name = f"make_background({kind or 'random'})"
        print(f"{name:<34}{cells[0]:>16}{cells[1]:>16}")
    for label, fn in (("draw_occluders", lambda img: draw_occluders(rng, img)),
                      ("augment_photometric", lambda img: augment_photometric(rng, img))):
        cells = []
        for size in (128, 256):
            img = make_background(np.random.default_rng(1), size)[0]
            med, mx = _ms_per_call(lambda: fn(img), args.reps)
            cells.append(f"{med:6.2f} / {mx:6.2f}")
        print(f"{label:<34}{cells[0]:>16}{cells[1]:>16}")


if __name__ == "__main__":
    main()

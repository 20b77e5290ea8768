"""The README's figure of the bundled real photographs: each photo with the reconstructed mesh
and 2D joints over it (top row) and the mesh from the side (bottom row), as one PNG.

    python benchmarks/real_photos.py --png docs/real_photos.png          # shipped GhostStack
    python benchmarks/real_photos.py --model runs/x/model.pt --hand left --png /tmp/photos.png

The photos in ``samples/`` are close-ups of a left hand, so by default the whole photo is the
crop (no detector) and each is mirrored through the right-hand network and back (``--hand``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", nargs="*", help="photos (default: every .jpg / .png in samples/)")
    ap.add_argument("--model", default="mobrecon_ghoststack", help="a registry name or a model file")
    ap.add_argument("--hand", choices=("left", "right"), default="left")
    ap.add_argument("--height", type=int, default=280, help="overlay height in the figure, pixels")
    ap.add_argument("--png", default="real_photos.png", help="the figure to write")
    args = ap.parse_args(argv)

    from mobrecon.infer.outputs import overlay, side_view
    from mobrecon.image import read_image
    from mobrecon.infer.predictor import load
    from mobrecon.io_utils import atomic_write_png
    from mobrecon.viz.render import MeshRenderer

    photos = args.photos or sorted(str(p) for p in (REPO / "samples").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not photos:
        raise SystemExit("no photos given and none in samples/")
    predictor = load(args.model, detector=None)
    tops, bottoms = [], []
    with MeshRenderer() as renderer:
        for path in photos:
            image = read_image(path)
            result = predictor.predict(image, hand=args.hand)
            top = fit_height(overlay(image, result, renderer), args.height)
            side = fit_height(side_view(result, renderer, size=384), 200)
            pad = np.full((200, top.shape[1], 3), 255, np.uint8)
            x = max(0, (top.shape[1] - side.shape[1]) // 2)
            pad[:, x: x + min(side.shape[1], top.shape[1])] = side[:, : top.shape[1]]
            tops.append(top)
            bottoms.append(pad)
    figure = np.concatenate([np.concatenate(tops, 1), np.concatenate(bottoms, 1)], 0)
    out = Path(args.png)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_png(out, figure)
    print(f"wrote {out} ({len(photos)} photos, model {args.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Preview of the synthetic look (issue 19): the same samples (seed, index: same pose and view;
photo backgrounds change the other random draws of the look) in the old look and in the new
one (forearm, photo backgrounds, camera effects), above a row of real close-ups from ../shared/realdata/sign-language-digits
(Apache-2.0, Mavi, arXiv:2011.08927; shown only, never copied into the repo apart from this
small preview). Prints the generation speed of both looks.

    python benchmarks/look_preview.py --png docs/synth_forearm.png
    python benchmarks/look_preview.py --skin --size 192 --png docs/synth_skin.png   # per-vertex vs UV skin
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mobrecon.io_utils import atomic_write_png
from mobrecon.synth.dataset import SynthDataset
from mobrecon.synth.generator import SynthConfig, generate

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "sign-language-digits" / "Dataset"
LOOKS = {"old look": {}, "new look": dict(forearm=1.0, photo_bg=0.6, camera_fx=1.0)}
SKIN_LOOKS = {"vertex skin": {}, "UV skin": dict(skin_texture=1.0)}  # --skin: same samples otherwise


def real_row(n: int, size: int, seed: int) -> list[np.ndarray]:
    """``n`` random close-ups (one per digit folder, cycling) resized to ``size``; [] if absent."""
    if not REAL.is_dir():
        print(f"note: {REAL} not found: no row of real photos")
        return []
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        files = sorted((REAL / str(k % 10)).glob("*.[jJ][pP]*[gG]"))
        img = cv2.imread(str(files[int(rng.integers(len(files)))]))[..., ::-1]
        out.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--png", required=True)
    ap.add_argument("--n", type=int, default=6, help="images per row")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--skin", action="store_true", help="compare per-vertex skin with the UV skin texture instead")
    args = ap.parse_args()
    rows, names = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in (SKIN_LOOKS if args.skin else LOOKS).items():
            cfg = SynthConfig(count=args.n, seed=args.seed, size=args.size, occluder_prob=0.0, **kw)
            run = generate(Path(tmp) / name.replace(" ", "_"), cfg, progress=False)["last_run"]
            print(f"{name}: {run['images_per_second']} images/s (1 worker, {args.n} images, including start-up)")
            ds = SynthDataset(Path(tmp) / name.replace(" ", "_"))
            rows.append([ds[i]["image"] for i in range(len(ds))])
            names.append(name)
    real = real_row(args.n, args.size, args.seed)
    if real:
        rows.append(real)
        names.append("real photos")
    pad = 96
    sheet = np.full((len(rows) * args.size, pad + args.n * args.size, 3), 255, np.uint8)
    for r, (row, name) in enumerate(zip(rows, names)):
        for c, img in enumerate(row):
            sheet[r * args.size:(r + 1) * args.size, pad + c * args.size:pad + (c + 1) * args.size] = img
        cv2.putText(sheet, name, (6, r * args.size + args.size // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    atomic_write_png(Path(args.png), sheet)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()

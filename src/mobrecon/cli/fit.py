"""``mobrecon fit``: fit OpenHand to a teacher's labels (``mobrecon label``): pseudo-meshes."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mobrecon.cli.common import UserError
from mobrecon.data.pseudo_mesh import FitConfig, fit_labels, read_labels
from mobrecon.data.root import default_intrinsics
from mobrecon.hand.load import load_hand
from mobrecon.io_utils import atomic_save_npz


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("labels", help="a teacher labels .npz")
    f.add_argument("--out", required=True, help="write the fits here (.npz)")
    f.add_argument("--force", action="store_true", help="replace --out if it exists")
    f.add_argument("--batch-size", type=int, default=256, help="hands fitted together")
    f.add_argument("--threads", type=int, default=1, help="CPU threads")
    f.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    if Path(args.out).exists() and not args.force:
        raise UserError(f"--out {args.out}: exists (pass --force to replace it)")
    if args.batch_size < 1 or args.threads < 1:
        raise UserError("--batch-size and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    labels = read_labels(args.labels)
    size = labels["size"][labels["image"]]
    K = np.stack([default_intrinsics(int(w), int(h)) for w, h in size]) if len(size) else np.zeros((0, 3, 3))
    cfg = FitConfig(batch_size=args.batch_size)
    with tqdm(total=len(size), unit="hand", disable=args.quiet) as bar:
        fits = fit_labels(load_hand("openhand"), labels, K, cfg, progress=bar.update)
    fits["labels"] = np.str_(str(Path(args.labels).resolve()))
    atomic_save_npz(args.out, fits)
    keep, r2, r3 = fits["keep"], fits["residual_2d"], fits["residual_3d"]
    med = f"; median residual {np.median(r2):.3f} box, {np.median(r3):.1f} mm" if len(r2) else ""
    print(f"{args.out}: {len(keep)} hands fitted, {int(keep.sum())} kept{med}")
    return 0

"""Gradient share of each loss term (issue 16, step 3): for a few training batches, the norm of
each weighted term's gradient on the encoder, on the 2D head and on the 3D part (lifting +
decoder), as a share of the sum over terms. A term whose share is tiny barely trains the
shared encoder, whatever its weight says.

    python benchmarks/loss_shares.py --data data/synth_test --batches 4
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

from mobrecon.data.synth import SynthSet
from mobrecon.data.transform import AugmentConfig, TrainTransform
from mobrecon.models.weights import load_model
from mobrecon.train.losses import LossWeights, mesh_recon_losses
from mobrecon.train.trainer import AugmentedSet

PARTS = {"encoder": ("encoder.",), "pose2d": ("pose2d.",), "mesh": ("lifting.", "decoder.")}


def shares(model, batch: dict, weights: LossWeights, views: int, size: int) -> dict:
    model.train()
    out = model(batch["image"].flatten(0, 1))
    terms = mesh_recon_losses(out, batch, model.faces, weights, views, size)
    params = {part: [p for n, p in model.named_parameters() if n.startswith(pre)] for part, pre in PARTS.items()}
    norms = {}
    names = [k for k in terms if k != "total"]
    for k in names:
        grads = torch.autograd.grad(terms[k], [p for ps in params.values() for p in ps], retain_graph=True,
                                    allow_unused=True)
        i, norms[k] = 0, {}
        for part, ps in params.items():
            g = [x for x in grads[i:i + len(ps)] if x is not None]
            norms[k][part] = float(torch.sqrt(sum((x ** 2).sum() for x in g))) if g else 0.0
            i += len(ps)
    return {k: {**norms[k], "value": float(terms[k])} for k in names}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="src/mobrecon/weights/mobrecon_ghoststack.pt")
    ap.add_argument("--data", default="data/synth_test")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--unit3d", type=float, default=1.0, help="the 3D terms' unit in metres (loss.unit3d)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    model = load_model(args.model)
    cfg = AugmentConfig()
    data = AugmentedSet(SynthSet(args.data), TrainTransform(cfg), seed=0)
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True)
    w = LossWeights(unit3d=args.unit3d)
    acc: dict = {}
    for b, batch in zip(range(args.batches), loader):
        for k, v in shares(model, batch, w, cfg.views, cfg.size).items():
            for part, x in v.items():
                acc.setdefault(k, {}).setdefault(part, []).append(x)
    mean = {k: {p: float(np.mean(x)) for p, x in v.items()} for k, v in acc.items()}
    for part in PARTS:
        total = sum(v[part] for v in mean.values()) or 1.0
        for v in mean.values():
            v[f"{part}_share"] = round(v[part] / total, 3)
    print(json.dumps(mean, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

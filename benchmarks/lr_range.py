"""Learning-rate range test (issue 16, step 3): from a starting model, train with the learning
rate rising exponentially from ``--lo`` to ``--hi`` over ``--steps`` steps of a config's recipe
and print the loss (exponentially smoothed) against the learning rate. The useful peak rate is
a little below where the smoothed loss is lowest / starts to climb.

    python benchmarks/lr_range.py --config configs/mobrecon_ghoststack_recipe.yaml --steps 120
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
from torch.utils.data import DataLoader

from mobrecon.data.mixed import open_mixture
from mobrecon.data.transform import TrainTransform
from mobrecon.train.config import load_config
from mobrecon.train.losses import mesh_recon_losses
from mobrecon.train.trainer import AugmentedSet, _init_from, build_net


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--lo", type=float, default=1e-5)
    ap.add_argument("--hi", type=float, default=1e-2)
    ap.add_argument("--batch-size", type=int, default=0, help="override the config's")
    ap.add_argument("--json", default="", help="write the curve here")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads or 1)
    model, net = build_net(cfg)
    if cfg.init:
        _init_from(cfg.init, cfg, model, net)
    net.train()
    optim = torch.optim.Adam(net.parameters(), lr=args.lo)
    bs = args.batch_size or cfg.batch_size
    data = AugmentedSet(open_mixture(cfg.data.train, seed=cfg.seed), TrainTransform(cfg.augment), cfg.seed)
    loader = iter(DataLoader(data, batch_size=bs, shuffle=True, num_workers=0, drop_last=True))
    views, size = cfg.augment.views, cfg.augment.size
    curve, smooth, best = [], None, math.inf
    for t in range(args.steps):
        lr = args.lo * (args.hi / args.lo) ** (t / max(args.steps - 1, 1))
        for g in optim.param_groups:
            g["lr"] = lr
        batch = next(loader)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.amp):
            out = net(batch["image"].flatten(0, 1))
        out = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()}
        terms = mesh_recon_losses(out, batch, model.faces, cfg.loss, views, size)
        optim.zero_grad(set_to_none=True)
        terms["total"].backward()
        optim.step()
        loss = terms["total"].item()
        smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
        debiased = smooth
        best = min(best, debiased)
        curve.append({"step": t, "lr": lr, "loss": loss, "smoothed": debiased})
        print(f"{t:4d}  lr {lr:.2e}  loss {loss:.4f}  smoothed {debiased:.4f}", flush=True)
        if not math.isfinite(loss) or debiased > 4 * best:
            break
    settled = curve[10:] or curve  # the smoothed curve starts at the first loss: skip its first steps
    low = min(settled, key=lambda r: r["smoothed"])
    print(f"lowest smoothed loss {low['smoothed']:.4f} at lr {low['lr']:.2e} (step {low['step']})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": args.config, "batch_size": bs, "curve": curve,
                       "lowest": low}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

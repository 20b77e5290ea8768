"""``mobrecon train``: train a model (stage 1: 2D pose; stage 2: the whole network) from a YAML
run config. Run from the shell it starts again with jemalloc (see :mod:`mobrecon.cli`); under
``torchrun -m mobrecon.cli train ...`` each process trains its share (DDP)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mobrecon.train.config import load_config
from mobrecon.train.trainer import train


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--config", required=True, help="a YAML run config, e.g. configs/mobrecon_ghoststack.yaml")
    t.add_argument("--data", help="training data (overrides data.train): DIR, KIND:DIR, or a mixture A=0.7,B=0.3")
    t.add_argument("--out", help="run directory (default runs/<config name>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    t.add_argument("--init", help="start from this checkpoint (e.g. a stage-1 run's last.pt)")
    t.add_argument("--epochs", type=int, help="override epochs")
    t.add_argument("--batch-size", type=int, help="override batch_size")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    t.add_argument("--workers", type=int, help="override data.workers (DataLoader processes)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    overrides = {k: v for k, v in (("data.train", args.data), ("max_steps", args.max_steps),
                                   ("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("data.workers", args.workers), ("init", args.init)) if v is not None}
    cfg = load_config(args.config, **overrides)
    out = args.out or str(Path("runs") / Path(args.config).stem)
    result = train(cfg, out, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the first process reports
        return 0
    print(f"{out}: {result['status']} at step {result['step']} (epoch {result['epoch']}); "
          f"checkpoint {result['checkpoint']}" + (f", model {result['model']}" if "model" in result else ""))
    return 130 if result["status"] == "interrupted" else 0

"""``mobrecon handedness-train``: fit the handedness head (a mirror-antisymmetric logistic
read-out) on a reconstruction model's encoder, from generated sets; the features are kept in
the run directory, so a re-run resumes."""

from __future__ import annotations

import argparse

import torch

from mobrecon.cli.common import UserError
from mobrecon.detect.handedness_train import HandednessTrainConfig, train_handedness


def add_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("--data", help="still sets (mobrecon synth) and/or composite sets (mobrecon detect-data), "
                   "comma-separated")
    g.add_argument("--val", help="sets scored at the end and recorded with the head (comma-separated)")
    g.add_argument("--model", default="mobrecon_ghoststack", help="the reconstruction model whose encoder the head "
                   "reads (a registered name or a model file)")
    g.add_argument("--views", type=int, default=1, help="augmented crops per hand")
    g.add_argument("--l2", type=float, default=1e-3, help="weight decay of the logistic fit")
    g.add_argument("--seed", type=int, default=0, help="seed of the augmentation")
    g.add_argument("--out", default="runs/handedness", help="run directory (features are kept "
                   "there, so a re-run resumes)")
    g.add_argument("--threads", type=int, help="CPU threads")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data:  # checked here, not by argparse: the old `handedness --train` gave this line
        raise UserError("give --data DIR[,DIR...]: still sets from mobrecon synth and/or composite "
                        "sets from mobrecon detect-data")
    cfg = HandednessTrainConfig(data=args.data, model=args.model, val=args.val, views=args.views, l2=args.l2,
                                seed=args.seed, threads=args.threads)
    result = train_handedness(cfg, args.out, progress=not args.quiet)
    vals = "; ".join(f"{k}: accuracy {v['accuracy']:.3f}" for k, v in result["val"].items())
    print(f"{args.out}: head {result['model']} from {result['crops']} crops, training accuracy "
          f"{result['train_accuracy']:.3f}" + (f"; {vals}" if vals else ""))
    return 0

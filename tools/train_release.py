"""Make a release model end to end: generated data, the two-stage recipe, held-out scores and
the weights file that ships in ``src/mobrecon/weights/``.

    python tools/train_release.py --model mobrecon_ghoststack --root runs/release \
        --minutes1 4 --minutes2 10 --workers 8 --gen-workers 16

Steps (``--steps``, comma-separated, default all; each one skips what is already done and a
stage resumes from its ``last.pt``, so the command can be run again after an interruption):

``gen``     the training sets (uniform- and random-mode stills) and the held-out sets (random
            stills and videos from other seeds: poses, views, shapes, backgrounds and lights not
            seen in training) under ROOT/data.
``stage1``  the 2D encoder (configs/<model>_stage1.yaml).  ``stage2`` the whole network
            (configs/<model>.yaml) from stage 1. Each stage first times 40 steps, then sets its
            epoch length so the run fits ``--minutes1``/``--minutes2`` (stage 1: 8 epochs, stage 2:
            19) with one cosine over the run (``train.schedule.budget_schedule``; the paper's
            step decays scaled to a short run left stage 1 at lr <= 1e-4 for three quarters of it).
``stage3``  continues a model file (``--init``, default the shipped weights) with
            configs/<model>_continue.yaml: a cosine schedule over ``--minutes3`` (epochs fixed,
            epoch length from the measured rate), batch ``--batch3``, bfloat16 on a GPU.
``eval``    scores the last stage's model on the held-out stills and videos (ROOT/<model>/metrics.json).
``ship``    writes the fp16 weights with a ``release`` record (data, steps, wall time, hardware,
            metrics) to ``--ship-dir``/<model>.pt.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
STEPS = ("gen", "stage1", "stage2", "stage3", "eval", "ship")
SETS = {  # name: (kind, settings)
    "train_uniform": ("still", dict(mode="uniform", seed=101)),
    "train_random": ("still", dict(mode="random", seed=102)),
    "test": ("still", dict(mode="random", seed=9001)),
    "test_video": ("video", dict(seed=9002)),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def hardware() -> str:
    if torch.cuda.is_available():
        return f"1x {torch.cuda.get_device_name(0)}"
    import os

    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def gen(root: Path, args) -> dict:
    from mobrecon.synth.generator import SynthConfig, generate
    from mobrecon.synth.video import VideoConfig, generate_video

    counts = {"train_uniform": args.uniform, "train_random": args.random, "test": args.test}
    made = {}
    for name, (kind, settings) in SETS.items():
        t0 = time.perf_counter()
        if kind == "still":
            cfg = SynthConfig(count=counts[name], shard_size=500, **settings)
            generate(root / "data" / name, cfg, workers=args.gen_workers, progress=False)
        else:
            cfg = VideoConfig(sequences=args.video_sequences, frames=args.video_frames, fps=30.0, **settings)
            generate_video(root / "data" / name, cfg, workers=args.gen_workers, progress=False)
        made[name] = {"kind": kind, **settings, "seconds": round(time.perf_counter() - t0, 1),
                      "count": counts.get(name, args.video_sequences * args.video_frames)}
        log(f"gen {name}: {made[name]}")
    (root / "data" / "sets.json").write_text(json.dumps(made, indent=2))
    return made


def train_spec(root: Path) -> str:
    d = root / "data"
    return f"synth:{d / 'train_uniform'}=0.5,synth:{d / 'train_random'}=0.5"


def _rate(log_file: Path) -> float:
    recs = [json.loads(line) for line in log_file.read_text().splitlines()]
    rates = [r["samples_per_s"] for r in recs if "samples_per_s" in r and r["step"] >= 20]
    if not rates:
        raise RuntimeError(f"{log_file}: no throughput records")
    return float(np.median(rates))


def run_stage(root: Path, args, stage: int) -> Path:
    from mobrecon.data.mixed import open_mixture
    from mobrecon.train.config import load_config
    from mobrecon.train.trainer import train
    from mobrecon.train.schedule import budget_schedule

    out = root / args.model / f"stage{stage}"
    if (out / "done.json").exists():
        log(f"stage {stage}: already done")
        return out
    if (out / "last.pt").exists():
        cfg = load_config(out / "config.yaml")
        log(f"stage {stage}: resuming {out}")
    else:
        name = {1: f"{args.model}_stage1", 2: args.model, 3: args.config3 or f"{args.model}_continue"}[stage]
        over = {"data.train": train_spec(root), "data.workers": args.workers, "log_every": 10,
                "checkpoint_every": 1000, "threads": args.threads}
        if stage == 1:
            over.update({"batch_size": args.batch1})
        else:
            init = root / args.model / "stage1" / "last.pt" if stage == 2 else Path(args.init or default_init(args))
            over.update({"batch_size": args.batch2 if stage == 2 else args.batch3, "init": str(init),
                         "data.val": f"synth:{root / 'data' / 'test'}", "data.val_count": 300})
        for kv in args.set:
            key, sep, value = kv.partition("=")
            if not sep:
                raise SystemExit(f"--set: expected KEY=VALUE, got {kv!r}")
            over[key] = yaml.safe_load(value)
        cfg = load_config(REPO / "configs" / f"{name}.yaml", **over)
        probe = root / args.model / f"probe{stage}"
        shutil.rmtree(probe, ignore_errors=True)
        train(replace(cfg, max_steps=args.probe_steps, checkpoint_every=0, data=replace(cfg.data, val="")),
              probe, progress=False)
        rate = _rate(probe / "log.jsonl")
        minutes = {1: args.minutes1, 2: args.minutes2, 3: args.minutes3}[stage]
        total = max(int(minutes * 60 * rate / cfg.batch_size * 0.97), 50)
        if stage == 3:  # cosine over the whole run: the config's epochs, each a share of it,
            # more of them if a share would be longer than one pass over the data (the trainer
            # ends an epoch there, so the run would stop short of its budget)
            one_pass = max(len(open_mixture(cfg.data.train)) // cfg.batch_size, 1)
            epochs, optim = max(cfg.epochs, -(-total // one_pass)), cfg.optim
        else:  # one cosine over the budget (the paper's step decays, scaled down, starve a short run)
            epochs = 8 if stage == 1 else 19
            optim = budget_schedule(cfg.optim, epochs * max(total // epochs, 1))
        cfg = replace(cfg, epochs=epochs, epoch_steps=max(total // epochs, 1), optim=optim)
        log(f"stage {stage}: {rate:.0f} samples/s -> {epochs} epochs x {cfg.epoch_steps} steps of {cfg.batch_size}")
    t0 = time.perf_counter()
    result = train(cfg, out, resume=(out / "last.pt").exists(), progress=False)
    # wall time over every invocation of this stage (an interrupted one is resumed later)
    wall = out / "wall.json"
    seconds = (json.loads(wall.read_text())["seconds"] if wall.exists() else 0.0) + time.perf_counter() - t0
    wall.write_text(json.dumps({"seconds": round(seconds, 1)}))
    if result["status"] != "done":
        raise SystemExit(f"stage {stage} stopped: {result['status']} at step {result['step']}")
    (out / "done.json").write_text(json.dumps({"steps": result["step"], "epochs": result["epoch"],
                                               "batch_size": cfg.batch_size, "seconds": round(seconds, 1)}))
    log(f"stage {stage}: done, {result['step']} steps in {seconds / 60:.1f} min")
    return out


def default_init(args) -> Path:
    return REPO / "src" / "mobrecon" / "weights" / f"{args.model}.pt"


def last_stage(root: Path, args) -> Path:
    """The run directory of the model to score and ship: stage 3 if it ran, else stage 2."""
    run = root / args.model
    return run / "stage3" if (run / "stage3" / "done.json").exists() else run / "stage2"


def evaluate_model(root: Path, args) -> dict:
    from mobrecon.data.mixed import open_dataset
    from mobrecon.eval.evaluate import evaluate
    from mobrecon.models.weights import load_model

    model = load_model(last_stage(root, args) / "model.pt")
    if torch.cuda.is_available():
        model = model.cuda()
    stills = evaluate(model, open_dataset(f"synth:{root / 'data' / 'test'}"), batch_size=64, workers=args.workers,
                      progress=False)
    video = evaluate(model, open_dataset(f"synth:{root / 'data' / 'test_video'}"), batch_size=64,
                     workers=args.workers, progress=False, crop="full", fps=30.0)
    metrics = {"test": stills, "test_video": video}
    (root / args.model / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log(f"eval: PA-MPJPE {stills['pa_mpjpe_mm']:.2f} mm, PA-MPVPE {stills['pa_mpvpe_mm']:.2f} mm, "
        f"accel3d {video['accel3d_mm_s2']:.0f} mm/s^2")
    return metrics


def ship(root: Path, args) -> Path:
    from mobrecon.models.weights import load_model, save_model

    run = root / args.model
    model = load_model(last_stage(root, args) / "model.pt")
    record = {"data": json.loads((root / "data" / "sets.json").read_text())}
    for stage in ("stage1", "stage2", "stage3"):
        if (run / stage / "done.json").exists():
            record[stage] = json.loads((run / stage / "done.json").read_text())
    if "stage3" in record:  # what it continued: that file's own record
        init = Path(yaml.safe_load((run / "stage3" / "config.yaml").read_text())["init"])
        record["stage3"]["init"] = init.name
        record["continued_from"] = torch.load(init, map_location="cpu", weights_only=True)["meta"].get("release", {})
    record["hardware"] = json.loads((run / "hardware.json").read_text())["hardware"]
    record["metrics"] = json.loads((run / "metrics.json").read_text())
    dest = Path(args.ship_dir) / f"{args.model}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_model(dest, model, args.model, meta={"release": record})
    log(f"ship: {dest} ({dest.stat().st_size / 2**20:.1f} MiB)")
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobrecon_ghoststack")
    ap.add_argument("--root", default="runs/release")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--uniform", type=int, default=60000, help="uniform-mode training images")
    ap.add_argument("--random", type=int, default=40000, help="random-mode training images")
    ap.add_argument("--test", type=int, default=1000, help="held-out random-mode stills")
    ap.add_argument("--video-sequences", type=int, default=8)
    ap.add_argument("--video-frames", type=int, default=90)
    ap.add_argument("--gen-workers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader processes per training run")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch1", type=int, default=128)
    ap.add_argument("--batch2", type=int, default=64)
    ap.add_argument("--minutes1", type=float, default=4.0)
    ap.add_argument("--minutes2", type=float, default=10.0)
    ap.add_argument("--batch3", type=int, default=128)
    ap.add_argument("--minutes3", type=float, default=15.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for the stages started now, e.g. optim.lr=3.0e-4 (repeatable)")
    ap.add_argument("--config3", default="", help="stage 3: the config's name under configs/ "
                    "(default <model>_continue)")
    ap.add_argument("--init", default="", help="stage 3: the model file to continue (default: the shipped one)")
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--ship-dir", default=str(REPO / "src" / "mobrecon" / "weights"))
    args = ap.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise SystemExit(f"--steps: unknown step {bad[0]!r} (known: {', '.join(STEPS)})")

    import cv2

    cv2.setNumThreads(1)  # DataLoader workers inherit it: one thread each
    torch.backends.cudnn.benchmark = True
    root = Path(args.root)
    (root / args.model).mkdir(parents=True, exist_ok=True)
    (root / args.model / "hardware.json").write_text(json.dumps({"hardware": hardware()}))
    if "gen" in steps:
        gen(root, args)
    if "stage1" in steps:
        run_stage(root, args, 1)
    if "stage2" in steps:
        run_stage(root, args, 2)
    if "stage3" in steps:
        run_stage(root, args, 3)
    if "eval" in steps:
        evaluate_model(root, args)
    if "ship" in steps:
        ship(root, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

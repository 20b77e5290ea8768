"""Train the paper's main ablation pairs briefly on the same generated data and print (or put
into docs/NETWORK.md) a table like the paper's Tables 2 and 4 with the measured numbers.

Variants (all DenseStack, as in the paper): 2D representation (heatmap with joint-wise pooling,
heatmap + soft-argmax, direct regression, MapReg), lifting (FC vs PVL) and 3D decoding
(SpiralConv++ vs DSConv). Every variant gets the same data, seed, steps and recipe (stage 2
only, two views with the consistency losses); scores: 2D error and PCK AUC, PA-MPJPE and
PA-MPVPE on a held-out still set (random-mode poses, unseen seed), and 2D/3D acceleration error
on a held-out generated video set (whole frames as crops, so the tracker's jitter is in them).

Usage: python benchmarks/ablation.py --work out/ablation [--steps 400 --batch 8] [--readme docs/NETWORK.md]
Resumable: data generation and each variant's training continue where they stopped.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch

from mobrecon.io_utils import atomic_write_text

VARIANTS = [  # (registry name, Table, row label)
    ("densestack_heatmap_jointpool_pvl_dsconv", "2", "heatmap, joint-wise pooling"),
    ("densestack_softargmax_pvl_dsconv", "2", "heatmap + soft-argmax, grid sampling"),
    ("densestack_reg_pvl_dsconv", "2", "regression, grid sampling"),
    ("mobrecon_densestack", "2 / 4", "MapReg + PVL + DSConv (MobRecon)"),
    ("densestack_mapreg_fc_dsconv", "2", "MapReg, FC lifting"),
    ("densestack_mapreg_pvl_spiralconv", "4", "MapReg + PVL, SpiralConv++"),
]
START, END = "<!-- ablation:start -->", "<!-- ablation:end -->"


def make_data(work: Path, args) -> dict[str, Path]:
    from mobrecon.synth.generator import SynthConfig, generate
    from mobrecon.synth.video import VideoConfig, generate_video

    paths = {"train": work / "train", "test": work / "test", "video": work / "video"}
    generate(paths["train"], SynthConfig(count=args.train_count, seed=11, mode="uniform", shard_size=250),
             workers=args.workers, progress=True)
    generate(paths["test"], SynthConfig(count=args.test_count, seed=12, mode="random", shard_size=250),
             workers=args.workers, progress=True)
    generate_video(paths["video"], VideoConfig(sequences=args.video_sequences, frames=args.video_frames, seed=13),
                   workers=args.workers, progress=True)
    return paths


def run_variant(name: str, paths: dict, work: Path, args) -> dict:
    from mobrecon.data.synth import SynthSet
    from mobrecon.eval.evaluate import evaluate
    from mobrecon.models.costs import model_costs
    from mobrecon.models.weights import load_model
    from mobrecon.train.config import DataConfig, TrainConfig
    from mobrecon.train.trainer import train

    run = work / "runs" / name
    result_file = run / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    cfg = TrainConfig(model=name, stage="mesh", epochs=10_000, batch_size=args.batch, max_steps=args.steps,
                      checkpoint_every=100, log_every=20, seed=0, threads=args.threads,
                      data=DataConfig(train=f"synth:{paths['train']}", workers=1))
    t0 = time.perf_counter()
    out = train(cfg, run, resume=(run / "last.pt").exists(), progress=True)
    if out["status"] == "interrupted":
        raise SystemExit(f"{name}: interrupted; run again to resume")
    wall = time.perf_counter() - t0
    model = load_model(run / "model.pt")
    still = evaluate(model, SynthSet(paths["test"]), batch_size=32, progress=False)
    video = evaluate(model, SynthSet(paths["video"]), batch_size=32, progress=False, crop="full")
    costs = model_costs(build_plain(name))
    res = {"model": name, "steps": out["step"], "batch": args.batch, "train_wall_s": round(wall, 1),
           "macs_M": round(costs["macs"] / 1e6, 1), "params_M": round(costs["params"] / 1e6, 3),
           "still": still, "video": video}
    atomic_write_text(result_file, json.dumps(res, indent=1))
    return res


def build_plain(name: str):
    from mobrecon.models import build

    torch.manual_seed(0)
    return build(name).eval()


def table(results: list[dict], args) -> str:
    rows = [f"Measured by `python benchmarks/ablation.py` ({args.steps} steps of batch {args.batch} x 2 views, "
            f"stage 2 only, {args.train_count:,} uniform-mode training images; held-out: {args.test_count} "
            f"random-mode stills, {args.video_sequences} x {args.video_frames}-frame videos at 30 fps).", "",
            "| Table | variant | Mult-Adds | params | 2D err (px) | 2D AUC 0-30 px | PA-MPJPE (mm) | "
            "PA-MPVPE (mm) | 2D accel err (px/s²) | 3D accel err (mm/s²) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    label = {n: (t, l) for n, t, l in VARIANTS}
    for r in results:
        t, l = label[r["model"]]
        s, v = r["still"], r["video"]
        rows.append(f"| {t} | {l} (`{r['model']}`) | {r['macs_M']}M | {r['params_M']}M | "
                    f"{s['mpjpe2d_px']:.2f} | {s['auc2d']:.3f} | {s['pa_mpjpe_mm']:.2f} | {s['pa_mpvpe_mm']:.2f} | "
                    f"{v.get('accel2d_px_s2', float('nan')):.0f} | {v.get('accel3d_mm_s2', float('nan')):.0f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="out/ablation", help="data, runs and results go here")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="generator processes")
    ap.add_argument("--train-count", type=int, default=3000)
    ap.add_argument("--test-count", type=int, default=300)
    ap.add_argument("--video-sequences", type=int, default=6)
    ap.add_argument("--video-frames", type=int, default=60)
    ap.add_argument("--variants", nargs="*", help="registry names (default: all six)")
    ap.add_argument("--readme", help="replace the table between the ablation markers in this file")
    args = ap.parse_args()
    work = Path(args.work)
    paths = make_data(work, args)
    names = args.variants or [n for n, _, _ in VARIANTS]
    unknown = set(names) - {n for n, _, _ in VARIANTS}
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}")
    results = [run_variant(n, paths, work, args) for n in names]
    md = table(results, args)
    print(md)
    if args.readme:
        path = Path(args.readme)
        text = path.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"{path}: no {START} ... {END} markers to replace")
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: f"{START}\n{md}\n{END}", text, flags=re.S)
        atomic_write_text(path, text)
        print(f"wrote the table into {path}")


if __name__ == "__main__":
    main()

"""``mobrecon bench``: count Mult-Adds and parameters per part and time a model on a backend."""

from __future__ import annotations

import argparse
import json

import torch

from mobrecon.cli.common import UserError
from mobrecon.infer.backends import bench_runner, make_runner
from mobrecon.models.costs import model_costs
from mobrecon.models.weights import resolve_model, weights_label


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--model", default="mobrecon_ghoststack", help="a registered name (shipped weights, else "
                   "random ones), a model file or a checkpoint")
    b.add_argument("--backend", default="torch", choices=("torch", "onnx", "onnx-int8"))
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--runs", type=int, default=30, help="timed runs (median and p90 reported)")
    b.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    b.add_argument("--threads", type=int, default=None, help="one thread count (default: 1 and 2)")
    b.add_argument("--throughput-batch", type=int, default=32, help="batch for the throughput figure (0: skip)")
    b.add_argument("--calib", help="onnx-int8: calibration images (folder or synth set; default: rendered crops)")


def run(args) -> int:
    if args.runs < 1 or args.warmup < 0:
        raise UserError("--runs must be >= 1 and --warmup >= 0")
    model = resolve_model(args.model)
    result = {"model": args.model, "weights": weights_label(args.model), "backend": args.backend,
              **model_costs(model), "torch": torch.__version__}
    threads = [args.threads] if args.threads else [1, 2]
    timings = []
    for n in threads:
        runner = make_runner(model, backend=args.backend, threads=n, calib=args.calib)
        timings.append(bench_runner(runner, batch=1, warmup=args.warmup, runs=args.runs,
                                    throughput_batch=args.throughput_batch))
    result["timings"] = timings
    best = min(timings, key=lambda t: t["median_ms"])
    result.update(latency_ms=best["median_ms"], latency_p90_ms=best["p90_ms"], threads=best["threads"])
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.model} ({result['weights']} weights): {result['macs'] / 1e6:.1f}M Mult-Adds, "
          f"{result['params'] / 1e6:.2f}M params, backend {args.backend}")
    for t in timings:
        tp = f", {t['images_per_s']:.0f} images/s at batch {t['throughput_batch']}" if t["images_per_s"] else ""
        print(f"  {t['threads']} thread(s): {t['median_ms']:.2f} ms median, p90 {t['p90_ms']:.2f} ms "
              f"(batch 1, {t['fps']:.0f} frames/s){tp}")
    for part in ("encoder", "pose2d", "lifting", "decoder", "joints"):
        r = result[part]
        print(f"  {part:8s} {r['macs'] / 1e6:9.2f}M Mult-Adds {r['params']:>11,d} params")
    return 0

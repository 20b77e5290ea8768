"""Speed table for docs/SPEED.md: GhostStack and DenseStack MobRecon on this CPU, per backend.

Backends: PyTorch eager; ONNX Runtime fp32; ONNX Runtime int8 (static QDQ, encoder Conv/Gemm only, calibrated on 32 synthetic crops).
Latency at batch 1 with 1 and 2 threads (median / p90 of ``--runs`` calls after 5 warm-up
calls; each figure is the best of ``--repeats`` such runs, since other load on the machine can
only add time), frames per second = 1000 / median, and throughput at batch 32.

The shipped weights where the package has them, else random ones: speed does not depend on the
weights' values (int8 accuracy does; see :mod:`mobrecon.infer.export`). Mult-Adds count mesh up-sampling at its sparse cost, as the paper.

Usage: python benchmarks/speed.py [--runs 30] [--repeats 3] [--calib DIR] [--models A B]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import onnxruntime
import torch

from mobrecon.data.calibration import calibration_crops
from mobrecon.infer.backends import TorchRunner, bench_runner, make_runner
from mobrecon.infer.export import check_onnx, export_onnx, quantize_int8
from mobrecon.models.costs import model_costs
from mobrecon.models.weights import resolve_model

MODELS = ("mobrecon_ghoststack", "mobrecon_densestack")
THREADS = (1, 2)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_bench(runner, runs: int, repeats: int, throughput: bool) -> dict:
    """bench_runner ``repeats`` times; the run with the lowest median."""
    results = [bench_runner(runner, batch=1, warmup=5, runs=runs, throughput_batch=32 if throughput else 0,
                            throughput_runs=3) for _ in range(max(1, repeats))]
    best = min(results, key=lambda r: r["median_ms"])
    if throughput:
        best["images_per_s"] = max(r["images_per_s"] for r in results)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--runs", type=int, default=30, help="timed calls per latency figure")
    ap.add_argument("--repeats", type=int, default=3, help="latency runs per figure (best kept)")
    ap.add_argument("--calib", help="int8 calibration crops: a folder of images or a mobrecon synth set "
                    "(default: 32 synthetic crops rendered now)")
    args = ap.parse_args()

    crops = calibration_crops(args.calib, 128, limit=32)
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="mobrecon-speed-") as tmp:
        for name in args.models:
            net = resolve_model(name)
            costs = model_costs(net)
            fp32 = Path(tmp) / f"{name}.onnx"
            int8 = Path(tmp) / f"{name}.int8.onnx"
            export_onnx(net, fp32)
            check = check_onnx(net, fp32)
            plain = Path(tmp) / f"{name}.plain.onnx"  # int8 quantises the graph without the fused decoder
            export_onnx(net, plain, fuse_decoder=False)
            quantize_int8(plain, int8, crops, n=len(crops), n_eval=0)
            notes.append(f"`{name}`: ONNX fp32 vs PyTorch, max |vertex difference| "
                         f"{check['max_abs']['vertices']:.1e} m at batch 1 and 3")
            size_mb = {"onnx": fp32.stat().st_size / 2**20, "onnx-int8": int8.stat().st_size / 2**20}
            backends = [
                ("PyTorch eager", lambda t: TorchRunner(net, t), None),
                ("ONNX Runtime fp32", lambda t: make_runner(fp32, "onnx", threads=t), size_mb["onnx"]),
                ("ONNX Runtime int8", lambda t: make_runner(int8, "onnx-int8", threads=t), size_mb["onnx-int8"]),
            ]
            for label, make, mb in backends:
                per_threads = {t: best_bench(make(t), args.runs, args.repeats, throughput=True) for t in THREADS}
                rows.append((name, label, costs, mb, per_threads))
                print(f"# {name} / {label}: " + ", ".join(
                    f"{t} thr {r['median_ms']:.1f} ms" for t, r in per_threads.items()), flush=True)

    print()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; PyTorch {torch.__version__}, "
          f"ONNX Runtime {onnxruntime.__version__}; shipped weights; 128x128 crops.")
    print()
    print("| model | backend | Mult-Adds | params | file | batch 1, 1 thread: median / p90 | fps | "
          "batch 1, 2 threads: median / p90 | fps | batch 32: images/s (1 / 2 threads) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, label, costs, mb, r in rows:
        file = f"{mb:.1f} MB" if mb is not None else "-"
        print(f"| `{name}` | {label} | {costs['macs'] / 1e6:.1f}M | {costs['params'] / 1e6:.2f}M | {file} | "
              f"{r[1]['median_ms']:.1f} / {r[1]['p90_ms']:.1f} ms | {r[1]['fps']:.0f} | "
              f"{r[2]['median_ms']:.1f} / {r[2]['p90_ms']:.1f} ms | {r[2]['fps']:.0f} | "
              f"{r[1]['images_per_s']:.0f} / {r[2]['images_per_s']:.0f} |")
    print()
    for line in notes:
        print(f"- {line}")


if __name__ == "__main__":
    main()

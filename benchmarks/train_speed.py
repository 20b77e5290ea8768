"""Training speed on this machine (issue 17): samples per second of a config's training loop, for
a few variants of the speed settings, each in a fresh process with jemalloc configured as
``mobrecon train`` does it, timed from the trainer's own log after a warm-up.

    python benchmarks/train_speed.py --config configs/mobrecon_ghoststack_real_more2.yaml \\
        --steps 60 --warmup 20 --threads 2 --variants base,nhwc,compile

A variant is a name from VARIANTS (settings laid over the config). One sample is one training
example with all its views (the config's ``augment.views``), as in the trainer's log.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mobrecon.train.allocator import jemalloc_env

VARIANTS = {
    "fp32": {"amp": False},
    "base": {},
    "nhwc": {"channels_last": True},
    "compile": {"compile": "inductor"},
    "nhwc+compile": {"channels_last": True, "compile": "inductor"},
    "nhwc+b64": {"channels_last": True, "batch_size": 64},
    "nhwc+compile+b64": {"channels_last": True, "compile": "inductor", "batch_size": 64},
}

_CHILD = """
import json, sys
from mobrecon.train.config import load_config
from mobrecon.train.trainer import train
args = json.loads(sys.argv[1])
cfg = load_config(args["config"], **args["overrides"])
train(cfg, args["out"], progress=False)
"""


def run_variant(config: str, name: str, steps: int, warmup: int, threads: int, log_every: int,
                epoch_steps: int | None = None) -> dict:
    overrides = {"max_steps": steps, "log_every": log_every, "threads": threads, "checkpoint_every": 0,
                 "data.val": "", "data.workers": 0, **VARIANTS[name]}
    if epoch_steps:  # epochs this short put epoch ends (checkpoint, data order) inside the timing
        overrides["epoch_steps"] = epoch_steps
    env = dict(jemalloc_env() or os.environ, OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = json.dumps({"config": config, "overrides": overrides, "out": str(out)})
        r = subprocess.run([sys.executable, "-c", _CHILD, args], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"variant {name}: training failed: {r.stderr.strip().splitlines()[-1]}")
        log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    rates = [x["samples_per_s"] for x in log if "samples_per_s" in x and x["step"] > warmup]
    return {"variant": name, "samples_per_s": round(statistics.median(rates), 2),
            "slowest_interval": round(min(rates), 2), "intervals": len(rates), "settings": VARIANTS[name],
            "epoch_steps": epoch_steps}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="a training config (its data must exist)")
    ap.add_argument("--steps", type=int, default=60, help="steps per variant")
    ap.add_argument("--warmup", type=int, default=20, help="steps left out of the timing (compilation, caches)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="base,nhwc,compile", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--epoch-steps", type=int, help="override the config's epoch length (to time epoch ends)")
    ap.add_argument("--json", help="write the records here")
    a = ap.parse_args(argv)
    names = [v for v in a.variants.split(",") if v]
    bad = [v for v in names if v not in VARIANTS]
    if bad:
        ap.error(f"--variants: unknown {', '.join(bad)}; known: {', '.join(VARIANTS)}")
    if a.warmup >= a.steps:
        ap.error(f"--warmup ({a.warmup}) must be below --steps ({a.steps})")
    rows = []
    for name in names:
        rec = run_variant(a.config, name, a.steps, a.warmup, a.threads, a.log_every, a.epoch_steps)
        rows.append(rec)
        print(f"{name:14s} {rec['samples_per_s']:7.2f} samples/s  (median of {rec['intervals']} intervals "
              f"of {a.log_every} steps after step {a.warmup}, {a.threads} threads; slowest interval "
              f"{rec['slowest_interval']:.2f})", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"config": a.config, "threads": a.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

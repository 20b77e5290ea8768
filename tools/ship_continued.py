"""Score a continued model and ship it with its record (issue 18: the shipped weights continued
on generated images and real photos).

    python tools/ship_continued.py --runs runs/real_r,runs/real_long --name mobrecon_ghoststack \
        --data data --real benchmarks/results/real_photos/after.json --ship-dir src/mobrecon/weights

Scores the last run's ``model.pt`` on the held-out stills (``DATA/synth_test``, joints crop) and
videos (``DATA/test_video``, full-frame crop, 30 fps) as ``tools/train_release.py`` does, and
writes the float16 weights to ``SHIP_DIR/NAME.pt`` with a ``release`` record: each run's config,
steps and wall time, the hardware, the held-out metrics, the real-photo benchmark record given
with ``--real``, and the record of the file the first run continued (``continued_from``). The
record also goes to ``--record`` (JSON) for the repository's results folder. An existing file
in ``SHIP_DIR`` is replaced only with ``--replace`` (shipping is the point of the script, but a
typo should not overwrite the shipped weights).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch
import yaml


def run_record(run: Path) -> dict:
    """Steps, epochs, wall time (first to last log line) and config of a training run folder."""
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    steps = [r for r in log if "total" in r]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    rates = [r["samples_per_s"] for r in steps if r.get("step", 0) >= 20]
    return {"run": run.name, "steps": steps[-1]["step"] if steps else 0, "batch_size": cfg["batch_size"],
            "views": cfg["augment"]["views"], "init": cfg["init"], "data": cfg["data"]["train"],
            "optim": cfg["optim"], "loss": cfg["loss"], "amp": cfg["amp"],
            "median_samples_per_s": round(float(sorted(rates)[len(rates) // 2]), 1) if rates else None,
            "val": [{"step": r["step"], "pa_mpjpe_mm": round(r["val"]["pa_mpjpe_mm"], 3),
                     "mpjpe2d_px": round(r["val"]["mpjpe2d_px"], 3)} for r in log if "val" in r]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True, help="comma-separated run folders, in training order")
    ap.add_argument("--name", default="mobrecon_ghoststack")
    ap.add_argument("--data", default="data", help="folder holding synth_test and test_video")
    ap.add_argument("--real", default="", help="the real-photo benchmark's JSON record of this model")
    ap.add_argument("--minutes", type=float, default=0.0, help="wall time of the runs, minutes (for the record)")
    ap.add_argument("--hardware", default="", help="where the runs trained (default: this machine's CPU)")
    ap.add_argument("--ship-dir", default="src/mobrecon/weights")
    ap.add_argument("--record", default="", help="also write the record here (JSON)")
    ap.add_argument("--replace", action="store_true", help="replace an existing file in --ship-dir")
    ap.add_argument("--before", default="", help="the weights file the first run continued, for its record "
                    "(default: the first run's init; give the shipped file when that init is a run's model.pt)")
    args = ap.parse_args(argv)

    from mobrecon.data.mixed import open_dataset
    from mobrecon.eval.evaluate import evaluate
    from mobrecon.models.weights import load_model, save_model

    runs = [Path(r) for r in args.runs.split(",") if r]
    dest = Path(args.ship_dir) / f"{args.name}.pt"
    if dest.exists() and not args.replace:
        raise SystemExit(f"{dest}: exists; pass --replace to ship over it")
    model = load_model(runs[-1] / "model.pt")
    data = Path(args.data)
    stills = evaluate(model, open_dataset(f"synth:{data / 'synth_test'}"), batch_size=50, progress=False)
    video = evaluate(model, open_dataset(f"synth:{data / 'test_video'}"), batch_size=50, progress=False,
                     crop="full", fps=30.0)
    first_init = Path(args.before or yaml.safe_load((runs[0] / "config.yaml").read_text())["init"])
    before = torch.load(first_init, map_location="cpu", weights_only=True).get("meta", {}).get("release", {})
    record = {"runs": [run_record(r) for r in runs],
              "hardware": args.hardware or f"CPU ({os.cpu_count()} cores, {platform.machine()}), shared with other jobs",
              "wall_minutes": args.minutes or None,
              "metrics": {"test": stills, "test_video": video},
              "real_photos": json.loads(Path(args.real).read_text()) if args.real else None,
              "continued_from": before}
    print(json.dumps({"test": {k: round(v, 3) for k, v in stills.items()},
                      "test_video": {k: round(v, 3) for k, v in video.items()}}, indent=1))
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_model(dest, model, args.name, meta={"release": record})
    if args.record:
        Path(args.record).write_text(json.dumps(record, indent=1) + "\n")
    print(f"shipped {dest} ({dest.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

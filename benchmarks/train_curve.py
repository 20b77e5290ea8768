"""Training curves of release runs: losses and held-out metrics against steps, as one PNG.

    python benchmarks/train_curve.py benchmarks/results/release/mobrecon_ghoststack \
        benchmarks/results/release/mobrecon_densestack --png docs/train_curve.png

Each RUN folder holds ``stage1/log.jsonl`` and ``stage2/log.jsonl`` as written by
``mobrecon train`` (tools/train_release.py), and optionally ``stage3/log.jsonl`` (a continuation
of the stage-2 model; ``finetune.json`` ``{"samples": N}`` counts samples trained between the
two without a log). Panels: stage-1 losses; stage-2/3 loss terms (weighted, smoothed over 5 log
records); held-out PA-MPJPE / PA-MPVPE (mm) at each epoch end; held-out 2D error (px) with the
learning rate. Stages 2 and 3 are drawn against samples seen (their batch sizes differ), stage 3
after a dotted line. Needs matplotlib (``pip install matplotlib``; not a dependency of the package).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

STAGE2_TERMS = ("total", "mesh", "pose2d", "normal", "edge", "con2d", "con3d")


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    """(training records, validation records) of one log.jsonl."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such log (expected a run folder with stage1/ and stage2/)")
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in recs if "total" in r], [r for r in recs if "val" in r]


def batch_size(stage: Path) -> int:
    """The batch size in a stage folder's config.yaml (samples per step)."""
    import yaml

    return int(yaml.safe_load((stage / "config.yaml").read_text())["batch_size"])


def smooth(y: np.ndarray, k: int = 5) -> np.ndarray:
    if len(y) < k:
        return y
    return np.convolve(np.pad(y, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (each with stage1/log.jsonl and stage2/log.jsonl)")
    ap.add_argument("--png", default="train_curve.png", help="output image")
    args = ap.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("train_curve.py needs matplotlib: pip install matplotlib") from None

    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
    (a1, a2), (a3, a4) = ax
    a4r = a4.twinx()
    styles = ("-", "--", ":", "-.")
    for n, run in enumerate(Path(r) for r in args.runs):
        name = run.name.replace("mobrecon_", "")
        ls = styles[n % len(styles)]
        s1, _ = read_log(run / "stage1" / "log.jsonl")
        s2, val = read_log(run / "stage2" / "log.jsonl")
        st = np.array([r["step"] for r in s1])
        for key, color in (("pose2d", "C0"), ("heatmap", "C1")):
            a1.plot(st, smooth(np.array([r[key] for r in s1])), ls, color=color, label=f"{name} {key}")
        b2 = batch_size(run / "stage2")
        for r in s2 + val:
            r["kilo"] = r["step"] * b2 / 1000
        stages = f"stage 1 {s1[-1]['step']} steps, stage 2 {s2[-1]['step']} steps"
        if (run / "stage3" / "log.jsonl").is_file():
            s3, val3 = read_log(run / "stage3" / "log.jsonl")
            extra = json.loads((run / "finetune.json").read_text())["samples"] if (run / "finetune.json").is_file() else 0
            start = (s2[-1]["step"] * b2 + extra) / 1000
            b3 = batch_size(run / "stage3")
            for r in s3 + val3:
                r["kilo"] = start + r["step"] * b3 / 1000
            for a in (a2, a3, a4):
                a.axvline(start, color="k", ls=":", lw=1)
            s2, val = s2 + s3, val + val3
            stages += f", stage 3 {s3[-1]['step']} steps"
        st = np.array([r["kilo"] for r in s2])
        for i, key in enumerate(STAGE2_TERMS):
            if key in s2[0]:
                a2.plot(st, smooth(np.array([r[key] for r in s2])), ls, color=f"C{i}", label=f"{name} {key}")
        vs = np.array([r["kilo"] for r in val])
        a3.plot(vs, [r["val"]["pa_mpjpe_mm"] for r in val], ls, color="C0", marker="o", ms=3, label=f"{name} PA-MPJPE")
        a3.plot(vs, [r["val"]["pa_mpvpe_mm"] for r in val], ls, color="C1", marker="o", ms=3, label=f"{name} PA-MPVPE")
        a4.plot(vs, [r["val"]["mpjpe2d_px"] for r in val], ls, color="C2", marker="o", ms=3, label=f"{name} 2D error")
        a4r.plot(st, [r["lr"] for r in s2], ls, color="C7", lw=1, label=f"{name} lr")
        last = val[-1]["val"]
        print(f"{name}: {stages}; last held-out "
              f"PA-MPJPE {last['pa_mpjpe_mm']:.2f} mm, PA-MPVPE {last['pa_mpvpe_mm']:.2f} mm, "
              f"2D {last['mpjpe2d_px']:.2f} px")
    a1.set(title="stage 1 (2D pre-training) losses", xlabel="step", yscale="log")
    a2.set(title="stage 2 (then 3) loss terms (weighted)", xlabel="thousand samples", yscale="log")
    a3.set(title="held-out stills (first 300), each epoch", xlabel="thousand samples", ylabel="mm")
    a4.set(title="held-out 2D joint error and learning rate", xlabel="thousand samples", ylabel="px")
    a4r.set(ylabel="learning rate", yscale="log")
    for a in (a1, a2, a3, a4):
        a.grid(alpha=0.3)
        a.legend(fontsize=7, ncol=2)
    a4r.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    out = Path(args.png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

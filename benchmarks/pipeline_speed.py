"""What a user waits for: ``predict`` on a 256 px photo, against MediaPipe Hands in the same run.

    nice -n 5 python benchmarks/pipeline_speed.py [--rounds 3] [--runs 30] [--threads-check] [--json]

The photo: the first HaGRID sample (``../shared/realdata/hagrid-samples``, looked at and timed
only) in which MediaPipe finds a hand, cut to a square three times the hand's size around it and
resized to 256 x 256, in which our pipeline (``predict_hands``) finds the hand too; the hand
box "given" is MediaPipe's landmarks' box on that photo.
Rows (median ms per call; each measured ``--rounds`` times interleaved with MediaPipe, so both
see the same load; the median over all calls is reported):

- box given, hand given: crop, network, un-crop, root recovery;
- box given: as above plus the handedness head (one encoder pass over the crop and its mirror,
  the chosen half's encoding decoded);
- detector + handedness + reconstruction: ``predict(photo)``;
- video: ``predict_video`` over the photo rolled sideways by 2 px per frame (the detector and
  the head run only when the hand is (re)found), per tracked frame: the median over frames 4
  onwards, as for MediaPipe's tracking mode (the first frame's time, detector and head included,
  is reported apart);

for the default backend (ONNX Runtime, ``mobrecon.load()``'s defaults: two threads, no spinning) and PyTorch
eager, beside MediaPipe Hands (``max_num_hands=1``, static mode and tracking mode) run in the
teacher venv (``.venv-teacher`` here or in ``../wt-label``; ``--mediapipe PYTHON``) as a
subprocess, a column skipped when there is none. ``--threads-check``: the box-given call on 1
and 2 threads (ONNX Runtime spinning off and on), alone and beside one competing busy process.
``--readme``: rewrite docs/SPEED.md's ``pipeline-speed`` block.
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

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HAGRID = ROOT.parent / "shared" / "realdata" / "hagrid-samples"
MP_VENVS = (ROOT / ".venv-teacher", ROOT.parent / "wt-label" / ".venv-teacher")


class MediaPipe:
    """The timer of ``benchmarks/mediapipe_timer.py`` in the teacher venv (None if there is none)."""

    def __init__(self, python: str | None):
        self.proc = None
        cands = [Path(python)] if python else [v / "bin" / "python" for v in MP_VENVS]
        exe = next((c for c in cands if c.is_file()), None)
        if exe is None:
            return
        self.proc = subprocess.Popen([str(exe), str(ROOT / "benchmarks" / "mediapipe_timer.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if not json.loads(self.proc.stdout.readline() or "{}").get("ready"):
            self.proc = None

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def make_photo(mp: MediaPipe, folder: Path, finds=None) -> tuple[Path, list[float]]:
    """(the 256 x 256 photo's path, the hand's box in it): the first sample whose crop ``finds``
    (our pipeline: path -> bool) finds a hand in too, when it is given."""
    from mobrecon.data.crop import CropBox, crop_image

    files = sorted(p for p in HAGRID.glob("*/*.jpg") if p.parent.name != "none")
    if not files:
        raise SystemExit(f"benchmarks/pipeline_speed.py: no HaGRID samples in {HAGRID}")
    for f in files:
        if mp.proc is None:  # no MediaPipe to find the hand: the detector does
            from mobrecon.detect.detector import HandDetector

            found = HandDetector.load().detect(str(f))
            box = list(found[0].box) if found else None
        else:
            box = mp.ask(cmd="static", image=str(f), runs=1)["box"]
        if box is None:
            continue
        side = 3 * max(box[2] - box[0], box[3] - box[1])
        bgr = crop_image(cv2.imread(str(f)), CropBox((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side), 256,
                         border_value=(127, 127, 127))
        out = folder / "photo.png"
        cv2.imwrite(str(out), bgr)
        s = 256 / side
        c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        b = [(box[0] - c[0]) * s + 127.5, (box[1] - c[1]) * s + 127.5, (box[2] - c[0]) * s + 127.5,
             (box[3] - c[1]) * s + 127.5]
        if mp.proc is not None:
            b = mp.ask(cmd="static", image=str(out), runs=1)["box"] or b
        if finds is not None and not finds(out):
            continue
        return out, b
    raise SystemExit("benchmarks/pipeline_speed.py: no hand found in any HaGRID sample")


def times_ms(fn, warmup: int, runs: int) -> list[float]:
    from mobrecon.timing import time_calls

    return list(time_calls(fn, warmup, runs))


def ours(pred, rgb, box, runs: int, shifts) -> dict[str, list[float]]:
    """Per-call times (ms) of the four rows for one predictor."""
    import time

    out = {"box_hand": times_ms(lambda: pred.predict(rgb, box=box, hand="right"), 3, runs),
           "box": times_ms(lambda: pred.predict(rgb, box=box), 3, runs),
           "pipeline": times_ms(lambda: pred.predict(rgb), 3, runs)}
    frames = [np.ascontiguousarray(np.roll(rgb, int(s), axis=1)) for s in shifts]
    pred.predict_video(frames[:3])  # warm
    stamps = []

    def feed():
        for f in frames:  # the time between two requests for a frame is the previous frame's
            stamps.append(time.perf_counter())
            yield f
        stamps.append(time.perf_counter())

    _, report = pred.predict_video(feed())
    per_frame = 1e3 * np.diff(stamps)
    # as MediaPipe's tracking column: frames after the first three (the first finds the hand)
    out["video"] = per_frame[3:].tolist()
    out["video_first_frame"] = [float(per_frame[0])]
    out["video_detector_runs"] = report["detector_runs"]
    return out


def busy_process() -> subprocess.Popen:
    """One process that keeps one core busy (niced like the benchmark is asked to be)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def threads_check(rgb, box, runs: int) -> list[dict]:
    """Box-given predict on 1 / 2 threads, spinning off / on, alone and beside one busy process."""
    import mobrecon

    rows = []
    for busy in (False, True):
        proc = busy_process() if busy else None
        try:
            for threads in (1, 2):
                for spin in ("0", "1"):
                    os.environ["MOBRECON_SPIN"] = spin
                    pred = mobrecon.load(threads=threads, handedness=None)
                    t = times_ms(lambda: pred.predict(rgb, box=box, hand="right"), 5, runs)
                    rows.append({"busy": busy, "threads": threads, "spinning": spin == "1",
                                 "median_ms": statistics.median(t)})
                tp = mobrecon.load(backend="torch", threads=threads, handedness=None)
                t = times_ms(lambda: tp.predict(rgb, box=box, hand="right"), 5, runs)
                rows.append({"busy": busy, "threads": threads, "spinning": "torch", "median_ms": statistics.median(t)})
                print(f"# threads: {rows[-3:]}", file=sys.stderr, flush=True)
        finally:
            os.environ.pop("MOBRECON_SPIN", None)
            if proc is not None:
                proc.kill()
                proc.wait()
    return rows


def main(argv=None) -> int:
    import mobrecon
    import onnxruntime
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--mediapipe", help="python of a venv with mediapipe (default: .venv-teacher)")
    ap.add_argument("--threads-check", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="leave out the PyTorch eager column (the slowest)")
    ap.add_argument("--readme", action="store_true", help="rewrite docs/SPEED.md's pipeline-speed block")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    mp = MediaPipe(args.mediapipe)
    shifts = [2 * i for i in range(args.runs)]
    try:
        with tempfile.TemporaryDirectory(prefix="mobrecon-pipe-") as tmp:
            preds = {"onnx": mobrecon.load()}
            # a photo where both find the hand (our pipeline as predict runs it: detector, re-boxing,
            # presence head), so that neither column times a miss
            finds = None if preds["onnx"].detector is None else (
                lambda f: bool(preds["onnx"].predict_hands(str(f), max_hands=1)))
            photo, box = make_photo(mp, Path(tmp), finds)
            rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
            if not args.no_torch:
                preds["torch"] = mobrecon.load(backend="torch")
            assert preds["onnx"].backend == "onnx", preds["onnx"].backend
            samples: dict = {}
            for _ in range(max(1, args.rounds)):
                for name, pred in preds.items():
                    got = ours(pred, rgb, box, args.runs, shifts)
                    print(f"# {name}: " + ", ".join(f"{k} {statistics.median(v):.1f} ms" for k, v in got.items()
                                                    if isinstance(v, list)), file=sys.stderr, flush=True)
                    for k, v in got.items():
                        if isinstance(v, list):
                            samples.setdefault((name, k), []).extend(v)
                        else:
                            samples[(name, k)] = v
                if mp.proc is not None:
                    st = mp.ask(cmd="static", image=str(photo), runs=args.runs)
                    samples.setdefault(("mediapipe", "pipeline"), []).extend(st["ms"][3:])
                    samples[("mediapipe", "hands")] = st["hands"]
                    tr = mp.ask(cmd="track", image=str(photo), shifts=shifts)
                    samples.setdefault(("mediapipe", "video"), []).extend(tr["ms"][3:])
                    samples[("mediapipe", "video_hands")] = sum(tr["hands"])
                    print(f"# mediapipe: static {statistics.median(st['ms'][3:]):.1f} ms, "
                          f"tracking {statistics.median(tr['ms'][3:]):.1f} ms", file=sys.stderr, flush=True)
            checks = threads_check(rgb, box, args.runs) if args.threads_check else []
            found = len(preds["onnx"].predict_hands(rgb)) if preds["onnx"].detector is not None else 0
    finally:
        mp.close()
    med = {k: statistics.median(v) for k, v in samples.items() if isinstance(v, list)}
    load1 = os.getloadavg()[0]
    result = {"photo": "256x256 HaGRID crop", "box": [round(b, 1) for b in box], "median_ms": {f"{a}/{b}": round(v, 2)
              for (a, b), v in med.items()}, "threads_check": checks, "load_avg_1min": round(load1, 2),
              "our_hands": found, "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "onnxruntime": onnxruntime.__version__}
    lines = table(med, samples, args, load1, found, checks)
    print(json.dumps(result) if args.json else "\n".join(lines))
    if args.readme:
        readme = ROOT / "docs" / "SPEED.md"
        text = readme.read_text()
        a, b = "<!-- pipeline-speed:start -->", "<!-- pipeline-speed:end -->"
        if a in text and b in text:
            text = text[:text.index(a) + len(a)] + "\n" + "\n".join(lines) + "\n" + text[text.index(b):]
            from mobrecon.io_utils import atomic_write_text

            atomic_write_text(readme, text)
    return 0


def table(med, samples, args, load1, found, checks) -> list[str]:
    mp = ("mediapipe", "pipeline") in med
    def cell(k):
        return f"{med[k]:.1f} ms" if k in med else "-"

    def ratio(a, b):
        return f" ({med[a] / med[b]:.2f}x)" if a in med and b in med else ""

    mps, mpt = ("mediapipe", "pipeline"), ("mediapipe", "video")
    lines = [f"Measured by `python benchmarks/pipeline_speed.py --rounds {args.rounds} --runs {args.runs}"
             f"{' --threads-check' if checks else ''}` ({os.cpu_count()} cores, 1-minute load average {load1:.1f} "
             "at the end; the ratios come from one run, both sides timed in turn under the same load). "
             "Median ms per call on a 256x256 photo; in brackets: times MediaPipe Hands' time for the same job "
             "(static mode for photos, tracking mode for video).", "",
             "| job | mobrecon, ONNX Runtime (default) | mobrecon, PyTorch eager | MediaPipe Hands |", "|---|---|---|---|"]
    rows = [("box given, hand given", "box_hand", mps), ("box given (handedness head on)", "box", mps),
            ("detector + handedness + reconstruction", "pipeline", mps), ("video, tracked (per frame)", "video", mpt)]
    for label, k, ref in rows:
        mpcell = cell(ref) if k in ("pipeline", "video") else "-"
        lines.append(f"| {label} | {cell(('onnx', k))}{ratio(('onnx', k), ref)} | {cell(('torch', k))}"
                     f"{ratio(('torch', k), ref)} | {mpcell} |")
    if not mp:
        lines.append("")
        lines.append("MediaPipe: no teacher venv found (`make teacher`), column left empty.")
    else:
        lines.append("")
        lines.append(f"MediaPipe Hands 0.10 (`max_num_hands=1`, `model_complexity=1`, its own threads) found "
                     f"{samples[('mediapipe', 'hands')]} hand in the photo; our pipeline (predict_hands) {found}. Video: "
                     f"{samples[('onnx', 'video_detector_runs')]} detector run(s) over {args.runs} frames.")
    if checks:
        lines += ["", "Threads (box given, hand given; median ms):", "",
                  "| other load | threads | ORT, no spinning (default) | ORT, spinning | PyTorch eager |",
                  "|---|---|---|---|---|"]
        for busy in (False, True):
            for t in (1, 2):
                got = {str(c["spinning"]): c["median_ms"] for c in checks if c["busy"] == busy and c["threads"] == t}
                lines.append(f"| {'one busy process' if busy else 'none added'} | {t} | {got['False']:.1f} | "
                             f"{got['True']:.1f} | {got['torch']:.1f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())

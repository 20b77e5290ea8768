"""``mobrecon reconstruct``: reconstruct hands from photos (a mesh, joints and overlays per hand,
one file per output writer: ``--write``), or from a video or a folder of frames, tracked frame
to frame (``--video``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from mobrecon.cli.common import UserError, image_error, parse_numbers
from mobrecon.data.calibration import IMAGE_SUFFIXES
from mobrecon.extras import require
from mobrecon.image import read_image
from mobrecon.infer.outputs import DEFAULT_WRITERS, VIDEO_WRITERS, WRITERS, render_outputs
from mobrecon.infer.predictor import load
from mobrecon.io_utils import check_output_dir, folder_lock, write_file_set
from mobrecon.registry import parse_names
from mobrecon.viz.render import MeshRenderer


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("images", nargs="*", help="image files")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--model", default="mobrecon_ghoststack", help="a registered model (shipped weights), "
                   "a model file or a stage-2 checkpoint")
    r.add_argument("--box", help="x0,y0,x1,y1: the hand's box in pixels (default: every hand the detector "
                   "finds; without a detector, the whole image is the crop)")
    r.add_argument("--no-detect", action="store_true", help="do not run the hand detector: without --box the "
                   "whole image is the crop")
    r.add_argument("--detector", help="a hand detector file (default: the shipped one)")
    r.add_argument("--threshold", type=float, help="hand score threshold (default: the detector's calibrated one)")
    r.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                   help="reconstruct the detector's candidates, re-box each from its 2D joints and weigh it by "
                   "the hand-presence head (the default; finds whole hands more often); --no-refine: the "
                   "detector's boxes and scores as they are (faster on hard photos)")
    r.add_argument("--hand", choices=("left", "right"), help="treat every hand as a left or right hand (default: "
                   "as the handedness classifier says for each crop); a left hand is reconstructed mirrored")
    r.add_argument("--handedness", metavar="PATH", help="a handedness classifier file (default: the shipped one)")
    r.add_argument("--K", help="fx,fy,cx,cy intrinsics in pixels (default: a typical camera for the image size)")
    r.add_argument("--backend", default="auto", choices=("auto", "onnx", "torch", "onnx-int8"),
                   help="auto (default): ONNX Runtime (graphs exported at first use and cached), else PyTorch")
    r.add_argument("--threads", type=int, help="CPU threads (default: $MOBRECON_THREADS, else 2 on ONNX Runtime, 1 for PyTorch)")
    r.add_argument("--video", help="instead of images: a video file or a folder of frames, tracked frame to frame")
    r.add_argument("--fps", type=float, default=30.0, help="with --video: frame rate for the acceleration report")
    r.add_argument("--write", metavar="LIST", help="the files to write per hand, comma-separated: "
                   + "; ".join(f"{w.name}: {w.help}" for w in WRITERS.values())
                   + f" (default: {','.join(DEFAULT_WRITERS)}; with --video {','.join(VIDEO_WRITERS)})")
    r.add_argument("--overlays", action="store_true", help="with --video: also write per-frame overlays "
                   f"(--write {','.join(VIDEO_WRITERS)},overlay)")
    r.add_argument("--no-overlays", action="store_true", help="images: write only the mesh (.obj) and the "
                   "joints (.json), no overlay or side-view PNGs (needs no renderer: no mobrecon[render] extra)")
    r.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")


def run(args) -> int:
    if not args.images and not args.video:
        raise UserError("give one or more IMAGE files, or --video FILE_OR_FOLDER")
    writers = _writers(args)
    box = parse_numbers(args.box, 4, "--box") if args.box else None
    K = parse_numbers(args.K, 4, "--K") if args.K else None
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UserError(f"--threshold must lie in [0, 1], got {args.threshold}")
    if args.video and not Path(args.video).exists():
        raise UserError(f"--video {args.video}: no such file or folder")
    out = _usable_out(Path(args.out))
    if any(WRITERS[n].renders for n in writers):  # a missing renderer: one line before the model loads
        require("moderngl", "mobrecon reconstruct's overlays (--no-overlays writes the mesh and joints only)")
    with folder_lock(out, "mobrecon run"):  # a second run into this folder meanwhile is refused
        detector = None if args.no_detect else (args.detector or "auto")
        predictor = load(args.model, backend=args.backend, threads=args.threads, detector=detector,
                         handedness=args.handedness or "auto", refine=args.refine)
        if args.video:
            return _reconstruct_video(args, predictor, box, K, out, writers)
        return _reconstruct_images(args, predictor, box, K, out, writers)


def _video_frames(source: Path, report: dict | None = None):
    """Frames (RGB) of a video file or of a folder of images (sorted by name). ``report`` gets
    ``frames_read`` and, for a file, ``frames_listed`` (the container's frame count)."""
    report = {} if report is None else report
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"--video {source}: the folder holds no images")
        for i, p in enumerate(files):
            try:
                img = read_image(p)
            except ValueError as e:
                raise UserError(f"--video {e}") from None
            report["frames_read"] = i + 1
            yield p.stem, img
        return
    # FFmpeg's own messages about a damaged stream would go to stderr beside ours: quiet it
    # (read when the first capture is made; a user's own setting is kept)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise UserError(f"--video {source}: cannot open it as a video")
    report["frames_listed"] = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    i = 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            yield f"frame_{i:06d}", img[:, :, ::-1].copy()
            i += 1
            report["frames_read"] = i
    finally:
        cap.release()
    if i == 0:
        raise UserError(f"--video {source}: no frames could be read")


def _write_error(path, out: Path, e: OSError) -> str:
    """The one line for an image whose outputs could not be written."""
    return f"mobrecon reconstruct: error: {path}: could not write its outputs into {out} ({e.strerror or e})"


def _usable_out(out: Path) -> Path:
    """--out checked before anything is loaded: a folder this process can write into."""
    try:
        return check_output_dir(out)
    except ValueError as e:
        raise UserError(f"--out {e}") from None


def _writers(args) -> list[str]:
    """The output writers --write names (checked), or what --no-overlays / --overlays mean."""
    chosen_by = "--overlays" if args.overlays else "--no-overlays" if args.no_overlays else None
    if args.write is not None:
        if chosen_by:
            raise UserError(f"give --write or {chosen_by}, not both")
        try:
            return parse_names(args.write, WRITERS, "--write")
        except ValueError as e:
            raise UserError(str(e)) from None
    if args.video:
        return [*VIDEO_WRITERS, "overlay"] if args.overlays else list(VIDEO_WRITERS)
    return [n for n in DEFAULT_WRITERS if not (args.no_overlays and WRITERS[n].renders)]


def _reconstruct_images(args, predictor, box, K, out: Path, writers: list[str]) -> int:
    """Each image's outputs (one file per writer) as one set, all or nothing; a bad image or a
    failed write is one line on stderr and the others are still done."""
    failures = no_hand = replaced = 0
    used: set[str] = set()
    with MeshRenderer() as renderer:
        for path in tqdm(args.images, unit="image", disable=args.quiet or len(args.images) < 2):
            name = Path(path).stem
            while name in used:  # two inputs with the same name: keep both
                name += "_"
            try:
                image = read_image(path)
                if box is None and predictor.detector is not None:
                    results = predictor.predict_hands(image, K=K, threshold=args.threshold, hand=args.hand)
                else:
                    results = [predictor.predict(image, box=box, K=K, hand=args.hand)]
                files = {}  # one hand: NAME.*; several: NAME_hand0.*, NAME_hand1.*, ...
                for i, result in enumerate(results):
                    stem = name if len(results) == 1 else f"{name}_hand{i}"
                    files.update(render_outputs(out, stem, image, result, renderer, writers=writers))
            except (FileNotFoundError, ValueError) as e:
                tqdm.write(image_error("reconstruct", path, e), file=sys.stderr)
                failures += 1
                continue
            used.add(name)
            if not results:
                no_hand += 1
                if not args.quiet:
                    tqdm.write(f"{path}: no hand found by the detector (nothing written; pass --box to place the "
                               "crop, or --no-detect to use the whole image)")
                continue
            earlier = [p for p in files if p.exists()]
            try:
                paths = write_file_set(files)
            except OSError as e:
                tqdm.write(_write_error(path, out, e), file=sys.stderr)
                failures += 1
                continue
            replaced += bool(earlier)
            if not args.quiet:
                sides = [r.extra["handedness"] for r in results if "handedness" in r.extra]
                side = f" ({', '.join(sides)} hand{'s' * (len(sides) > 1)})" if sides else ""
                again = " (replacing an earlier run's files)" if earlier else ""
                tqdm.write(f"{path}{side} -> {', '.join(p.name for p in paths)}{again}")
    done = len(args.images) - failures - no_hand
    extra = f"; no hand found in {no_hand}" if no_hand else ""
    extra += f"; replaced the earlier outputs of {replaced}" if replaced else ""
    extra += f"; {failures} failed" if failures else ""
    print(f"{out}: reconstructed {done} of {len(args.images)} image(s){extra}")
    return 2 if failures else 0


def _reconstruct_video(args, predictor, box, K, out: Path, writers: list[str]) -> int:
    """The per-frame outputs (by default the JSON; one file per writer) and video.json, written
    as one set at the end; a video that ends before the frame count its container lists is an
    error line (exit 2) after the frames read are done."""
    source = Path(args.video)
    names, frames, read = [], [], {}
    for name, frame in _video_frames(source, read):
        names.append(name)
        frames.append(frame)
    results, report = predictor.predict_video(frames, box=box, K=K, fps=args.fps, hand=args.hand)
    listed = read.get("frames_listed", 0)
    short = listed and read["frames_read"] + 1 < listed  # more than one frame short of the container's count
    if short:
        report["frames_listed"] = listed
    files = {}
    with MeshRenderer() as renderer:
        for name, frame, r in zip(names, frames, results):
            files.update(render_outputs(out, name, frame, r, renderer, writers=writers, frame=True))
    summary = json.dumps({"source": str(source), **report}, indent=1) + "\n"
    files[out / "video.json"] = lambda tmp: tmp.write_text(summary)
    try:
        write_file_set(files)
    except OSError as e:
        raise UserError(f"--video {source}: could not write the outputs into {out} ({e.strerror or e})") from None
    print(f"{out}: {report['frames']} frames; acceleration of the outputs: "
          f"{report.get('accel2d_px_s2', float('nan')):.1f} px/s^2 (2D), "
          f"{report.get('accel3d_mm_s2', float('nan')):.1f} mm/s^2 (3D, wrist-relative)")
    if short:
        print(f"mobrecon reconstruct: error: --video {source}: only {read['frames_read']} of the {listed} frames "
              "its container lists could be read (a truncated or damaged file?); those frames are done",
              file=sys.stderr)
        return 2
    return 0

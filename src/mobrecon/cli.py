"""The ``mobrecon`` command line."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

from mobrecon.extras import MissingExtraError, require
from mobrecon.infer.outputs import DEFAULT_WRITERS, VIDEO_WRITERS, WRITERS, render_outputs
from mobrecon.registry import parse_names
from mobrecon.train.allocator import reexec_with_jemalloc
from mobrecon.version import __version__


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def _parse_shape(text: str | None, n: int) -> np.ndarray:
    if not text:
        return np.zeros(n)
    try:
        vals = [float(t) for t in text.split(",")]
    except ValueError:
        raise UserError(f"--shape {text!r}: expected comma-separated numbers") from None
    if len(vals) > n:
        raise UserError(f"--shape {text!r}: the hand has {n} shape parameters, got {len(vals)}")
    return np.array(vals + [0.0] * (n - len(vals)))


def _parse_view(text: str):
    """'front' | 'side' | 'top' | 'back' | 'AZIMUTH,ELEVATION' (degrees)."""
    if "," not in text:
        return text
    try:
        az, el = (float(t) for t in text.split(","))
    except ValueError:
        raise UserError(f"--view {text!r}: expected a name or AZIMUTH,ELEVATION in degrees") from None
    return (az, el)


# The hand's frame has +y along the fingers and +z out of the back of the hand; turning it half a
# turn about z shows the palm with the fingers up in a camera whose image y points down.
DISPLAY_ROTATION = np.diag([-1.0, -1.0, 1.0])


def cmd_hand(args) -> int:
    import torch

    from mobrecon.hand.load import hand_hierarchy, load_hand

    hand = load_hand(args.model)
    if args.info:
        h = hand_hierarchy(hand)
        info = {
            "vertices": int(hand.v_template.shape[0]),
            "faces": int(hand.faces.shape[0]),
            "joints": int(hand.J_regressor.shape[0]),
            "levels": [int(n) for n in h.counts],
            "spiral_length": int(h.spirals[0].shape[1]),
        }
        if args.json:
            print(json.dumps(info))
        else:
            for k, v in info.items():
                print(f"{k}: {v}")
        return 0
    if not args.out and not args.png:
        raise UserError("mobrecon hand: give --out FILE.obj and/or --png FILE.png (or --info)")
    if not hasattr(hand, "angles_to_pose"):
        if args.pose != "flat":
            raise UserError(f"--pose {args.pose}: named poses need the built-in hand; {args.model} supports only flat")
        pose = torch.zeros(1, 16, 3)
    else:
        from mobrecon.hand.poses import named_pose, random_angles

        if args.pose == "random":
            angles = random_angles(hand, 1, seed=args.seed)
        else:
            try:
                angles = named_pose(hand, args.pose)
            except ValueError as e:
                raise UserError(f"--pose: {e}") from None
        pose = hand.angles_to_pose(angles)
    shape = torch.as_tensor(_parse_shape(args.shape, hand.num_shape), dtype=torch.float32)[None]
    with torch.no_grad():
        out = hand(pose, shape)
    verts = out.vertices[0].numpy()
    faces = hand.faces_np
    if args.out:
        from mobrecon.mesh.io import save_mesh

        save_mesh(args.out, verts, faces)
        print(f"wrote {args.out}")
    if args.png:
        from mobrecon.viz.render import render_mesh_png

        try:
            render_mesh_png(verts @ DISPLAY_ROTATION.T, faces, args.png, size=args.size, view=_parse_view(args.view))
        except ValueError as e:
            raise UserError(f"--view: {e}") from None
        print(f"wrote {args.png}")
    return 0


def _weights_of(model: str) -> str:
    """Which weights --model stands for: a registered name its shipped file where the package
    has one, else random weights (fine for timing and export checks); a file itself."""
    from mobrecon.models import names
    from mobrecon.models.weights import weights_file

    path = weights_file(model)
    if path is None:
        return "random"
    return str(path) if model in names() else model


def cmd_bench(args) -> int:
    import torch

    from mobrecon.infer.backends import bench_runner, make_runner
    from mobrecon.models.costs import model_costs
    from mobrecon.models.weights import resolve_model

    if args.runs < 1 or args.warmup < 0:
        raise UserError("--runs must be >= 1 and --warmup >= 0")
    model = resolve_model(args.model)
    result = {"model": args.model, "weights": _weights_of(args.model), "backend": args.backend,
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


def cmd_export(args) -> int:
    from mobrecon.infer.export import export_model

    if args.calib and not args.int8:
        raise UserError("--calib goes with --int8")
    for module in ("onnx", "onnxscript", "onnxruntime"):  # export, then the parity check in ONNX Runtime
        require(module, "mobrecon export")
    result = export_model(args.model, args.onnx, int8=args.int8, calib=args.calib, n=args.n_calib)
    result = {"model": args.model, "weights": _weights_of(args.model), "onnx": args.onnx, **result}
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    check = result.get("check", {})
    print(f"wrote {args.onnx} ({'int8' if args.int8 else 'fp32'}, dynamic batch axis; "
          f"weights: {result['weights']})")
    if check:
        print(f"  fp32 parity with PyTorch: max |vertex difference| {check['max_abs']['vertices']:.2e} m "
              f"(batches {', '.join(str(b) for b in check['batch'])}; tolerance {check['tolerance']['vertices']:g} m)")
    if args.int8:
        d = result["int8"].get("differences", {})
        if d:
            print(f"  int8 vs fp32: {json.dumps(d, default=str)}")
    return 0


def cmd_synth(args) -> int:
    if args.fetch_look:
        from mobrecon.synth.look_assets import default_cache, fetch

        index = fetch(args.fetch_look if args.fetch_look != "-" else default_cache())
        return 0 if index["backgrounds"] or index["envmaps"] else 1
    if args.preview:
        from mobrecon.synth.preview import preview_grid

        if not args.png:
            raise UserError("--preview needs --png FILE for the grid")
        if not Path(args.preview).is_dir():
            raise UserError(f"--preview {args.preview}: no such directory")
        print(f"wrote {preview_grid(args.preview, args.png, n=args.n)}")
        return 0
    from mobrecon.synth.generator import SynthConfig, generate

    require("moderngl", "mobrecon synth", extra="train")  # it renders every image
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.video:
        return _synth_video(args)
    if not args.out or args.count is None:
        raise UserError("synth needs --out DIR and --count N (or --video, or --preview DIR --png FILE)")
    cfg = SynthConfig(count=args.count, seed=args.seed, mode=args.mode, size=args.size,
                      shard_size=args.shard_size, jitter=not args.no_jitter, splay=args.splay,
                      shape=args.shape_scale, occluder_prob=args.occluders,
                      photometric=not args.no_photometric, photo_bg=args.photo_bg,
                      env_light=args.env_light, env_bg=args.env_bg, forearm=args.forearm, sleeve=args.sleeve,
                      camera_fx=args.camera_fx)
    summary = generate(args.out, cfg, workers=args.workers, progress=not args.quiet)
    run = summary["last_run"]
    speed = f", {run['images_per_second']} images/s" if run["images"] else " (nothing left to do)"
    print(f"{args.out}: {summary['count']} of {summary['requested']} images{speed}")
    return 0


def cmd_train(args) -> int:
    from mobrecon.train.config import load_config
    from mobrecon.train.trainer import train

    overrides = {k: v for k, v in (("data.train", args.data), ("max_steps", args.max_steps),
                                   ("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("data.workers", args.workers), ("init", args.init)) if v is not None}
    cfg = load_config(args.config, **overrides)
    out = args.out or str(Path("runs") / Path(args.config).stem)
    result = train(cfg, out, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the first process reports
        return 0
    print(f"{out}: {result['status']} at step {result['step']} (epoch {result['epoch']}); "
          f"checkpoint {result['checkpoint']}" + (f", model {result['model']}" if "model" in result else ""))
    return 130 if result["status"] == "interrupted" else 0


def cmd_eval(args) -> int:
    from mobrecon.data.mixed import open_dataset
    from mobrecon.eval.evaluate import evaluate
    from mobrecon.models.weights import load_model

    if args.count is not None and args.count < 1:
        raise UserError(f"--count must be >= 1, got {args.count}")
    model = load_model(args.checkpoint)
    data = open_dataset(args.data)
    result = evaluate(model, data, count=args.count, batch_size=args.batch_size, workers=args.workers,
                      progress=not (args.quiet or args.json), fps=args.fps, collect=bool(args.freihand_json),
                      crop=args.crop)
    if args.freihand_json:
        from mobrecon.eval.submission import write_freihand_json

        pred = result.pop("predictions")
        write_freihand_json(args.freihand_json, list(pred["joints3d"]), list(pred["vertices"]),
                            num_vertices=pred["vertices"].shape[1])
    result = {"checkpoint": args.checkpoint, "data": args.data, **result}
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16s}  {v}")
    if args.freihand_json:
        print(f"wrote {args.freihand_json}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _parse_numbers(text: str, n: int, flag: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise UserError(f"{flag} {text!r}: expected {n} comma-separated numbers")
    return vals


def _video_frames(source: Path, report: dict | None = None):
    """Frames (RGB) of a video file or of a folder of images (sorted by name). ``report`` gets
    ``frames_read`` and, for a file, ``frames_listed`` (the container's frame count)."""
    import cv2

    from mobrecon.data.calibration import IMAGE_SUFFIXES
    from mobrecon.image import read_image

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


def _image_error(command: str, path, e: Exception) -> str:
    """The one line for an image that could not be done (the path named once)."""
    msg = str(e) if str(path) in str(e) else f"{path}: {e}"
    return f"mobrecon {command}: error: {msg}"


def _write_error(path, out: Path, e: OSError) -> str:
    """The one line for an image whose outputs could not be written."""
    return f"mobrecon reconstruct: error: {path}: could not write its outputs into {out} ({e.strerror or e})"


def _usable_out(out: Path) -> Path:
    """--out checked before anything is loaded: a folder this process can write into."""
    from mobrecon.io_utils import check_output_dir

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


def cmd_reconstruct(args) -> int:
    from mobrecon.infer.predictor import load
    from mobrecon.io_utils import folder_lock

    if not args.images and not args.video:
        raise UserError("give one or more IMAGE files, or --video FILE_OR_FOLDER")
    writers = _writers(args)
    box = _parse_numbers(args.box, 4, "--box") if args.box else None
    K = _parse_numbers(args.K, 4, "--K") if args.K else None
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
                         handedness=args.handedness or "auto")
        if args.video:
            return _reconstruct_video(args, predictor, box, K, out, writers)
        return _reconstruct_images(args, predictor, box, K, out, writers)


def _reconstruct_images(args, predictor, box, K, out: Path, writers: list[str]) -> int:
    """Each image's outputs (one file per writer) as one set, all or nothing; a bad image or a
    failed write is one line on stderr and the others are still done."""
    from tqdm import tqdm

    from mobrecon.image import read_image
    from mobrecon.io_utils import write_file_set
    from mobrecon.viz.render import MeshRenderer

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
                tqdm.write(_image_error("reconstruct", path, e), file=sys.stderr)
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
    from mobrecon.io_utils import write_file_set
    from mobrecon.viz.render import MeshRenderer

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


def cmd_detect(args) -> int:
    modes = [m for m in (args.make_data, args.make_real, args.train, args.eval) if m]
    if len(modes) > 1 or (modes and args.images):
        raise UserError("give IMAGE files, or one of --make-data DIR, --make-real FILE, --train, --eval DIR")
    if args.make_real:
        from mobrecon.data.real_photos import default_realdata
        from mobrecon.detect.real_boxes import make_real_cache

        if not args.labels:
            raise UserError("--make-real needs --labels DIR (the teacher's signers.npz and closeups.npz)")
        try:
            counts = make_real_cache(args.realdata or default_realdata(), args.labels, args.make_real,
                                     signer_boxes=args.signer_boxes)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"--make-real: {e}") from None
        print(f"{args.make_real}: {json.dumps(counts)}")
        return 0
    if args.make_data:
        from mobrecon.detect.composites import CompositeConfig, generate_composites

        require("moderngl", "mobrecon detect --make-data", extra="train")  # it renders the hands
        if args.count is None:
            raise UserError("--make-data needs --count N")
        if args.workers < 1:
            raise UserError(f"--workers must be >= 1, got {args.workers}")
        cfg = CompositeConfig(count=args.count, seed=args.seed, max_box=args.max_box)
        try:
            cfg.check()
        except ValueError as e:
            raise UserError(f"--make-data: {e}") from None
        summary = generate_composites(args.make_data, cfg,
                                      workers=args.workers, progress=not args.quiet)
        run = summary["last_run"]
        speed = f", {run['images_per_second']} images/s" if run["images"] else " (nothing left to do)"
        print(f"{args.make_data}: {summary['count']} of {summary['requested']} images, {summary['hands']} hands "
              f"({summary['left_hands']} left){speed}")
        return 0
    if args.train:
        from mobrecon.detect.train import DetectorTrainConfig, train_detector

        cfg = DetectorTrainConfig.from_yaml(args.config, data=args.data, max_minutes=args.max_minutes,
                                            init=args.init, device=args.device, amp=args.amp,
                                            schedule_minutes=args.schedule_minutes)
        if args.init and args.resume:
            raise UserError("--init starts a new run; --resume continues the one in --out (give one of them)")
        result = train_detector(cfg, args.out, resume=args.resume, progress=not args.quiet)
        print(f"{args.out}: {result['status']} at step {result['step']} on {result['device']}; "
              f"checkpoint {result['checkpoint']}"
              + (f", detector {result['model']}" if "model" in result else ""))
        return 130 if result["status"] == "interrupted" else 0
    from mobrecon.detect.detector import HandDetector

    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UserError(f"--threshold must lie in [0, 1], got {args.threshold}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.eval:
        from mobrecon.detect.dataset import CompositeDataset
        from mobrecon.detect.evaluate import evaluate_detector

        data = CompositeDataset(args.eval)
        detector = HandDetector.load(args.detector)
        if args.threshold is not None:
            detector.threshold = args.threshold
        result = {"data": args.eval, "detector": args.detector or "shipped",
                  **evaluate_detector(detector, data, count=args.count, progress=not (args.quiet or args.json),
                                      device=args.device or "auto")}
        if args.json:
            print(json.dumps(result))
        else:
            for k, v in result.items():
                print(f"{k:>20s}  {v}")
        return 0
    if not args.images:
        raise UserError("give one or more IMAGE files (or --make-data DIR, --train, --eval DIR)")
    from mobrecon.image import read_image

    detector = None
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            if detector is None:
                try:
                    detector = HandDetector.load(args.detector)
                    if args.device:
                        detector.to(args.device)
                except (FileNotFoundError, ValueError) as e:
                    raise UserError(str(e)) from None
            found = detector.detect(image, threshold=args.threshold)
        except (FileNotFoundError, ValueError) as e:
            print(_image_error("detect", path, e), file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), "width": image.shape[1], "height": image.shape[0],
                              "hands": [d.to_dict() for d in found]}))
        elif not found:
            print(f"{path}: no hand found")
        else:
            for d in found:
                x0, y0, x1, y1 = d.box
                print(f"{path}: {d.handedness} hand, score {d.score:.2f}, box {x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}")
    return 2 if failures else 0


def cmd_handedness(args) -> int:
    modes = [m for m in (args.train, args.eval) if m]
    if len(modes) > 1 or (modes and args.images):
        raise UserError("give IMAGE files, or one of --train, --eval DIR")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.train:
        from mobrecon.detect.handedness_train import HandednessTrainConfig, train_handedness

        if not args.data:
            raise UserError("--train needs --data DIR[,DIR...] (still sets from mobrecon synth, composite sets "
                            "from mobrecon detect --make-data)")
        cfg = HandednessTrainConfig(data=args.data, model=args.model, val=args.val, views=args.views, l2=args.l2,
                                    seed=args.seed, threads=args.threads)
        result = train_handedness(cfg, args.out, progress=not args.quiet)
        vals = "; ".join(f"{k}: accuracy {v['accuracy']:.3f}" for k, v in result["val"].items())
        print(f"{args.out}: head {result['model']} from {result['crops']} crops, training accuracy "
              f"{result['train_accuracy']:.3f}" + (f"; {vals}" if vals else ""))
        return 0
    from mobrecon.infer.predictor import load_handedness
    from mobrecon.models.weights import resolve_model

    model = resolve_model(args.model)
    classifier = load_handedness(args.weights or "auto", model)
    if classifier is None:
        raise UserError(f"no shipped handedness head fits {args.model}; fit one with mobrecon handedness --train "
                        "and pass it with --weights")
    if args.eval:
        from mobrecon.detect.handedness_train import evaluate_handedness

        result = {"data": args.eval, "model": args.model, "weights": args.weights or "shipped",
                  **evaluate_handedness(classifier, args.eval, progress=not (args.quiet or args.json))}
        print(json.dumps(result) if args.json else "\n".join(f"{k:>18s}  {v}" for k, v in result.items()))
        return 0
    if not args.images:
        raise UserError("give one or more IMAGE files (or --train, --eval DIR)")
    from mobrecon.data.crop import check_box
    from mobrecon.image import read_image

    box = _parse_numbers(args.box, 4, "--box") if args.box else None
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            h, w = image.shape[:2]
            hand_box = check_box(box, w, h) if box else (0.0, 0.0, w - 1.0, h - 1.0)
            side, p_left = classifier.classify(image, hand_box if box else None)
        except (FileNotFoundError, ValueError) as e:
            print(_image_error("handedness", path, e), file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), "box": [round(v, 2) for v in hand_box], "handedness": side,
                              "p_left": round(p_left, 4)}))
        else:
            print(f"{path}: {side} hand (P(left) = {p_left:.2f})")
    return 2 if failures else 0


def cmd_fit(args) -> int:
    import torch
    from tqdm import tqdm

    from mobrecon.data.pseudo_mesh import FitConfig, fit_labels, read_labels
    from mobrecon.data.root import default_intrinsics
    from mobrecon.hand.load import load_hand
    from mobrecon.io_utils import atomic_save_npz

    if Path(args.out).exists() and not args.force:
        raise UserError(f"--out {args.out}: exists (pass --force to replace it)")
    if args.batch_size < 1 or args.threads < 1:
        raise UserError("--batch-size and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    labels = read_labels(args.labels)
    size = labels["size"][labels["image"]]
    K = np.stack([default_intrinsics(int(w), int(h)) for w, h in size]) if len(size) else np.zeros((0, 3, 3))
    cfg = FitConfig(batch_size=args.batch_size)
    with tqdm(total=len(size), unit="hand", disable=args.quiet) as bar:
        fits = fit_labels(load_hand("openhand"), labels, K, cfg, progress=bar.update)
    fits["labels"] = np.str_(str(Path(args.labels).resolve()))
    atomic_save_npz(args.out, fits)
    keep, r2, r3 = fits["keep"], fits["residual_2d"], fits["residual_3d"]
    med = f"; median residual {np.median(r2):.3f} box, {np.median(r3):.1f} mm" if len(r2) else ""
    print(f"{args.out}: {len(keep)} hands fitted, {int(keep.sum())} kept{med}")
    return 0


def _synth_video(args) -> int:
    from mobrecon.synth.video import VideoConfig, generate_video

    if not args.out or args.sequences is None or args.frames is None:
        raise UserError("synth --video needs --out DIR, --sequences N and --frames N")
    cfg = VideoConfig(sequences=args.sequences, frames=args.frames, fps=args.fps, seed=args.seed, size=args.size,
                      shape=args.shape_scale, photometric=not args.no_photometric, forearm=args.forearm,
                      sleeve=args.sleeve, camera_fx=args.camera_fx)
    summary = generate_video(args.out, cfg, workers=args.workers, progress=not args.quiet)
    print(f"{args.out}: {summary['count']} frames in {cfg.sequences} sequence(s) at {cfg.fps:g} fps")
    return 0


def cmd_label(args) -> int:
    from mobrecon.data.labelling import collect_images, label_images, previous_labels
    from mobrecon.data.real_photos import READERS
    from mobrecon.data.teacher_process import TeacherProcess, find_teacher

    if args.save_every < 1:
        raise UserError(f"--save-every must be >= 1, got {args.save_every}")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out {out}: the labels file must end in .npz")
    boxes_of, one_hand = None, False
    if args.set:
        if len(args.inputs) != 1 or not Path(args.inputs[0]).is_dir():
            raise UserError(f"--set {args.set}: give the set's folder as the one input")
        ds = READERS[args.set](args.inputs[0], split=args.split or "all")
        root, files = ds.root.resolve(), [ds.image_path(i) for i in range(len(ds))]
        if hasattr(ds, "normalised_boxes"):
            boxes_of = lambda k, w, h: ds.boxes(k, w, h)[0]  # noqa: E731
        one_hand = ds.ONE_HAND
    else:
        if args.split:
            raise UserError("--split goes with --set")
        root, files = collect_images(args.inputs)
    previous_labels(out, root, files)  # another image set's file: refused before the teacher starts
    teacher_python = find_teacher(args.teacher)
    with TeacherProcess(teacher_python, min_detection_confidence=args.min_confidence,
                        model_complexity=args.complexity) as teacher:
        try:
            summary = label_images(files, root, out, teacher, boxes_of=boxes_of, one_hand=one_hand,
                                   save_every=args.save_every, progress=not (args.quiet or args.json))
        except KeyboardInterrupt:
            print(f"mobrecon label: interrupted; what was done is in {out.stem}.partial.npz, run the same command "
                  "again to continue", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps({"out": str(out), "root": str(root), **summary}))
    else:
        bad = f", {len(summary['unreadable'])} unreadable" if summary["unreadable"] else ""
        dropped = f", {summary['dropped']} dropped by the set's rule" if boxes_of or one_hand else ""
        print(f"{out}: {summary['images']} images ({summary['new']} labelled now, {summary['reused']} from the cache); "
              f"a hand in {summary['with_hand']}, none in {summary['no_hand']}{bad}; {summary['hands']} hands "
              f"({summary['left']} left, {summary['right']} right){dropped}; {summary['seconds']} s")
    return 2 if summary["unreadable"] else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mobrecon", description="Mobile-friendly 3D hand mesh reconstruction.")
    p.add_argument("--version", action="version", version=f"mobrecon {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    h = sub.add_parser("hand", help="pose the hand model, write a mesh and a render, or print its facts")
    h.add_argument("--model", default="openhand", help="'openhand' (built in), an OpenHand .npz, or MANO_RIGHT.pkl")
    h.add_argument("--pose", default="flat", help="flat, fist, point, victory, thumbs_up, spread, or random (with --seed)")
    h.add_argument("--seed", type=int, default=0, help="seed for --pose random")
    h.add_argument("--shape", help="comma-separated shape values (scale, finger_length, thumb_length, "
                   "palm_width, palm_length, thickness); 1 = +10%%")
    h.add_argument("--out", help="write the posed mesh here (.obj or .ply)")
    h.add_argument("--png", help="write a render here")
    h.add_argument("--view", default="front", help="render view: front, side, top, or AZIMUTH,ELEVATION degrees")
    h.add_argument("--size", type=int, default=512, help="render size in pixels")
    h.add_argument("--info", action="store_true", help="print vertex/face/joint counts and the mesh hierarchy")
    h.add_argument("--json", action="store_true", help="with --info: print one JSON object")
    h.set_defaults(func=cmd_hand)

    b = sub.add_parser("bench", help="count Mult-Adds and parameters per part and time a model on a backend")
    b.add_argument("--model", default="mobrecon_ghoststack", help="a registered name (shipped weights, else "
                   "random ones), a model file or a checkpoint")
    b.add_argument("--backend", default="torch", choices=("torch", "onnx", "onnx-int8"))
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--runs", type=int, default=30, help="timed runs (median and p90 reported)")
    b.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    b.add_argument("--threads", type=int, default=None, help="one thread count (default: 1 and 2)")
    b.add_argument("--throughput-batch", type=int, default=32, help="batch for the throughput figure (0: skip)")
    b.add_argument("--calib", help="onnx-int8: calibration images (folder or synth set; default: rendered crops)")
    b.set_defaults(func=cmd_bench)

    x = sub.add_parser("export", help="export a model to ONNX (fp32, or int8 with calibration), checked against PyTorch")
    x.add_argument("--model", default="mobrecon_ghoststack", help="a registered name (shipped weights, else random "
                   "ones), a model file or a stage-2 checkpoint")
    x.add_argument("--onnx", required=True, help="the .onnx file to write")
    x.add_argument("--int8", action="store_true", help="static int8 quantisation (ONNX Runtime, QDQ)")
    x.add_argument("--calib", help="with --int8: calibration images (a folder, or a mobrecon synth set)")
    x.add_argument("--n-calib", type=int, default=32, help="with --int8: number of calibration crops")
    x.add_argument("--json", action="store_true", help="print the export, parity and int8 reports as JSON")
    x.set_defaults(func=cmd_export)

    y = sub.add_parser("synth", help="generate a synthetic hand data set (uniform poses x viewpoints)")
    y.add_argument("--out", help="output directory (re-running resumes: finished shards are skipped)")
    y.add_argument("--count", type=int, help="number of images")
    y.add_argument("--seed", type=int, default=0, help="seed: same seed and settings -> identical files")
    y.add_argument("--mode", default="uniform", choices=("uniform", "random"),
                   help="uniform: the paper's 1,520 poses x 216 views; random: poses inside the joint limits")
    y.add_argument("--size", type=int, default=128, help="image size in pixels (128 training, 224/256 evaluation)")
    y.add_argument("--workers", type=int, default=1, help="processes")
    y.add_argument("--shard-size", type=int, default=500, help="images per shard")
    y.add_argument("--no-jitter", action="store_true", help="exact grid viewpoints, fixed field of view and fill")
    y.add_argument("--splay", type=float, default=0.5, help="uniform mode: finger splay range (0 = paper's poses)")
    y.add_argument("--shape-scale", type=float, default=1.0, help="hand shape range (1 = +-10%%; 0 = mean hand)")
    y.add_argument("--occluders", type=float, default=0.25, help="fraction of images with occluding shapes")
    y.add_argument("--no-photometric", action="store_true", help="no colour jitter / blur / noise")
    y.add_argument("--photo-bg", type=float, default=0.0,
                   help="share of backgrounds taken from photos of the look cache (see --fetch-look)")
    y.add_argument("--env-light", type=float, default=0.0,
                   help="share of images lit by an HDR environment map of the look cache")
    y.add_argument("--env-bg", type=float, default=0.3,
                   help="of the HDR-lit images, the share with the map itself as background")
    y.add_argument("--forearm", type=float, default=0.0,
                   help="share of images (video: sequences) with a forearm, not part of the labels")
    y.add_argument("--sleeve", type=float, default=0.5, help="of the forearms, the share wearing a sleeve")
    y.add_argument("--camera-fx", type=float, default=0.0, help="share of images (video: sequences) through "
                   "camera effects: exposure, white balance, vignetting, defocus, motion blur, sensor noise")
    y.add_argument("--fetch-look", nargs="?", const="-", metavar="CACHE",
                   help="instead: download and prepare the openly licensed photos and HDR maps into CACHE "
                        "(default $MOBRECON_LOOK_CACHE or ~/.cache/mobrecon/look)")
    y.add_argument("--quiet", action="store_true", help="no progress bar")
    y.add_argument("--video", action="store_true", help="video mode: smooth pose and camera trajectories, "
                   "tracker-like jittered crops (with --sequences, --frames, --fps)")
    y.add_argument("--sequences", type=int, help="with --video: number of sequences")
    y.add_argument("--frames", type=int, help="with --video: frames per sequence")
    y.add_argument("--fps", type=float, default=30.0, help="with --video: frame rate")
    y.add_argument("--preview", metavar="DIR", help="instead: write a grid of samples of DIR to --png")
    y.add_argument("--png", help="with --preview: the grid image to write")
    y.add_argument("--n", type=int, default=16, help="with --preview: number of samples")
    y.set_defaults(func=cmd_synth)

    t = sub.add_parser("train", help="train a model (stage 1: 2D pose; stage 2: the whole network)")
    t.add_argument("--config", required=True, help="a YAML run config, e.g. configs/mobrecon_ghoststack.yaml")
    t.add_argument("--data", help="training data (overrides data.train): DIR, KIND:DIR, or a mixture A=0.7,B=0.3")
    t.add_argument("--out", help="run directory (default runs/<config name>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    t.add_argument("--init", help="start from this checkpoint (e.g. a stage-1 run's last.pt)")
    t.add_argument("--epochs", type=int, help="override epochs")
    t.add_argument("--batch-size", type=int, help="override batch_size")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    t.add_argument("--workers", type=int, help="override data.workers (DataLoader processes)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="score a model on a data set (MPJPE, PA-MPJPE, AUC, F@5/15, acceleration)")
    e.add_argument("--checkpoint", required=True, help="a model file (model.pt) or a stage-2 checkpoint (last.pt)")
    e.add_argument("--data", required=True, help="a data set: DIR or KIND:DIR[:SPLIT] (freihand, rhd, ho3d, synth)")
    e.add_argument("--count", type=int, help="score only the first N samples")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--workers", type=int, default=0, help="DataLoader processes")
    e.add_argument("--fps", type=float, default=30.0, help="frame rate of video sets (acceleration units)")
    e.add_argument("--crop", default="joints", choices=("joints", "full"),
                   help="joints: around the annotated 2D joints (protocol); full: the whole image (video crops)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--freihand-json", metavar="FILE", help="also write predictions as a FreiHAND submission "
                   "[xyz_list, verts_list] (camera space, metres)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("reconstruct", help="reconstruct hands from photos (mesh, joints, overlays)")
    r.add_argument("images", nargs="*", help="image files")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--model", default="mobrecon_ghoststack", help="a registered model (shipped weights), "
                   "a model file or a stage-2 checkpoint")
    r.add_argument("--box", help="x0,y0,x1,y1: the hand's box in pixels (default: every hand the detector "
                   "finds; without a detector, the whole image is the crop)")
    r.add_argument("--no-detect", action="store_true", help="do not run the hand detector: without --box the "
                   "whole image is the crop")
    r.add_argument("--detector", help="a hand detector file (default: the shipped one)")
    r.add_argument("--threshold", type=float, help="detector score threshold (default 0.2)")
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
    r.set_defaults(func=cmd_reconstruct)

    d = sub.add_parser("detect", help="find hands in photos (boxes, scores, handedness); or make composite data, "
                       "train or evaluate the detector")
    d.add_argument("images", nargs="*", help="image files to find hands in")
    d.add_argument("--json", action="store_true", help="print one JSON object per image (or for --eval)")
    d.add_argument("--threshold", type=float, help="score threshold (default 0.2)")
    d.add_argument("--detector", help="a detector file or training checkpoint (default: the shipped one)")
    d.add_argument("--threads", type=int, help="CPU threads")
    d.add_argument("--make-data", metavar="DIR", help="instead: generate composite training / test images into DIR")
    d.add_argument("--count", type=int, help="with --make-data: number of images; with --eval: score the first N")
    d.add_argument("--seed", type=int, default=0, help="with --make-data: seed (same seed and settings -> same files)")
    d.add_argument("--workers", type=int, default=1, help="with --make-data: processes")
    d.add_argument("--max-box", type=float, default=200.0, help="with --make-data: largest hand box side, pixels "
                   "(of the 256 px image; default 200)")
    d.add_argument("--make-real", metavar="FILE", help="instead: cache the real training photos (signer frames' and "
                   "close-ups' train splits, letterboxed, with their hand boxes) into FILE (.npz)")
    d.add_argument("--realdata", help="with --make-real: the real photo sets' folder (default ../shared/realdata)")
    d.add_argument("--labels", metavar="DIR", help="with --make-real: folder of the teacher's labels "
                   "(signers.npz, closeups.npz)")
    d.add_argument("--signer-boxes", choices=("teacher", "set"), default="teacher",
                   help="with --make-real: the signer frames' boxes: the teacher's hands widened to whole-hand "
                   "boxes (default) or the set's own gesture boxes")
    d.add_argument("--train", action="store_true", help="instead: train a detector (with --config)")
    d.add_argument("--config", default="configs/hand_detector.yaml", help="with --train: the run config (YAML)")
    d.add_argument("--data", help="with --train: composite set(s), comma-separated (overrides the config's data)")
    d.add_argument("--init", metavar="PATH", help="with --train: start a new run from these detector weights "
                   "(e.g. the shipped src/mobrecon/weights/hand_detector.pt or a run's detector.pt)")
    d.add_argument("--device", help="auto (CUDA when available), cpu or cuda: where to train (default: the "
                   "config's, auto), evaluate (default auto) or detect (default cpu)")
    d.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="with --train: bfloat16 autocast on CUDA (default: the config's)")
    d.add_argument("--schedule-minutes", type=float, help="with --train: decay the learning rate over this much "
                   "training time instead of the config's steps; the run is done when it is spent")
    d.add_argument("--out", default="runs/hand_detector", help="with --train: run directory")
    d.add_argument("--resume", action="store_true", help="with --train: continue the run in --out")
    d.add_argument("--max-minutes", type=float, help="with --train: stop (resumable) after this wall time")
    d.add_argument("--eval", metavar="DIR", help="instead: AP at IoU 0.5 of the detector on a composite set")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_detect)

    g = sub.add_parser("handedness", help="say whether the hand in a photo is a left or a right hand; or fit "
                       "or score the handedness head on a model's encoder")
    g.add_argument("images", nargs="*", help="image files, each showing one hand (the whole image, or --box)")
    g.add_argument("--box", help="x0,y0,x1,y1: the hand's box in pixels (default: the whole image)")
    g.add_argument("--model", default="mobrecon_ghoststack", help="the reconstruction model whose encoder the head "
                   "reads (a registered name or a model file)")
    g.add_argument("--weights", help="a handedness head file (default: the shipped head fitted on --model)")
    g.add_argument("--json", action="store_true", help="print one JSON object per image (or for --eval)")
    g.add_argument("--threads", type=int, help="CPU threads")
    g.add_argument("--train", action="store_true", help="instead: fit a head on generated sets (--data)")
    g.add_argument("--data", help="with --train: still sets (mobrecon synth) and/or composite sets "
                   "(mobrecon detect --make-data), comma-separated")
    g.add_argument("--val", help="with --train: sets scored at the end and recorded with the head (comma-separated)")
    g.add_argument("--views", type=int, default=1, help="with --train: augmented crops per hand")
    g.add_argument("--l2", type=float, default=1e-3, help="with --train: weight decay of the logistic fit")
    g.add_argument("--seed", type=int, default=0, help="with --train: seed of the augmentation")
    g.add_argument("--out", default="runs/handedness", help="with --train: run directory (features are kept "
                   "there, so a re-run resumes)")
    g.add_argument("--eval", metavar="DIR", help="instead: accuracy on the hands of generated sets (comma-separated), "
                   "each as stored and mirrored")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_handedness)

    lb = sub.add_parser("label", help="label photos with the teacher (MediaPipe Hands, in .venv-teacher: "
                        "`make teacher`): 2D keypoints, handedness, world landmarks per hand")
    lb.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE", help="images, or folders searched for images "
                    "(with --set: the set's folder)")
    lb.add_argument("--out", required=True, help="the labels file (.npz) to write; a rerun continues it")
    lb.add_argument("--set", choices=("closeups", "signers", "hagrid"), help="read the input as this real photo "
                    "set (signers: only the hand nearest each of the set's boxes is kept; closeups: only the "
                    "largest hand, the set having one per photo)")
    lb.add_argument("--split", help="with --set: the split to label (default: all)")
    lb.add_argument("--teacher", help="the teacher environment's python (default: $MOBRECON_TEACHER, else "
                    ".venv-teacher/bin/python)")
    lb.add_argument("--min-confidence", type=float, default=0.3, help="MediaPipe's min_detection_confidence")
    lb.add_argument("--complexity", type=int, default=1, choices=(0, 1), help="MediaPipe's model_complexity")
    lb.add_argument("--save-every", type=int, default=100, help="save the partial file after this many images")
    lb.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    lb.add_argument("--quiet", action="store_true", help="no progress bar")
    lb.set_defaults(func=cmd_label)

    f = sub.add_parser("fit", help="fit OpenHand to a teacher's labels (mobrecon label): pseudo-meshes")
    f.add_argument("labels", help="a teacher labels .npz")
    f.add_argument("--out", required=True, help="write the fits here (.npz)")
    f.add_argument("--force", action="store_true", help="replace --out if it exists")
    f.add_argument("--batch-size", type=int, default=256, help="hands fitted together")
    f.add_argument("--threads", type=int, default=1, help="CPU threads")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_fit)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    training = args.command == "train" or (args.command == "detect" and args.train)
    if argv is None and training:  # a training run from the shell: a faster allocator
        reexec_with_jemalloc(sys.argv[1:])
    try:
        return args.func(args)
    except (UserError, OSError, ValueError, RuntimeError, pickle.UnpicklingError, MissingExtraError) as e:
        # OSError: a file that cannot be read or written (FileNotFoundError among them);
        # UnpicklingError: a refused pickle (a global outside the allow-list); MissingExtraError:
        # an optional dependency not installed (the line names the pip install to run)
        print(f"mobrecon {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

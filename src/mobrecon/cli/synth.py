"""``mobrecon synth``: generate a synthetic hand data set (stills: uniform poses x viewpoints;
``--video``: sequences), or preview one, or fetch the photographic look's assets."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobrecon.cli.common import UserError
from mobrecon.extras import require
from mobrecon.synth.generator import SynthConfig, generate
from mobrecon.synth.look_assets import default_cache, fetch
from mobrecon.synth.preview import preview_grid
from mobrecon.synth.video import VideoConfig, generate_video


def add_arguments(y: argparse.ArgumentParser) -> None:
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
    y.add_argument("--env-auto", action="store_true", help="HDR light as a phone camera records it: white "
                   "balance and exposure set on the hand's camera-facing side, a soft fill, a weak highlight")
    y.add_argument("--forearm", type=float, default=0.0,
                   help="share of images (video: sequences) with a forearm, not part of the labels")
    y.add_argument("--sleeve", type=float, default=0.5, help="of the forearms, the share wearing a sleeve")
    y.add_argument("--camera-fx", type=float, default=0.0, help="share of images (video: sequences) through "
                   "camera effects: exposure, white balance, vignetting, defocus, motion blur, sensor noise")
    y.add_argument("--skin-texture", type=float, default=0.0, help="share of images (video: sequences) whose "
                   "hand skin is painted through OpenHand's UVs (blotches, pores, knuckle wrinkles, nails)")
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


def run(args) -> int:
    if args.fetch_look:
        index = fetch(args.fetch_look if args.fetch_look != "-" else default_cache())
        return 0 if index["backgrounds"] or index["envmaps"] else 1
    if args.preview:
        if not args.png:
            raise UserError("--preview needs --png FILE for the grid")
        if not Path(args.preview).is_dir():
            raise UserError(f"--preview {args.preview}: no such directory")
        print(f"wrote {preview_grid(args.preview, args.png, n=args.n)}")
        return 0
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
                      env_light=args.env_light, env_bg=args.env_bg, env_auto=args.env_auto, forearm=args.forearm, sleeve=args.sleeve,
                      camera_fx=args.camera_fx, skin_texture=args.skin_texture)
    summary = generate(args.out, cfg, workers=args.workers, progress=not args.quiet)
    last = summary["last_run"]
    speed = f", {last['images_per_second']} images/s" if last["images"] else " (nothing left to do)"
    print(f"{args.out}: {summary['count']} of {summary['requested']} images{speed}")
    return 0


def _synth_video(args) -> int:
    if not args.out or args.sequences is None or args.frames is None:
        raise UserError("synth --video needs --out DIR, --sequences N and --frames N")
    cfg = VideoConfig(sequences=args.sequences, frames=args.frames, fps=args.fps, seed=args.seed, size=args.size,
                      shape=args.shape_scale, photometric=not args.no_photometric, forearm=args.forearm,
                      sleeve=args.sleeve, camera_fx=args.camera_fx, skin_texture=args.skin_texture)
    summary = generate_video(args.out, cfg, workers=args.workers, progress=not args.quiet)
    print(f"{args.out}: {summary['count']} frames in {cfg.sequences} sequence(s) at {cfg.fps:g} fps")
    return 0

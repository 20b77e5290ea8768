"""``mobrecon detect-data DIR``: generate composite images for the hand detector (rendered hands,
left and right, on procedural or, with ``--photo-bg``, photographic backgrounds, with their
boxes) into DIR; a re-run resumes."""

from __future__ import annotations

import argparse

from mobrecon.cli.common import UserError
from mobrecon.detect.composites import CompositeConfig, generate_composites, look_index
from mobrecon.extras import require


def add_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("out", metavar="DIR", help="the set's folder (re-running resumes)")
    d.add_argument("--count", type=int, required=True, help="number of images")
    d.add_argument("--seed", type=int, default=0, help="seed (same seed and settings -> same files)")
    d.add_argument("--workers", type=int, default=1, help="processes")
    d.add_argument("--max-box", type=float, default=200.0, help="largest hand box side, pixels "
                   "(of the 256 px image; default 200)")
    d.add_argument("--photo-bg", type=float, default=0.0, help="share of images whose background is a photo "
                   "of the look cache (random crop, scale, flip; fill it with `mobrecon synth --fetch-look`)")
    d.add_argument("--env-light", type=float, default=0.0,
                   help="share of images lit by an HDR environment map of the look cache")
    d.add_argument("--env-bg", type=float, default=0.3,
                   help="of the HDR-lit images, the share with the map itself as background")
    d.add_argument("--forearm", type=float, default=0.0, help="share of hands with the synth generator's "
                   "forearm (bent at the wrist, some in a sleeve) instead of the plain one (70 %% of hands)")
    d.add_argument("--sleeve", type=float, default=0.5, help="of those forearms, the share wearing a sleeve")
    d.add_argument("--camera-fx", type=float, default=0.0, help="share of images through camera effects: "
                   "exposure, white balance, vignetting, defocus, motion blur, sensor noise")
    d.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    require("moderngl", "mobrecon detect-data", extra="train")  # it renders the hands
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    cfg = CompositeConfig(count=args.count, seed=args.seed, max_box=args.max_box, photo_bg=args.photo_bg,
                          env_light=args.env_light, env_bg=args.env_bg, forearm=args.forearm, sleeve=args.sleeve,
                          camera_fx=args.camera_fx)
    cfg.check()  # a ValueError: one line naming the setting
    look_index(cfg)  # a ValueError when a share needs the look cache and it is missing: before any folder is made
    summary = generate_composites(args.out, cfg, workers=args.workers, progress=not args.quiet)
    last = summary["last_run"]
    speed = f", {last['images_per_second']} images/s" if last["images"] else " (nothing left to do)"
    print(f"{args.out}: {summary['count']} of {summary['requested']} images, {summary['hands']} hands "
          f"({summary['left_hands']} left){speed}")
    return 0

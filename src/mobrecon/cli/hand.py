"""``mobrecon hand``: pose the hand model, write a mesh and a render, or print its facts."""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mobrecon.cli.common import UserError
from mobrecon.hand.load import hand_hierarchy, load_hand
from mobrecon.hand.poses import named_pose, random_angles
from mobrecon.mesh.io import save_mesh
from mobrecon.viz.render import render_mesh_png

# The hand's frame has +y along the fingers and +z out of the back of the hand; turning it half a
# turn about z shows the palm with the fingers up in a camera whose image y points down.
DISPLAY_ROTATION = np.diag([-1.0, -1.0, 1.0])


def add_arguments(h: argparse.ArgumentParser) -> None:
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


def run(args) -> int:
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
        save_mesh(args.out, verts, faces)
        print(f"wrote {args.out}")
    if args.png:
        try:
            render_mesh_png(verts @ DISPLAY_ROTATION.T, faces, args.png, size=args.size, view=_parse_view(args.view))
        except ValueError as e:
            raise UserError(f"--view: {e}") from None
        print(f"wrote {args.png}")
    return 0

"""What ``mobrecon reconstruct`` writes per image, for people to look at and programs to read.

The writers, by name (``mobrecon reconstruct --write obj,json,overlay,side``; :data:`WRITERS`):

``obj``      ``NAME.obj`` the camera-space mesh (metres);
``json``     ``NAME.json`` joints (2D image pixels, 3D camera space), root translation, box, K,
             model name and package version (a video frame's: one line, without the version);
``overlay``  ``NAME_overlay.png`` the photo with the shaded mesh rendered over it through K and
             the 2D skeleton on top (a photo over ``MAX_OVERLAY_SIDE`` pixels on a side is
             drawn downscaled to that size);
``side``     ``NAME_side.png`` the mesh seen from its side.

An image's files are a set, written all or nothing: everything is made in memory first, then
written to temp names and renamed at the end (:func:`mobrecon.io_utils.write_file_set`).
Photos get :data:`DEFAULT_WRITERS` (all four), video frames :data:`VIDEO_WRITERS` (the JSON);
with ``overlays=False`` or without the two pictures nothing is rendered (no renderer, no
``mobrecon[render]`` extra needed).

A new format is one function registered here::

    @register_writer("ply", ".ply", "the camera-space mesh as PLY")
    def _ply(hand: HandOutput):
        return lambda tmp: write_mesh(tmp, hand.result.vertices, hand.result.faces, "ply")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from PIL import Image

from mobrecon.infer.predictor import HandResult
from mobrecon.io_utils import write_file_set
from mobrecon.mesh.io import write_mesh
from mobrecon.registry import Registry
from mobrecon.version import __version__
from mobrecon.viz.joints import draw_joints
from mobrecon.viz.render import MeshRenderer, look_at_camera

OVERLAY_ALPHA = 0.7  # the mesh's opacity over the photo
MAX_OVERLAY_SIDE = 4096  # larger photos get their overlay at this size (the renderer's limit is 8192)
DEFAULT_WRITERS = ("obj", "json", "overlay", "side")  # what a photo gets
VIDEO_WRITERS = ("json",)  # what a video frame gets


def overlay(image: np.ndarray, result: HandResult, renderer: MeshRenderer,
            max_side: int = MAX_OVERLAY_SIDE) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the mesh rendered through the result's K, blended over the photo,
    with the 2D skeleton drawn on top. A photo over ``max_side`` pixels on a side is first
    downscaled to that size (K and the 2D joints with it), so the overlay is smaller than it."""
    h, w = image.shape[:2]
    K, joints2d = np.asarray(result.K, np.float64), np.asarray(result.joints2d, np.float64)
    if max(h, w) > max_side:
        f = max_side / max(h, w)
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        fx, fy = nw / w, nh / h
        S = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])  # pixel centres at integers
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        K = S @ K
        joints2d = joints2d * [fx, fy] + [0.5 * fx - 0.5, 0.5 * fy - 0.5]
        h, w = nh, nw
    r = renderer.render(result.vertices, result.faces, K, w, h)
    mask = r.mask[..., None]
    blend = np.where(mask, OVERLAY_ALPHA * r.rgb.astype(np.float32) + (1 - OVERLAY_ALPHA) * image, image)
    radius = max(2, round(max(h, w) / 200))
    return draw_joints(blend.astype(np.uint8), joints2d, radius=radius)


def side_view(result: HandResult, renderer: MeshRenderer, size: int = 384) -> np.ndarray:
    """(size, size, 3) uint8: the mesh from the side (the camera moved round to the hand's +x)."""
    cam = look_at_camera(result.vertices, size, "side")
    r = renderer.render(cam.apply(result.vertices), result.faces, cam.K, size, size, background=(255, 255, 255))
    return r.rgb


@dataclass(frozen=True)
class HandOutput:
    """What a writer is given for one hand: ``image`` (H, W, 3) uint8 RGB, the photo or frame;
    ``result`` its reconstruction; ``name`` the files' stem; ``renderer`` a renderer to draw
    with (None when no chosen writer renders); ``frame``: a video frame (its JSON is one line,
    without the package version)."""

    name: str
    image: np.ndarray
    result: HandResult
    renderer: MeshRenderer | None = None
    frame: bool = False


FileMaker = Callable[[Path], None]  # writes one file to the temp path it is given


@dataclass(frozen=True)
class Writer:
    """One output format: ``make(hand)`` does the work in memory (rendering, formatting) and
    returns the function that writes the file ``{name}{suffix}``; ``renders``: it needs the
    renderer (the ``mobrecon[render]`` extra)."""

    name: str
    suffix: str
    make: Callable[[HandOutput], FileMaker]
    renders: bool = False
    help: str = ""


WRITERS: Registry[Writer] = Registry("output writer")


def register_writer(name: str, suffix: str, help: str = "", renders: bool = False):
    """Decorator: register ``make(hand: HandOutput) -> (tmp_path -> None)`` as the writer
    ``name`` of the files ``NAME{suffix}``."""

    def add(make: Callable[[HandOutput], FileMaker]):
        WRITERS.register(name, Writer(name, suffix, make, renders, help))
        return make

    return add


def _png(rgb: np.ndarray) -> FileMaker:
    return lambda tmp: Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG")


@register_writer("obj", ".obj", "the camera-space mesh (metres)")
def _obj(hand: HandOutput) -> FileMaker:
    return lambda tmp: write_mesh(tmp, hand.result.vertices, hand.result.faces, "obj")


@register_writer("json", ".json", "2D and 3D joints, root, box, K, model")
def _json(hand: HandOutput) -> FileMaker:
    if hand.frame:
        text = json.dumps({"name": hand.name, **hand.result.to_dict()}, allow_nan=False) + "\n"
    else:
        meta = {"name": hand.name, "mobrecon_version": __version__, **hand.result.to_dict()}
        text = "{\n" + ",\n".join(f" {json.dumps(k, allow_nan=False)}: {json.dumps(v, allow_nan=False)}"
                                   for k, v in meta.items()) + "\n}\n"
    return lambda tmp: tmp.write_text(text)


@register_writer("overlay", "_overlay.png", "the mesh and skeleton drawn over the photo", renders=True)
def _overlay(hand: HandOutput) -> FileMaker:
    return _png(overlay(hand.image, hand.result, hand.renderer))


@register_writer("side", "_side.png", "the mesh seen from its side", renders=True)
def _side(hand: HandOutput) -> FileMaker:
    return _png(side_view(hand.result, hand.renderer))


def _chosen(writers: Sequence[str] | None, overlays: bool) -> list[Writer]:
    names = DEFAULT_WRITERS if writers is None else writers
    return [WRITERS[n] for n in names if overlays or not WRITERS[n].renders]


def output_paths(out_dir: str | Path, name: str, overlays: bool = True,
                 writers: Sequence[str] | None = None) -> list[Path]:
    """The files of one image's set: one per writer (by default :data:`DEFAULT_WRITERS`), less
    the pictures with ``overlays=False``."""
    return [Path(out_dir) / f"{name}{w.suffix}" for w in _chosen(writers, overlays)]


def render_outputs(out_dir: str | Path, name: str, image: np.ndarray, result: HandResult,
                   renderer: MeshRenderer | None = None, overlays: bool = True,
                   writers: Sequence[str] | None = None, frame: bool = False) -> dict[Path, FileMaker]:
    """Everything of one hand's set made in memory: {path: a function writing that file to the
    temp path it is given}, for :func:`mobrecon.io_utils.write_file_set`. ``writers``: names
    in :data:`WRITERS` (default :data:`DEFAULT_WRITERS`); ``overlays=False`` leaves out those
    that render; ``frame``: see :class:`HandOutput`. A result with non-finite numbers is a
    ValueError; an unknown writer name, one listing the known ones."""
    chosen = _chosen(writers, overlays)
    for key in ("vertices", "joints3d", "joints2d", "root", "K"):
        if not np.isfinite(np.asarray(getattr(result, key), np.float64)).all():
            raise ValueError(f"the result's {key} are not finite; nothing written")
    own = renderer is None and any(w.renders for w in chosen)
    renderer = MeshRenderer() if own else renderer
    try:
        hand = HandOutput(name, image, result, renderer, frame)
        return {Path(out_dir) / f"{name}{w.suffix}": w.make(hand) for w in chosen}
    finally:
        if own:
            renderer.close()


def write_outputs(out_dir: str | Path, name: str, image: np.ndarray, result: HandResult,
                  renderer: MeshRenderer | None = None, overlays: bool = True,
                  writers: Sequence[str] | None = None) -> list[Path]:
    """Write one image's files (by default the four; the mesh and JSON with ``overlays=False``),
    all or nothing; returns their paths. A result with non-finite numbers is a ValueError
    (nothing written); a failing write (a full disk) leaves no file of the set behind and raises
    its OSError."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_file_set(render_outputs(out_dir, name, image, result, renderer, overlays, writers))

"""What ``mobrecon reconstruct`` writes per image, for people to look at and programs to read.

``NAME.obj`` the camera-space mesh (metres); ``NAME.json`` joints (2D image pixels, 3D camera
space), root translation, box, K, model name and package version; ``NAME_overlay.png`` the
photo with the shaded mesh rendered over it through K and the 2D skeleton on top;
``NAME_side.png`` the mesh seen from its side. The four files are a set, written all or
nothing: everything is rendered in memory first, then written to temp names and renamed at the
end (:func:`mobrecon.io_utils.write_file_set`). The overlay of a photo over
``MAX_OVERLAY_SIDE`` pixels on a side is drawn on the photo downscaled to that size. With
``overlays=False`` the set is the first two files only, and nothing is rendered (no renderer,
no ``mobrecon[render]`` extra needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mobrecon.infer.predictor import HandResult
from mobrecon.io_utils import write_file_set
from mobrecon.mesh.io import write_mesh
from mobrecon.version import __version__
from mobrecon.viz.joints import draw_joints
from mobrecon.viz.render import MeshRenderer, look_at_camera

OVERLAY_ALPHA = 0.7  # the mesh's opacity over the photo
MAX_OVERLAY_SIDE = 4096  # larger photos get their overlay at this size (the renderer's limit is 8192)


def overlay(image: np.ndarray, result: HandResult, renderer: MeshRenderer,
            max_side: int = MAX_OVERLAY_SIDE) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the mesh rendered through the result's K, blended over the photo,
    with the 2D skeleton drawn on top. A photo over ``max_side`` pixels on a side is first
    downscaled to that size (K and the 2D joints with it), so the overlay is smaller than it."""
    import cv2

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


def output_paths(out_dir: str | Path, name: str, overlays: bool = True) -> list[Path]:
    """The files of one image's set: four, or two with ``overlays=False``."""
    out = Path(out_dir)
    paths = [out / f"{name}.obj", out / f"{name}.json", out / f"{name}_overlay.png", out / f"{name}_side.png"]
    return paths if overlays else paths[:2]


def render_outputs(out_dir: str | Path, name: str, image: np.ndarray, result: HandResult,
                   renderer: MeshRenderer | None = None, overlays: bool = True) -> dict[Path, object]:
    """Everything of one hand's set made in memory: {path: a function writing that file to the
    temp path it is given}, for :func:`mobrecon.io_utils.write_file_set`. A result with
    non-finite numbers is a ValueError. ``overlays=False``: the mesh and JSON only."""
    from PIL import Image

    for key in ("vertices", "joints3d", "joints2d", "root", "K"):
        if not np.isfinite(np.asarray(getattr(result, key), np.float64)).all():
            raise ValueError(f"the result's {key} are not finite; nothing written")
    paths = output_paths(out_dir, name)
    meta = {"name": name, "mobrecon_version": __version__, **result.to_dict()}
    text = "{\n" + ",\n".join(f" {json.dumps(k, allow_nan=False)}: {json.dumps(v, allow_nan=False)}"
                               for k, v in meta.items()) + "\n}\n"
    files: dict[Path, object] = {paths[0]: lambda tmp: write_mesh(tmp, result.vertices, result.faces, "obj"),
             paths[1]: lambda tmp: tmp.write_text(text)}
    if not overlays:
        return files
    own = renderer is None
    renderer = renderer or MeshRenderer()
    try:
        pictures = [overlay(image, result, renderer), side_view(result, renderer)]
    finally:
        if own:
            renderer.close()

    def png(rgb):
        return lambda tmp: Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG")

    return {**files, paths[2]: png(pictures[0]), paths[3]: png(pictures[1])}


def write_outputs(out_dir: str | Path, name: str, image: np.ndarray, result: HandResult,
                  renderer: MeshRenderer | None = None, overlays: bool = True) -> list[Path]:
    """Write the four files for one image (two with ``overlays=False``), all or nothing; returns
    their paths. A result with non-finite numbers is a ValueError (nothing written); a failing
    write (a full disk) leaves no file of the set behind and raises its OSError."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_file_set(render_outputs(out_dir, name, image, result, renderer, overlays))

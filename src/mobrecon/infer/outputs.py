"""What ``mobrecon reconstruct`` writes per image, for people to look at and programs to read.

``NAME.obj`` the camera-space mesh (metres); ``NAME.json`` joints (2D image pixels, 3D camera
space), root translation, box, K, model name and package version; ``NAME_overlay.png`` the
photo with the shaded mesh rendered over it through K and the 2D skeleton on top;
``NAME_side.png`` the mesh seen from its side. Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mobrecon.infer.predictor import HandResult
from mobrecon.io_utils import atomic_write_png, atomic_write_text
from mobrecon.mesh.io import save_mesh
from mobrecon.synth.preview import draw_joints
from mobrecon.viz.render import MeshRenderer, look_at_camera

OVERLAY_ALPHA = 0.7  # the mesh's opacity over the photo


def overlay(image: np.ndarray, result: HandResult, renderer: MeshRenderer) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the mesh rendered through the result's K, blended over the photo,
    with the 2D skeleton drawn on top."""
    h, w = image.shape[:2]
    r = renderer.render(result.vertices, result.faces, result.K, w, h)
    mask = r.mask[..., None]
    blend = np.where(mask, OVERLAY_ALPHA * r.rgb.astype(np.float32) + (1 - OVERLAY_ALPHA) * image, image)
    radius = max(2, round(max(h, w) / 200))
    return draw_joints(blend.astype(np.uint8), result.joints2d, radius=radius)


def side_view(result: HandResult, renderer: MeshRenderer, size: int = 384) -> np.ndarray:
    """(size, size, 3) uint8: the mesh from the side (the camera moved round to the hand's +x)."""
    cam = look_at_camera(result.vertices, size, "side")
    r = renderer.render(cam.apply(result.vertices), result.faces, cam.K, size, size, background=(255, 255, 255))
    return r.rgb


def write_outputs(out_dir: str | Path, name: str, image: np.ndarray, result: HandResult,
                  renderer: MeshRenderer | None = None) -> list[Path]:
    """Write the four files for one image; returns their paths."""
    from mobrecon import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.obj", out / f"{name}.json", out / f"{name}_overlay.png", out / f"{name}_side.png"]
    save_mesh(paths[0], result.vertices, result.faces)
    meta = {"name": name, "mobrecon_version": __version__, **result.to_dict()}
    atomic_write_text(paths[1], "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in meta.items())
                      + "\n}\n")
    own = renderer is None
    renderer = renderer or MeshRenderer()
    try:
        atomic_write_png(paths[2], overlay(image, result, renderer))
        atomic_write_png(paths[3], side_view(result, renderer))
    finally:
        if own:
            renderer.close()
    return paths

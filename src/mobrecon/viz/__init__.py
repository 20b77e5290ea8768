"""Visualisation: a headless offscreen mesh renderer (moderngl on EGL) and 2D joints drawn on images."""

from mobrecon.viz.render import (
    SYSTEM_PACKAGES,
    Camera,
    MeshRenderer,
    RenderResult,
    look_at_camera,
    render_mesh_png,
    vertex_normals,
)

__all__ = [
    "SYSTEM_PACKAGES",
    "Camera",
    "MeshRenderer",
    "RenderResult",
    "look_at_camera",
    "render_mesh_png",
    "vertex_normals",
]

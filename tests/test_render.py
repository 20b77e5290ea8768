"""Offscreen renderer (mobrecon.viz.render): geometry, depth, compositing, determinism, PNG output."""

from __future__ import annotations

import os

import numpy as np
import pytest
import trimesh

from mobrecon.viz import MeshRenderer, look_at_camera, render_mesh_png
from mobrecon.viz import render as render_mod

SKIN = np.array([0.85, 0.64, 0.52])


@pytest.fixture(scope="module")
def renderer():
    r = MeshRenderer()
    try:
        r.gl_renderer  # creates the EGL context
    except RuntimeError as e:
        pytest.skip(f"EGL offscreen rendering unavailable: {e}")
    yield r
    r.close()


@pytest.fixture(scope="module")
def renderer1(renderer):
    """No supersampling: hard, exact-coverage edges."""
    r = MeshRenderer(supersample=1)
    yield r
    r.close()


def project(K, X):
    p = np.asarray(X, float) @ np.asarray(K, float).T
    return p[:, :2] / p[:, 2:3]


def bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), xs.max(), ys.min(), ys.max()


def box_mesh(center=(0.1, -0.05, 2.0), extents=(0.4, 0.3, 0.2)):
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(center)
    return m


# Non-square image, fx != fy, off-centre principal point: catches transposed/flipped axes.
W, H = 160, 120
K = np.array([[110.0, 0.0, 70.3], [0.0, 95.0, 52.6], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("which", ["renderer", "renderer1"])
def test_box_silhouette_matches_projection(which, request):
    r = request.getfixturevalue(which)
    m = box_mesh()
    out = r.render(m.vertices, m.faces, K, W, H)
    assert out.rgb.shape == (H, W, 3) and out.rgb.dtype == np.uint8
    assert out.mask.shape == (H, W) and out.mask.dtype == bool
    assert out.depth.shape == (H, W) and out.depth.dtype == np.float32

    p = project(K, m.vertices)  # the silhouette of any mesh in front of the camera spans these
    x0, x1, y0, y1 = bbox(out.mask)
    assert abs(x0 - p[:, 0].min()) <= 1.0 and abs(x1 - p[:, 0].max()) <= 1.0
    assert abs(y0 - p[:, 1].min()) <= 1.0 and abs(y1 - p[:, 1].max()) <= 1.0

    c = project(K, [m.vertices.mean(axis=0)])[0]
    assert out.mask[int(round(c[1])), int(round(c[0]))]
    # every vertex is drawn within 1 px of where K puts it
    for u, v in p:
        iu, iv = int(round(u)), int(round(v))
        assert out.mask[max(iv - 1, 0) : iv + 2, max(iu - 1, 0) : iu + 2].any()


def test_sphere_silhouette_and_centre(renderer):
    m = trimesh.creation.icosphere(subdivisions=3, radius=0.15)
    m.apply_translation((-0.2, 0.1, 1.5))
    out = renderer.render(m.vertices, m.faces, K, W, H)
    p = project(K, m.vertices)
    x0, x1, y0, y1 = bbox(out.mask)
    assert np.allclose([x0, x1, y0, y1], [p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()], atol=1.0)
    c = project(K, [m.vertices.mean(axis=0)])[0]
    assert out.mask[int(round(c[1])), int(round(c[0]))]


def test_depth(renderer, renderer1):
    m = box_mesh()
    zmin, zmax = m.vertices[:, 2].min(), m.vertices[:, 2].max()
    for r in (renderer, renderer1):
        out = r.render(m.vertices, m.faces, K, W, H)
        d = out.depth[out.mask]
        assert (d > 0).all()
        assert d.min() >= zmin - 1e-4 and d.max() <= zmax + 1e-4
        assert (out.depth[~out.mask] == 0).all()
        # the box faces the camera: what is seen is its front face at z = 1.9
        assert np.allclose(d, zmin, atol=1e-4)


def test_depth_is_perspective_correct(renderer1):
    # a tilted plane n . X = c; the depth along the ray through pixel (u, v) is c / (n . K^-1 [u, v, 1])
    n = np.array([0.3, -0.2, 1.0])
    c = 2.0
    xy = np.array([[-0.6, -0.5], [0.6, -0.5], [0.6, 0.5], [-0.6, 0.5]])
    z = (c - xy @ n[:2]) / n[2]
    verts = np.c_[xy, z]
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    out = renderer1.render(verts, faces, K, W, H)
    inner = out.mask.copy()
    inner[1:-1] &= out.mask[:-2] & out.mask[2:]
    inner[:, 1:-1] &= out.mask[:, :-2] & out.mask[:, 2:]
    vs, us = np.nonzero(inner)
    rays = np.c_[us, vs, np.ones_like(us)] @ np.linalg.inv(K).T
    expected = c / (rays @ n)
    np.testing.assert_allclose(out.depth[vs, us], expected, rtol=1e-4)


def test_background_is_kept(renderer, renderer1):
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    bg0 = bg.copy()
    m = box_mesh()
    out = renderer1.render(m.vertices, m.faces, K, W, H, background=bg)
    assert np.array_equal(out.rgb[~out.mask], bg[~out.mask])
    assert (np.abs(out.rgb[out.mask].astype(int) - bg[out.mask]).sum(axis=1) > 0).mean() > 0.95
    # supersampled: pixels not touched at all keep the background exactly
    out = renderer.render(m.vertices, m.faces, K, W, H, background=bg)
    near = np.zeros_like(out.mask)
    x0, x1, y0, y1 = bbox(out.mask)
    near[y0 - 1 : y1 + 2, x0 - 1 : x1 + 2] = True
    assert np.array_equal(out.rgb[~near], bg[~near])
    assert np.array_equal(bg, bg0)  # the caller's image is not modified
    with pytest.raises(ValueError):
        renderer.render(m.vertices, m.faces, K, W, H, background=np.zeros((W, H, 3), np.uint8))


def test_deterministic(renderer):
    m = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    m.apply_translation((0.0, 0.0, 1.0))
    a = renderer.render(m.vertices, m.faces, K, W, H)
    b = renderer.render(m.vertices, m.faces, K, W, H)
    with MeshRenderer() as fresh:
        c = fresh.render(m.vertices, m.faces, K, W, H)
    for x in (b, c):
        assert a.rgb.tobytes() == x.rgb.tobytes()
        assert a.depth.tobytes() == x.depth.tobytes()
        assert np.array_equal(a.mask, x.mask)


def test_shading_and_two_sided_lighting(renderer1):
    m = trimesh.creation.icosphere(subdivisions=4, radius=0.2)
    m.apply_translation((0.0, 0.0, 1.0))
    cu, cv = int(round(K[0, 2])), int(round(K[1, 2]))
    full = np.round(SKIN * 255)
    # head-light (default): the point facing the camera gets the full colour
    out = renderer1.render(m.vertices, m.faces, K, W, H)
    assert np.abs(out.rgb[cv, cu] - full).max() <= 3
    # light from behind: only ambient
    out = renderer1.render(m.vertices, m.faces, K, W, H, light_dir=(0, 0, 1), ambient=0.35)
    assert np.abs(out.rgb[cv, cu] - np.round(SKIN * 0.35 * 255)).max() <= 3
    # an open bowl seen through its hole: the inside (normals pointing away) is lit too
    keep = m.triangles_center[:, 2] > 1.0
    out = renderer1.render(m.vertices, m.faces[keep], K, W, H)
    assert abs(out.depth[cv, cu] - 1.2) < 2e-3  # we see the back of the bowl
    assert np.abs(out.rgb[cv, cu] - full).max() <= 3
    # per-vertex colours
    cols = np.tile([0.0, 1.0, 0.0], (len(m.vertices), 1))
    out = renderer1.render(m.vertices, m.faces, K, W, H, color=cols)
    assert tuple(out.rgb[cv, cu]) == (0, 255, 0)


def test_nothing_visible(renderer):
    m = box_mesh(center=(0, 0, -2.0))  # behind the camera
    bg = np.full((H, W, 3), 7, np.uint8)
    for faces in (m.faces, np.zeros((0, 3), int)):
        out = renderer.render(m.vertices, faces, K, W, H, background=bg)
        assert not out.mask.any() and not out.depth.any()
        assert np.array_equal(out.rgb, bg)


def test_torch_input(renderer):
    torch = pytest.importorskip("torch")
    m = box_mesh()
    a = renderer.render(m.vertices, m.faces, K, W, H)
    b = renderer.render(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces), torch.tensor(K), W, H)
    assert np.array_equal(a.rgb, b.rgb)


@pytest.mark.parametrize("view", ["front", "side", "top", (30.0, 20.0)])
def test_look_at_camera_frames_mesh(view):
    m = trimesh.creation.box(extents=(0.08, 0.2, 0.03))
    m.apply_translation((0.3, -0.1, 0.5))
    R, t, Kc = cam = look_at_camera(m.vertices, (200, 100), view)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    Xc = cam.apply(m.vertices)
    assert (Xc[:, 2] > 0).all()
    p = cam.project(m.vertices)
    assert (p[:, 0] >= 0).all() and (p[:, 0] <= 199).all() and (p[:, 1] >= 0).all() and (p[:, 1] <= 99).all()
    assert np.ptp(p, axis=0).max() > 40  # fills a reasonable part of the frame
    if view == "front":
        assert np.allclose(R, np.eye(3))


def test_render_mesh_png(renderer, tmp_path):
    from PIL import Image

    m = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    path = tmp_path / "out" / "hand.png"
    assert render_mesh_png(m.vertices, m.faces, path, size=96, renderer=renderer) == path
    img = np.array(Image.open(path))
    assert img.shape == (96, 96, 3)
    assert (img[0, 0] == 255).all() and (img[48, 48] != 255).any()
    # overwrite atomically, with another view; no temporary files left behind
    render_mesh_png(m.vertices, m.faces, str(path), size=(64, 48), view="side")
    assert np.array(Image.open(path)).shape == (48, 64, 3)
    assert os.listdir(path.parent) == ["hand.png"]


def test_missing_egl_message(monkeypatch):
    import moderngl

    def broken(*args, **kwargs):
        raise Exception("eglGetDisplay failed\n(0x3000)")

    monkeypatch.setattr(moderngl, "create_standalone_context", broken)
    r = MeshRenderer()
    with pytest.raises(RuntimeError) as exc:
        r.render(np.eye(3) + [0, 0, 1], [[0, 1, 2]], K, W, H)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "install_system_deps.sh" in msg
    for pkg in render_mod.SYSTEM_PACKAGES:
        assert pkg in msg

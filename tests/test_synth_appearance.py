"""Synthetic-image appearance (mobrecon.synth.appearance): backgrounds, skin, lights, occluders,
photometric augmentation -- shapes, ranges, texture, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from mobrecon.photometric import augment_photometric
from mobrecon.synth.appearance import (
    BACKGROUND_KINDS,
    draw_occluders,
    make_background,
    sample_light,
    skin_tone,
    vertex_colors,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _neighbour_diff(img: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels (levels)."""
    f = img.astype(np.float32)
    return 0.5 * (float(np.abs(np.diff(f, axis=0)).mean()) + float(np.abs(np.diff(f, axis=1)).mean()))


# ---------------------------------------------------------------- backgrounds


def test_kinds_listed():
    assert len(BACKGROUND_KINDS) >= 6
    assert len(set(BACKGROUND_KINDS)) == len(BACKGROUND_KINDS)
    assert all(isinstance(k, str) for k in BACKGROUND_KINDS)


@pytest.mark.parametrize("size", [128, 256])
@pytest.mark.parametrize("kind", BACKGROUND_KINDS)
def test_background_shape_and_texture(kind, size):
    for seed in range(3):
        img, used = make_background(rng(seed), size, kind)
        assert used == kind
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        std = img.reshape(-1, 3).astype(np.float64).std(0)
        assert std.min() > 1.5, (kind, seed, std)  # no channel is flat
        assert std.max() > 6.0, (kind, seed, std)  # and the image has real contrast
        assert _neighbour_diff(img) > 0.8, (kind, seed)  # local texture, not just smooth ramps


@pytest.mark.parametrize("kind", BACKGROUND_KINDS)
def test_background_deterministic(kind):
    a, _ = make_background(rng(7), 128, kind)
    b, _ = make_background(rng(7), 128, kind)
    c, _ = make_background(rng(8), 128, kind)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_background_random_kind_and_rect_size():
    kinds = {make_background(rng(s), 64)[1] for s in range(60)}
    assert kinds <= set(BACKGROUND_KINDS) and len(kinds) >= 5
    img, kind = make_background(rng(3), (96, 160))
    assert img.shape == (96, 160, 3) and img.dtype == np.uint8 and kind in BACKGROUND_KINDS
    a, ka = make_background(rng(5), 128)
    b, kb = make_background(rng(5), 128)
    assert ka == kb and np.array_equal(a, b)


def test_background_unknown_kind():
    with pytest.raises(ValueError, match="no_such_kind") as ei:
        make_background(rng(), 64, "no_such_kind")
    assert BACKGROUND_KINDS[0] in str(ei.value)


def test_backgrounds_differ_between_kinds():
    imgs = [make_background(rng(0), 64, k)[0].astype(np.float32) for k in BACKGROUND_KINDS]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert np.abs(imgs[i] - imgs[j]).mean() > 1.0


# ---------------------------------------------------------------- skin


def test_skin_tone_range():
    tones = np.stack([skin_tone(rng(s)) for s in range(200)])
    assert tones.shape == (200, 3)
    assert tones.min() >= 0.0 and tones.max() <= 1.0
    lum = tones @ np.array([0.2126, 0.7152, 0.0722])
    assert (lum < 0.35).any() and (lum > 0.7).any()
    assert (tones[:, 0] >= tones[:, 2]).all()  # skin: red above blue
    assert np.array_equal(skin_tone(rng(4)), skin_tone(rng(4)))


def test_vertex_colors_smooth():
    verts = rng(1).uniform(-0.1, 0.1, (2000, 3))  # a hand-sized cloud, metres
    base = np.array([0.8, 0.6, 0.5])
    cols = vertex_colors(rng(2), verts, base)
    assert cols.shape == (2000, 3)
    assert cols.min() >= 0.0 and cols.max() <= 1.0
    assert np.abs(cols - base).max() < 0.3  # stays near the base tone
    assert cols.std(0).max() > 1e-3  # but does vary
    # smoothness: vertices within 5 mm have nearly equal colours
    d = np.linalg.norm(verts[:, None] - verts[None], axis=-1)
    i, j = np.nonzero(np.triu(d < 0.005, 1))
    assert len(i) > 50
    assert np.abs(cols[i] - cols[j]).max() < 0.05
    assert np.array_equal(cols, vertex_colors(rng(2), verts, base))


# ---------------------------------------------------------------- skin regions (palm, nails, creases)


@pytest.fixture(scope="module")
def hand_regions():
    from mobrecon.hand.load import load_hand
    from mobrecon.hand.regions import skin_regions

    hand = load_hand("openhand")
    return hand, skin_regions(hand)


def test_skin_regions_cached_and_in_range(hand_regions):
    from mobrecon.hand.regions import skin_regions

    hand, reg = hand_regions
    assert skin_regions(hand) is reg  # computed once per model
    for a in reg:
        assert a.shape == (hand.num_vertices,)
        assert a.min() >= 0.0 and a.max() <= 1.0
        assert not a.flags.writeable


def test_palmar_weight_palm_vs_back(hand_regions):
    hand, reg = hand_regions
    v = hand.v_template.double().numpy()  # OpenHand: +z out of the back of the hand
    centre = (np.abs(v[:, 0]) < 0.02) & (np.abs(v[:, 1] - 0.05) < 0.02)
    palm, back = centre & (v[:, 2] < -0.01), centre & (v[:, 2] > 0.0)
    assert palm.sum() >= 5 and back.sum() >= 5
    assert reg.palmar[palm].min() > 0.9 and reg.palmar[back].max() < 0.1
    assert 0.3 < reg.palmar.mean() < 0.7  # about half the skin is palm side
    # smooth: across any mesh edge the weight changes by well under the full range
    f = hand.faces.numpy()
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert np.abs(reg.palmar[e[:, 0]] - reg.palmar[e[:, 1]]).max() < 0.6


def test_nails_on_distal_dorsal_tips(hand_regions):
    from mobrecon.hand.regions import DISTAL_BONES
    from mobrecon.hand.skeleton import TIPS

    hand, reg = hand_regions
    v = hand.v_template.double().numpy()
    kp = hand.regress_joints(hand.v_template[None])[0].double().numpy()
    nails = np.nonzero(reg.nail > 0.5)[0]
    assert 10 <= len(nails) <= 0.06 * len(v)  # a few per finger, a few % of the mesh
    part = hand.weights.numpy().argmax(1)
    assert np.isin(part[nails], DISTAL_BONES).all()
    # every finger and the thumb has a nail, each within 2 cm of its tip
    tip_dist = np.linalg.norm(v[nails, None] - kp[list(TIPS)][None], axis=-1)  # (n, 5)
    assert (tip_dist.argmin(1)[:, None] == np.arange(5)).any(0).all()
    assert tip_dist.min(1).max() < 0.02
    # on the back, never the palm side; no nail on the palm's own vertices
    assert reg.palmar[nails].max() < 0.4 and reg.palmar[nails].mean() < 0.2
    assert reg.nail[reg.palmar > 0.7].max() < 0.05
    for a, dip in zip(DISTAL_BONES[1:], (7, 11, 15, 19)):  # fingers: above the bone axis (+z is the back)
        axis = kp[dip + 1] - kp[dip]
        mine = nails[part[nails] == a]
        t = (v[mine] - kp[dip]) @ axis / (axis @ axis)
        assert len(mine) >= 1 and (t > 0.25).all()
        assert ((v[mine] - kp[dip] - t[:, None] * axis)[:, 2] > 0.0).all()


def test_creases_on_palm_side_only(hand_regions):
    _, reg = hand_regions
    assert (reg.crease > 0.5).sum() >= 10
    assert reg.palmar[reg.crease > 0.3].min() > 0.5


def test_vertex_colors_palm_lighter_nails_pinkish(hand_regions):
    hand, reg = hand_regions
    v = hand.v_template.double().numpy()
    luma = np.array([0.2126, 0.7152, 0.0722])
    sat = lambda c: (c.max(-1) - c.min(-1)) / c.max(-1)  # noqa: E731
    palm = (reg.palmar > 0.9) & (reg.crease < 0.01)
    back = (reg.palmar < 0.01) & (reg.nail < 0.01) & (reg.crease < 0.01)
    nails = reg.nail > 0.8
    assert palm.sum() > 100 and back.sum() > 100
    for seed in range(16):
        base = skin_tone(rng(100 + seed))
        cols = vertex_colors(rng(seed), v, base, reg)
        assert cols.shape == (len(v), 3) and cols.min() >= 0.0 and cols.max() <= 1.0
        assert np.array_equal(cols, vertex_colors(rng(seed), v, base, reg))  # deterministic
        plain = vertex_colors(rng(seed), v, base)  # the same smooth variation, no regions
        assert np.abs(cols[back] - plain[back]).max() < 0.01  # the back keeps the plain skin
        p, q = cols[palm], plain[palm]
        assert (p @ luma >= q @ luma - 1e-6).all()  # the palm is lighter ...
        if base @ luma < 0.4:
            assert (p @ luma).mean() > 1.2 * (q @ luma).mean()  # ... clearly so on dark skin
        if base @ luma < 0.55:  # (very light skin's palm turns pink, a little more saturated)
            assert (sat(p) <= sat(q) + 1e-3).all()  # less saturated ...
        assert (p[:, 2] / p[:, 1]).mean() >= (q[:, 2] / q[:, 1]).mean() - 0.01  # ... and pinker
    # unpainted nails (most hands) are lighter than the back of the finger
    lighter = [cols[nails].mean(0) @ luma > cols[back].mean(0) @ luma
               for s in range(20) for cols in [vertex_colors(rng(s), v, skin_tone(rng(s)), reg)]]
    assert sum(lighter) >= 16
    with pytest.raises(ValueError):
        vertex_colors(rng(0), v[:10], skin_tone(rng(0)), reg)


# ---------------------------------------------------------------- lights


def test_sample_light():
    zs = []
    for s in range(300):
        light = sample_light(rng(s))
        d = np.asarray(light["light_dir"])
        assert d.shape == (3,) and abs(np.linalg.norm(d) - 1.0) < 1e-6
        assert 0.3 <= light["ambient"] <= 0.65
        c = np.asarray(light["color"])
        assert c.shape == (3,) and c.min() >= 0.75 and c.max() <= 1.0
        zs.append(d[2])
    zs = np.array(zs)
    assert (zs < 0).mean() > 0.7  # mostly from the camera side
    assert (zs > -0.5).any()  # but with wide spread


# ---------------------------------------------------------------- occluders


@pytest.mark.parametrize("size", [128, 200])
def test_draw_occluders(size):
    img, _ = make_background(rng(0), size)
    orig = img.copy()
    centre_hits = 0
    for s in range(40):
        out, mask = draw_occluders(rng(s), img, n=1)
        assert np.array_equal(img, orig)  # input untouched
        assert out.shape == img.shape and out.dtype == np.uint8
        assert mask.shape == (size, size) and mask.dtype == bool
        assert 0.015 < mask.mean() < 0.26, mask.mean()
        assert np.array_equal(out[~mask], img[~mask])
        assert (out[mask] != img[mask]).any()
        c = size // 4
        centre_hits += bool(mask[c:-c, c:-c].any())
    assert centre_hits >= 25
    out2, mask2 = draw_occluders(rng(3), img)
    out3, mask3 = draw_occluders(rng(3), img)
    assert np.array_equal(out2, out3) and np.array_equal(mask2, mask3)
    assert mask2.mean() < 0.5


# ---------------------------------------------------------------- augmentation


def test_augment_photometric():
    img, _ = make_background(rng(0), (96, 128))
    orig = img.copy()
    changed = 0
    for s in range(20):
        out = augment_photometric(rng(s), img)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.array_equal(img, orig)
        assert np.array_equal(out, augment_photometric(rng(s), img))
        diff = np.abs(out.astype(np.float32) - img.astype(np.float32)).mean()
        assert diff < 60.0  # moderate
        changed += diff > 0.5
    assert changed >= 15

"""The photographic look: environment-map lighting, photo backgrounds, the look cache and the
generator's use of it (fallback without a cache, determinism per seed, labels unchanged)."""

import json
import math

import cv2
import numpy as np
import pytest

from mobrecon.synth import envlight as el
from mobrecon.synth.generator import SynthConfig, check_config, generate
from mobrecon.synth.look_assets import _skimage_licence, dep5_licences, load_index
from mobrecon.synth.photo_backgrounds import PhotoBackgrounds


def _sky(h=16):
    """A map bright above the horizon (y > 0), dim below: (h, 2h, 3)."""
    rad = np.full((h, 2 * h, 3), 0.1, np.float32)
    rad[: h // 2] = 2.0
    return rad


def test_sh_of_a_constant_map_is_constant_irradiance():
    sh = el.irradiance_sh(np.full((32, 64, 3), 0.7, np.float32))
    dirs = np.array([[0, 1, 0], [0, -1, 0], [1, 0, 0], [0.6, 0, 0.8]], float)
    assert np.allclose(el.sh_basis(dirs) @ sh, 0.7, atol=0.01)  # irradiance / pi == L


def test_sh_light_comes_from_the_bright_side():
    sh = el.irradiance_sh(_sky(32))
    up, down = el.sh_basis(np.array([[0, 1.0, 0], [0, -1.0, 0]])) @ sh
    assert up[0] > 4 * down[0]


def test_prefilter_keeps_a_constant_map_and_blurs_a_spot():
    assert np.allclose(el.prefilter_specular(np.full((8, 16, 3), 2.0, np.float32)), 2.0, atol=1e-4)
    spot = np.zeros((16, 32, 3), np.float32)
    spot[8, 16] = 100.0
    out = el.prefilter_specular(spot)
    assert out.max() < 100.0 and (out[..., 0] > 0.01).sum() > 5


def test_background_is_upright_for_a_level_camera():
    K = np.array([[40.0, 0, 31.5], [0, 40.0, 31.5], [0, 0, 1]])
    img = el.env_background(_sky(), K, 64, np.diag([1.0, -1.0, -1.0]), 1.0)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert img[:20].mean() > img[-20:].mean() + 50  # sky at the top of the picture


def test_envmaps_skip_bad_files_with_a_warning(tmp_path):
    np.save(tmp_path / "good.npy", _sky().astype(np.float16))
    (tmp_path / "bad.npy").write_bytes(b"not a map")
    np.save(tmp_path / "square.npy", np.ones((8, 8, 3), np.float16))
    notes = []
    maps = el.EnvMaps([tmp_path / "good.npy", tmp_path / "bad.npy", tmp_path / "square.npy"], warn=notes.append)
    assert len(maps) == 1 and len(notes) == 2 and "bad.npy" in notes[0]
    light, info = maps.sample(np.random.default_rng(0))
    assert light.sh.shape == (9, 3) and np.allclose(light.to_map @ light.to_map.T, np.eye(3), atol=1e-9)
    assert info["exposure"] > 0


def _photo(path, seed, h=80, w=120):
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.GaussianBlur(img, (0, 0), 3))


def test_photo_backgrounds_sizes_determinism_and_bad_files(tmp_path):
    _photo(tmp_path / "a.jpg", 0)
    (tmp_path / "b.jpg").write_bytes(b"corrupt")
    notes = []
    pb = PhotoBackgrounds([tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "gone.jpg"], warn=notes.append)
    assert len(pb) == 1 and len(notes) == 2
    a, k = pb.sample(np.random.default_rng(5), (40, 56))
    b, _ = pb.sample(np.random.default_rng(5), (40, 56))
    c, _ = pb.sample(np.random.default_rng(6), (40, 56))
    assert a.shape == (40, 56, 3) and a.dtype == np.uint8 and k == 0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_licence_parsing():
    dep5 = ("Format: x\n\nFiles: 16.04/a_by_X.jpg\nCopyright: X, 2018\nLicense: CC-BY-4.0\n\n"
            "Files: 16.04/b_by_Y.jpg\nCopyright: Y\nLicense: CC-BY-SA-4.0\n")
    lic = dep5_licences(dep5)
    assert lic["16.04/a_by_X.jpg"] == ("CC-BY-4.0", "X, 2018") and lic["16.04/b_by_Y.jpg"][0] == "CC-BY-SA-4.0"
    src = 'def coffee():\n    """Cup.\n\n    No copyright restrictions.  CC0 by the photographer.\n    """\n\n' \
          'def moon():\n    """Moon. No known copyright restrictions."""\n\ndef end():\n    pass\n'
    assert _skimage_licence(src, "coffee") == "CC0-1.0"
    assert _skimage_licence(src, "moon") is None


def _warm_sky(h=16):
    """A sky map with an orange cast: (h, 2h, 3)."""
    return _sky(h) * np.array([1.6, 1.0, 0.5], np.float32)


def test_camera_auto_greys_and_exposes_the_camera_facing_side():
    sh = el.irradiance_sh(_warm_sky(32))
    level = np.diag([1.0, -1.0, -1.0])  # camera looking along the horizon
    facing = el.sh_basis(level @ np.array([0.0, 0.0, -1.0]))
    before = facing @ sh
    assert before[0] > 2 * before[2]  # the map's cast
    for seed in range(20):
        out, gains, exposure = el.camera_auto(sh, level, np.random.default_rng(seed))
        white = facing @ out
        assert white.max() / white.min() < before[0] / before[2] * 0.6  # 60-100 % of the cast removed
        lum = float(white @ el._LUMA)
        assert el._AUTO_WHITE * 2 ** -0.41 < lum < el._AUTO_WHITE * 2 ** 0.41
        assert gains.shape == (3,) and exposure > 0
        # the fill light lifts the side facing away from the sky relative to the map's own contrast
        down = el.sh_basis(np.array([0.0, -1.0, 0.0]))
        up = el.sh_basis(np.array([0.0, 1.0, 0.0]))
        assert (down @ out)[1] / (up @ out)[1] > (down @ sh)[1] / (up @ sh)[1]


def test_envmaps_auto_sample_is_balanced_and_deterministic(tmp_path):
    np.save(tmp_path / "warm.npy", _warm_sky().astype(np.float16))
    maps = el.EnvMaps([tmp_path / "warm.npy"])
    a, ia = maps.sample(np.random.default_rng(3), auto=True)
    b, ib = maps.sample(np.random.default_rng(3), auto=True)
    assert np.array_equal(a.sh, b.sh) and np.array_equal(ia["gains"], ib["gains"])
    assert ia["gains"][2] > ia["gains"][0] and a.spec_gain <= 0.5
    raw, iraw = maps.sample(np.random.default_rng(3))
    assert np.array_equal(iraw["gains"], np.ones(3))
    K = np.array([[40.0, 0, 31.5], [0, 40.0, 31.5], [0, 0, 1]])
    bg = maps.background(0, K, 32, ia["to_map"], ia["exposure"] * ia["gains"])
    assert bg.shape == (32, 32, 3)


def _fake_cache(root):
    (root / "backgrounds").mkdir(parents=True)
    (root / "envmaps").mkdir()
    _photo(root / "backgrounds" / "p.jpg", 1)
    np.save(root / "envmaps" / "sky.npy", _sky().astype(np.float16))
    entry = dict(source="test", title="t", author="a", licence="CC0-1.0")
    index = {"backgrounds": [dict(file="backgrounds/p.jpg", **entry)], "envmaps": [dict(file="envmaps/sky.npy", **entry)]}
    (root / "index.json").write_text(json.dumps(index))


LOOK = dict(count=6, seed=2, shard_size=6, size=48, photo_bg=0.7, env_light=0.7, env_bg=0.5)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob("shard_*/*"))}


def test_generator_uses_the_cache_and_is_deterministic(tmp_path, monkeypatch, egl):
    _fake_cache(tmp_path / "cache")
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path / "cache"))
    assert len(load_index()["envmaps"]) == 1
    s1 = generate(tmp_path / "a", SynthConfig(**LOOK), progress=False)
    generate(tmp_path / "b", SynthConfig(**LOOK), progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    hist = dict(zip(s1["background_kinds"], s1["background_histogram"]))
    assert hist["photo"] + hist["envmap"] > 0 and sum(hist.values()) == 6
    with np.load(tmp_path / "a" / "shard_00000" / "annotations.npz") as z:
        lit = np.isnan(z["ambient"])  # HDR-lit samples
        assert lit.any() and np.allclose(np.linalg.norm(z["light_dir"], axis=1), 1.0)
        # HDR light as a camera records it: the same labels, other pixels
        generate(tmp_path / "d", SynthConfig(**LOOK, env_auto=True), progress=False)
        with np.load(tmp_path / "d" / "shard_00000" / "annotations.npz") as zd:
            assert np.array_equal(z["joints2d"], zd["joints2d"])
        assert _files(tmp_path / "d") != _files(tmp_path / "a")
        # labels do not depend on the look: the same seed without it has the same cameras
        generate(tmp_path / "c", SynthConfig(**{**LOOK, "photo_bg": 0.0, "env_light": 0.0}), progress=False)
        with np.load(tmp_path / "c" / "shard_00000" / "annotations.npz") as zc:
            assert np.array_equal(z["joints2d"], zc["joints2d"]) and np.array_equal(z["pose"], zc["pose"])


def test_generator_without_a_cache_falls_back_with_one_note(tmp_path, monkeypatch, capsys, egl):
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path / "nothing"))
    s = generate(tmp_path / "a", SynthConfig(**LOOK), progress=False)
    notes = [l for l in capsys.readouterr().out.splitlines() if l.startswith("note:")]
    assert len(notes) == 1 and "--fetch-look" in notes[0]
    hist = dict(zip(s["background_kinds"], s["background_histogram"]))
    assert hist["photo"] == hist["envmap"] == 0 and s["count"] == 6
    # and the set equals the plain generator's (the old look, same random stream)
    generate(tmp_path / "b", SynthConfig(**{**LOOK, "photo_bg": 0.0, "env_light": 0.0}), progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_older_config_without_look_settings_still_resumes(tmp_path):
    cfg = SynthConfig(count=4)
    old = {k: v for k, v in vars(cfg).items() if k not in ("photo_bg", "env_light", "env_bg")}
    (tmp_path / "config.json").write_text(json.dumps(old))
    check_config(tmp_path, cfg)  # no error
    with pytest.raises(ValueError, match="photo_bg"):
        check_config(tmp_path, SynthConfig(count=4, photo_bg=0.5))


def test_shares_are_checked():
    with pytest.raises(ValueError, match="--env-light"):
        SynthConfig(count=1, env_light=1.5).check()
    assert math.isclose(SynthConfig(count=1).env_bg, 0.3)

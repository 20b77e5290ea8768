"""The detector composites' photographic look (``detect-data --photo-bg / --env-light /
--forearm / --camera-fx``): off by default with the sets unchanged byte for byte, on its own
random streams (boxes unchanged), and a missing look cache refused in one line."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from mobrecon.cli import main
from mobrecon.detect.composites import CompositeConfig, CompositeWorker, generate_composites, load_look, look_index
from mobrecon.synth.photo_backgrounds import PhotoBackgrounds

TINY = dict(count=6, seed=5, shard_size=3, size=96, min_box=16.0, max_box=80.0)
# sha256 of the files of the TINY set as the generator wrote it before the look options existed
BEFORE = {
    "shard_00000/annotations.npz": "a8b3938e3019a8a791be54ac186ef0a559236ebf8cb866d42ccfff9c014855af",
    "shard_00000/rgb.bin": "0edc4191dbadf0707b0f17c9932dd61f53fc388c5aa44597a1b6dc5731ce8ea0",
    "shard_00001/annotations.npz": "406bb9c7f01fadb86da696279727254bf14f2ca2f4af477b44f87334d0d0acdb",
    "shard_00001/rgb.bin": "d63daa071560e688b0f24ae60835333db8b99bea0454e75fee29f08711e88f99",
}
LOOK = dict(photo_bg=0.7, env_light=0.7, env_bg=0.4, forearm=0.8, sleeve=0.5, camera_fx=0.7)


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob("shard_*/*"))}


def _fake_cache(root, envmaps=True):
    """A look cache with one photo and (``envmaps``) one sky map."""
    (root / "backgrounds").mkdir(parents=True)
    img = np.random.default_rng(1).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "backgrounds" / "p.jpg"), cv2.GaussianBlur(img, (0, 0), 3))
    entry = dict(source="test", title="t", author="a", licence="CC0-1.0")
    index = {"backgrounds": [dict(file="backgrounds/p.jpg", **entry)], "envmaps": []}
    if envmaps:
        (root / "envmaps").mkdir()
        sky = np.full((16, 32, 3), 0.1, np.float32)
        sky[:8] = 2.0
        np.save(root / "envmaps" / "sky.npy", sky.astype(np.float16))
        index["envmaps"] = [dict(file="envmaps/sky.npy", **entry)]
    (root / "index.json").write_text(json.dumps(index))


def test_default_sets_are_what_they_were_before_the_look(tmp_path):
    generate_composites(tmp_path, CompositeConfig(**TINY), progress=False)
    assert _hashes(tmp_path) == BEFORE


def test_look_changes_pictures_not_boxes_and_is_deterministic(tmp_path, monkeypatch):
    _fake_cache(tmp_path / "cache")
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path / "cache"))
    for d in ("a", "b"):
        generate_composites(tmp_path / d, CompositeConfig(**TINY, **LOOK), progress=False)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    generate_composites(tmp_path / "plain", CompositeConfig(**TINY), progress=False)
    for s in ("shard_00000", "shard_00001"):
        with np.load(tmp_path / "a" / s / "annotations.npz") as z, \
                np.load(tmp_path / "plain" / s / "annotations.npz") as p:
            for k in ("n_hands", "boxes", "left"):
                assert np.array_equal(z[k], p[k], equal_nan=k == "boxes"), (s, k)
        assert (tmp_path / "a" / s / "rgb.bin").read_bytes() != (tmp_path / "plain" / s / "rgb.bin").read_bytes()


def test_photo_background_comes_from_its_own_stream(tmp_path, monkeypatch):
    """With no hand and nothing else on top, the image is the photo crop of stream (seed, i, 1)."""
    _fake_cache(tmp_path, envmaps=False)
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path))
    cfg = CompositeConfig(count=2, seed=4, size=64, min_box=16.0, max_box=48.0, p_zero=1.0, p_two=0.0,
                          distractor_prob=0.0, occluder_prob=0.0, photometric=False, photo_bg=1.0)
    w = CompositeWorker(cfg)
    try:
        out = w.sample(1)
    finally:
        w.close()
    look = np.random.default_rng([4, 1, 1])
    assert look.random() < 1.0  # the draw that chooses a photo
    want, _ = PhotoBackgrounds([tmp_path / "backgrounds" / "p.jpg"]).sample(look, 64)
    assert len(out["boxes"]) == 0 and np.array_equal(out["image"], want)


def test_missing_look_cache_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path / "nothing"))
    out = tmp_path / "set"
    assert main(["detect-data", str(out), "--count", "2", "--photo-bg", "0.5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--photo-bg" in err[0] and "mobrecon synth --fetch-look" in err[0]
    assert not out.exists()
    # photos alone do not serve --env-light; at 0 the cache is never looked at
    _fake_cache(tmp_path / "photos_only", envmaps=False)
    monkeypatch.setenv("MOBRECON_LOOK_CACHE", str(tmp_path / "photos_only"))
    assert look_index(CompositeConfig(count=1, photo_bg=0.5)) is not None
    with pytest.raises(ValueError, match="environment maps.*--fetch-look"):
        look_index(CompositeConfig(count=1, env_light=0.5))
    assert load_look(CompositeConfig(count=1)) == (None, None)


def test_look_shares_are_checked():
    with pytest.raises(ValueError, match="--camera-fx"):
        CompositeConfig(count=1, camera_fx=1.5).check()
    with pytest.raises(ValueError, match="--photo-bg"):
        CompositeConfig(count=1, photo_bg=-0.1).check()

"""Camera effects (mobrecon.camera_effects): each effect does what it says, shapes and dtypes
are kept, and the result is fixed by the random generator."""

import math

import numpy as np
import pytest

from mobrecon import camera_effects as ce


def _image(seed=0, h=48, w=64):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_linear_round_trip_is_exact():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    lin = ce.to_linear(levels)
    assert lin.dtype == np.float32 and lin.min() == 0 and lin.max() == 1
    assert np.array_equal(ce.to_srgb(lin), levels)
    assert np.array_equal(ce.CameraEffects().apply(levels), levels)  # no effect: the image itself


def test_exposure_and_white_balance():
    lin = np.full((4, 4, 3), 0.2, np.float32)
    out = ce.expose(lin, 1.0, (1.1, 1.0, 0.9))
    assert np.allclose(out[0, 0], [0.44, 0.4, 0.36], atol=1e-6)


def test_vignette_darkens_away_from_its_centre():
    lin = np.ones((41, 61, 3), np.float32)
    out = ce.vignette(lin, 0.4, center=(0.5, 0.5))
    assert out[20, 30, 0] == pytest.approx(1.0, abs=1e-3) and out[0, 0, 0] == pytest.approx(0.6, abs=0.02)
    off = ce.vignette(lin, 0.4, center=(0.0, 0.0))
    assert off[0, 0, 0] > off[40, 60, 0]


def test_defocus_spreads_a_point_into_a_disc():
    lin = np.zeros((31, 31, 3), np.float32)
    lin[15, 15] = 1.0
    out = ce.defocus(lin, 4.0)
    assert out.shape == lin.shape and out.dtype == np.float32
    assert out.sum() == pytest.approx(3.0, rel=1e-4)          # energy kept (per channel 1)
    lit = out[..., 0] > 1e-6
    area = lit.sum()
    assert abs(area - math.pi * 4.5 ** 2) < 12                 # a disc of radius ~4 (edge anti-aliased)
    assert lit[15, 11] and lit[11, 15] and not lit[15, 10] and not lit[10, 10]
    assert np.array_equal(ce.defocus(lin, 0.0), lin)


@pytest.mark.parametrize("angle", [0.0, math.pi / 2, math.pi / 4])
def test_motion_blur_smears_along_its_angle(angle):
    lin = np.zeros((31, 31, 3), np.float32)
    lin[15, 15] = 1.0
    out = ce.motion_blur(lin, 9.0, angle)[..., 0]
    assert out.sum() == pytest.approx(1.0, rel=1e-4)
    ys, xs = np.nonzero(out > 0.02)
    d = np.array([math.cos(angle), math.sin(angle)])
    along = (xs - 15) * d[0] + (ys - 15) * d[1]
    across = -(xs - 15) * d[1] + (ys - 15) * d[0]
    assert np.ptp(along) >= 6 and np.abs(across).max() <= 1.5


def test_sensor_noise_grows_with_the_signal():
    rng = np.random.default_rng(0)
    dark = np.full((64, 64, 3), 0.02, np.float32)
    bright = np.full((64, 64, 3), 0.8, np.float32)
    sd_dark = (ce.sensor_noise(rng, dark, 2e-3, 2e-3) - dark).std()
    sd_bright = (ce.sensor_noise(rng, bright, 2e-3, 2e-3) - bright).std()
    assert sd_dark == pytest.approx(math.sqrt(2e-3 * 0.02 + 4e-6), rel=0.05)
    assert sd_bright == pytest.approx(math.sqrt(2e-3 * 0.8 + 4e-6), rel=0.05)


def test_sampled_cameras_keep_shape_and_are_fixed_by_the_rng():
    img = _image()
    outs = []
    for seed in range(12):
        cam = ce.sample_camera(np.random.default_rng(seed), 64)
        a = cam.apply(img, np.random.default_rng(seed))
        b = ce.sample_camera(np.random.default_rng(seed), 64).apply(img, np.random.default_rng(seed))
        assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
        assert -1 <= cam.ev <= 1 and all(0.8 <= g <= 1.2 for g in cam.gains)
        assert cam.defocus <= 0.025 * 64 and cam.motion[0] <= 0.05 * 64
        outs.append(a)
    assert not np.array_equal(outs[0], outs[1])
    assert ce.sample_camera(np.random.default_rng(1), 64, motion=False).motion == (0.0, 0.0)
    noisy = ce.CameraEffects(shot=1e-3, read=1e-3)
    with pytest.raises(ValueError, match="rng"):
        noisy.apply(img)
    with pytest.raises(ValueError, match="uint8"):
        noisy.apply(img.astype(np.float32), np.random.default_rng(0))

"""The uniform pose space (1,520 poses) and the 216 hemispherical viewpoints of the synthetic set."""

import itertools
import math

import numpy as np
import pytest
import torch

from mobrecon.hand.openhand import OpenHand
from mobrecon.synth import pose_space as ps
from mobrecon.synth import viewpoints as vp


@pytest.fixture(scope="module")
def hand():
    return OpenHand()


@pytest.fixture(scope="module")
def uniform(hand):
    return ps.uniform_poses(hand)


@pytest.fixture(scope="module")
def joints(hand):
    """Keypoints (21, 3) of a half-bent hand in the hand frame."""
    angles = ps.varied_angles(hand, np.full((1, 5), 0.5), np.zeros((1, 5)))
    with torch.no_grad():
        return hand(hand.angles_to_pose(angles), torch.zeros(1, 6)).joints[0].double().numpy()


# ----------------------------------------------------------------------------- poses
def test_base_flexions():
    base = ps.base_flexions()
    assert ps.N_BASE == 32 and base.shape == (32, 5)
    assert set(np.unique(base)) == {0.0, 1.0}
    for b in range(32):
        for f in range(5):
            assert base[b, f] == float((b >> f) & 1)
    assert len({tuple(r) for r in base}) == 32
    assert base[0].sum() == 0 and base[31].sum() == 5


def test_uniform_counts_and_order(uniform):
    assert ps.N_UNIFORM == 1520 == len(uniform)
    assert uniform.angles.shape == (1520, 15, 3)
    assert uniform.flexion.shape == (1520, 5) and uniform.pair.shape == (1520, 2) and uniform.t.shape == (1520,)
    np.testing.assert_array_equal(uniform.pose_id, np.arange(1520))
    base = ps.base_flexions()
    # The 32 base poses first, by id.
    np.testing.assert_array_equal(uniform.pair[:32], np.stack([np.arange(32)] * 2, 1))
    np.testing.assert_array_equal(uniform.t[:32], 0.0)
    np.testing.assert_array_equal(uniform.flexion[:32], base)
    # Then the 496 pairs a < b in lexicographic order, each at t = 0.25, 0.5, 0.75.
    expected_pairs = [p for p in itertools.combinations(range(32), 2) for _ in range(3)]
    assert len(expected_pairs) == 3 * 496
    np.testing.assert_array_equal(uniform.pair[32:], np.array(expected_pairs))
    np.testing.assert_array_equal(uniform.t[32:], np.tile([0.25, 0.5, 0.75], 496))
    a, b, t = uniform.pair[:, 0], uniform.pair[:, 1], uniform.t[:, None]
    np.testing.assert_allclose(uniform.flexion, (1 - t) * base[a] + t * base[b])
    np.testing.assert_array_equal(uniform.direction, base[b] - base[a])
    # Flexion alone repeats at t = 0.5 (e.g. pairs (1, 2) and (0, 3)); with the direction it does not.
    assert len({tuple(r) for r in uniform.flexion}) < 1520
    assert len({tuple(r) + tuple(d) for r, d in zip(uniform.flexion, uniform.direction)}) == 1520


def test_uniform_distinct_and_within_limits(hand, uniform):
    flat = uniform.angles.reshape(1520, -1).double()
    d = torch.cdist(flat, flat)
    d.fill_diagonal_(float("inf"))
    assert d.min().item() > 0.1  # every pair of poses differs clearly
    assert bool(hand.within_limits(hand.angles_to_pose(uniform.angles)).all())
    # Base poses: every joint of a bent finger at its curl_max, of an extended one at 0.
    curl = hand.curl_max.reshape(5, 3)
    expected = torch.as_tensor(ps.base_flexions(), dtype=torch.float32)[:, :, None] * curl
    torch.testing.assert_close(uniform.angles[:32, :, 0].reshape(32, 5, 3), expected)
    # Only the thumb is splayed, by THUMB_SPLAY * its flexion; no twist.
    assert torch.all(uniform.angles[:, 3:, 1] == 0) and torch.all(uniform.angles[..., 2] == 0)
    mcp_splay = uniform.angles[:, 0, 1]
    assert torch.all(mcp_splay[torch.as_tensor(uniform.flexion[:, 0] > 0)] > 0)
    assert torch.all(mcp_splay[torch.as_tensor(uniform.flexion[:, 0] == 0)] == 0)


def test_joint_timing():
    p = np.array([[0.25, 0.5, 0.75, 0.0, 1.0]])
    closing = ps.joint_fractions(p, [[1, 1, 1, 0, 0]])
    opening = ps.joint_fractions(p, [[-1, -1, -1, 0, 0]])
    still = ps.joint_fractions(p)
    np.testing.assert_array_equal(still, np.repeat(p[:, :, None], 3, axis=2))
    for frac in (closing, opening):
        np.testing.assert_array_equal(frac[0, 3:], still[0, 3:])  # still fingers, end states
        assert np.all((frac >= 0) & (frac <= 1))
    # Distal joints lead in both directions: a hook when closing, a table top when opening.
    assert np.all(np.diff(closing[0, :3], axis=1) > 0)
    assert np.all(np.diff(opening[0, :3], axis=1) < 0)
    np.testing.assert_allclose(closing[0, 1].mean(), 0.5)
    np.testing.assert_allclose(opening[0, 1].mean(), 0.5)
    # Monotonic in the progress, from 0 to 1.
    q = np.linspace(0, 1, 41)[:, None].repeat(5, 1)
    for d in (1, -1):
        f = ps.joint_fractions(q, np.full_like(q, d, dtype=int))
        assert np.all(np.diff(f, axis=0) >= 0)
        np.testing.assert_array_equal(f[0], 0)
        np.testing.assert_array_equal(f[-1], 1)


def test_bent_thumb_does_not_go_through_fingers(hand):
    # The base poses and the pose where the thumb sweeps through the curled index finger.
    flex = np.concatenate([ps.base_flexions(), [[0.625, 1, 0, 0, 0], [0.5, 1, 0, 0, 0], [0.5, 1, 1, 1, 1]]])
    angles = ps.varied_angles(hand, flex, np.zeros_like(flex))
    assert float(hand.penetration(hand.angles_to_pose(angles)).max()) < 2e-3
    # ... and the uniform poses where a moving thumb meets a bent index finger.
    u = ps.uniform_poses(hand)
    sel = (u.direction[:, 0] != 0) & (u.flexion[:, 1] > 0.5) & (u.t == 0.5)
    assert sel.sum() >= 50
    assert float(hand.penetration(hand.angles_to_pose(u.angles[torch.as_tensor(sel)])).max()) < 2e-3


def test_sample_variation_and_varied_angles(hand, uniform):
    splay, shape = ps.sample_variation(np.random.default_rng(3), 500, splay_scale=0.5, shape_scale=1.5)
    assert splay.shape == (500, 5) and shape.shape == (500, 6)
    assert np.abs(splay).max() <= 0.5 and np.abs(shape).max() <= 1.5
    assert np.abs(splay).max() > 0.45 and np.abs(shape).max() > 1.4  # actually spans the range
    s2, h2 = ps.sample_variation(np.random.default_rng(3), 500, splay_scale=0.5, shape_scale=1.5)
    np.testing.assert_array_equal(splay, s2)
    np.testing.assert_array_equal(shape, h2)
    s3, _ = ps.sample_variation(np.random.default_rng(0), 100, splay_scale=3.0)
    assert np.abs(s3).max() <= 1.0

    # Zero variation reproduces the uniform poses; any variation stays inside the limits.
    idx = np.arange(0, 1520, 7)
    np.testing.assert_allclose(ps.varied_angles(hand, uniform.flexion[idx], 0.0, uniform.direction[idx]),
                               uniform.angles[idx], atol=1e-6)
    base = np.arange(32)
    np.testing.assert_allclose(ps.varied_angles(hand, uniform.flexion[base], np.zeros((32, 5))),
                               uniform.angles[base], atol=1e-6)
    rng = np.random.default_rng(1)
    flex = uniform.flexion[rng.integers(0, 1520, 200)]
    splay, _ = ps.sample_variation(rng, 200, splay_scale=2.0)
    angles = ps.varied_angles(hand, flex, splay)
    assert angles.shape == (200, 15, 3)
    assert bool(hand.within_limits(hand.angles_to_pose(angles)).all())
    angles = ps.varied_angles(hand, flex, splay, np.sign(rng.normal(size=(200, 5))).astype(int))
    assert bool(hand.within_limits(hand.angles_to_pose(angles)).all())


def test_random_pose_angles(hand):
    a = ps.random_pose_angles(hand, 4, seed=5)
    assert a.shape == (4, 15, 3)
    assert bool(hand.within_limits(hand.angles_to_pose(a)).all())
    torch.testing.assert_close(a, ps.random_pose_angles(hand, 4, seed=5))


# ------------------------------------------------------------------------ viewpoints
def test_hemisphere_grid():
    views = vp.hemisphere_viewpoints()
    assert vp.N_VIEWS == 216 and views.shape == (216, 2)
    expected = np.array([[k * math.pi / 18, j * math.pi / 12] for j in range(6) for k in range(36)])
    np.testing.assert_allclose(views, expected, atol=1e-12)
    for j in range(6):
        for k in range(36):
            np.testing.assert_allclose(views[j * 36 + k], [k * math.pi / 18, j * math.pi / 12], atol=1e-12)
    assert len({(round(lo, 9), round(la, 9)) for lo, la in views}) == 216
    assert views[:, 0].min() == 0 and views[:, 0].max() < 2 * math.pi
    assert views[:, 1].min() == 0 and math.isclose(views[:, 1].max(), 75 * math.pi / 180)
    d = vp.view_direction(views[:, 0], views[:, 1])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    assert len({tuple(np.round(x, 9)) for x in d}) == 216  # 216 distinct camera positions


def test_view_direction_orientation():
    np.testing.assert_allclose(vp.view_direction(0.0, 0.0), [0, 0, -1], atol=1e-12)  # palm side
    np.testing.assert_allclose(vp.view_direction(math.pi / 2, 0.0), [-1, 0, 0], atol=1e-12)  # thumb side
    np.testing.assert_allclose(vp.view_direction(math.pi, 0.0), [0, 0, 1], atol=1e-12)  # back of the hand
    np.testing.assert_allclose(vp.view_direction(3 * math.pi / 2, 0.0), [1, 0, 0], atol=1e-12)  # pinky side
    np.testing.assert_allclose(vp.view_direction(1.0, math.pi / 2), [0, -1, 0], atol=1e-12)  # along the forearm


def _check_rotation(R):
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert abs(np.linalg.det(R) - 1) < 1e-12


def test_look_at():
    rng = np.random.default_rng(0)
    for _ in range(50):
        eye, target, up = rng.normal(size=(3, 3))
        roll = rng.uniform(-math.pi, math.pi)
        R, t = vp.look_at(eye, target, up, roll=roll)
        _check_rotation(R)
        np.testing.assert_allclose(R @ eye + t, 0, atol=1e-12)  # camera centre at eye
        p = R @ target + t
        np.testing.assert_allclose(p[:2], 0, atol=1e-12)
        assert p[2] > 0
        R0, _ = vp.look_at(eye, target, up)
        assert -R0[1] @ up > 0  # image up towards the hint
        np.testing.assert_allclose(np.cross(-R0[1], up) @ R0[2], 0, atol=1e-9)  # ... in its plane
        np.testing.assert_allclose(R[2], R0[2], atol=1e-12)  # roll turns about the viewing axis
        np.testing.assert_allclose(R[0] @ R0[0], math.cos(roll), atol=1e-9)
    # up hint parallel to the viewing axis: still a proper rotation looking at the target.
    R, t = vp.look_at([0, 0, 0], [0, 0, 2], [0, 0, 1])
    _check_rotation(R)
    np.testing.assert_allclose(R[2], [0, 0, 1])
    # Fingers (+y) up in the image: camera on the palm side.
    R, t = vp.look_at([0, 0.05, -0.5], [0, 0.05, 0], [0, 1, 0])
    np.testing.assert_allclose(R, [[-1, 0, 0], [0, -1, 0], [0, 0, 1]], atol=1e-12)


def test_view_camera(joints):
    K = vp.intrinsics(128, 40.0)
    wrist, palm = joints[0], vp.palm_center(joints)
    np.testing.assert_allclose(palm, joints[[0, 5, 9, 13, 17]].mean(0))
    for lon, lat in vp.hemisphere_viewpoints():
        for roll in (0.0, 1.3):
            R, t = vp.view_camera(joints, lon, lat, 0.4, roll=roll)
            _check_rotation(R)
            c = -R.T @ t
            assert abs(np.linalg.norm(c - wrist) - 0.4) < 1e-9
            direction = (c - wrist) / 0.4
            np.testing.assert_allclose(direction, vp.view_direction(lon, lat), atol=1e-9)
            assert direction[1] <= 1e-9  # forearm side of the wrist
            uv = (K @ (R @ palm + t))
            np.testing.assert_allclose(uv[:2] / uv[2], [63.5, 63.5], atol=1e-6)
            if roll == 0.0:
                # Fingers point up in the image (middle-finger MCP above the wrist), except
                # when looking along the fingers, where the palm (-z) is up.
                up = -R[1]
                assert up @ np.array([0, 1, 0]) > 0 or up @ np.array([0, 0, -1]) > 0
    R, t = vp.view_camera(joints, 0.0, 0.0, 0.4)
    assert (R @ joints[9] + t)[1] < (R @ joints[0] + t)[1]  # palm view: MCP above the wrist
    assert -R[1] @ [0, 1, 0] > 0.95

    # Off-centre: the palm centre moves off the principal point by about offset * f / depth.
    R, t = vp.view_camera(joints, 0.7, 0.5, 0.4, offset=(0.02, -0.01))
    assert abs(np.linalg.norm(-R.T @ t - wrist) - 0.4) < 1e-9
    p = R @ palm + t
    uv = (K @ p)[:2] / p[2]
    shift = (uv - 63.5) * p[2] / K[0, 0]
    np.testing.assert_allclose(shift, [-0.02, 0.01], atol=2e-3)  # the target moved, so the palm moves the other way


def test_jitter_view(joints):
    lon, lat = 10 * math.pi / 18, 0.0
    draws = [vp.jitter_view(np.random.default_rng(s), lon, lat, distance=0.5) for s in range(300)]
    for d in draws:
        assert set(d) == {"lon", "lat", "distance", "roll", "offset"}
        dl = (d["lon"] - lon + math.pi) % (2 * math.pi) - math.pi
        assert abs(dl) <= math.pi / 36 + 1e-12
        assert 0 <= d["lat"] <= math.pi / 24 + 1e-12
        assert 0.5 * 0.85 <= d["distance"] <= 0.5 * 1.15
        assert -math.pi <= d["roll"] <= math.pi
        assert np.hypot(*d["offset"]) <= 0.02 + 1e-12
        R, t = vp.view_camera(joints, **d)
        assert (-R.T @ t - joints[0])[1] <= 1e-9
    rolls = np.array([d["roll"] for d in draws])
    assert rolls.min() < -2.5 and rolls.max() > 2.5
    # Wraps longitude into [0, 2 pi); caps latitude at the pole.
    for s in range(50):
        d = vp.jitter_view(np.random.default_rng(s), 0.0, 5 * math.pi / 12)
        assert 0 <= d["lon"] < 2 * math.pi and d["lat"] <= math.pi / 2
    # Deterministic per rng state.
    a = [vp.jitter_view(np.random.default_rng(7), lon, lat) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(7)
    seq = [vp.jitter_view(rng, lon, lat) for _ in range(3)]
    rng = np.random.default_rng(7)
    assert seq == [vp.jitter_view(rng, lon, lat) for _ in range(3)]
    assert seq[0] != seq[1]


def test_intrinsics_and_fill():
    K = vp.intrinsics(128, 60.0)
    assert K.shape == (3, 3)
    np.testing.assert_allclose(K[:2, 2], [63.5, 63.5])
    assert K[0, 0] == K[1, 1] and K[0, 1] == 0 and K[2].tolist() == [0, 0, 1]
    # A point at the edge of the field of view lands at the image border (pixel edge -0.5 / 127.5).
    half = math.radians(30.0)
    u = K @ np.array([math.tan(half), 0, 1.0])
    np.testing.assert_allclose(u[0], 127.5)
    d = vp.distance_for_fill(128, K, hand_extent_m=0.2, fill=0.8)
    span = K[0, 0] * 0.2 / d  # pixels covered by 0.2 m at distance d
    np.testing.assert_allclose(span, 0.8 * 128)
    assert vp.distance_for_fill(128, K, 0.2, 0.4) == pytest.approx(2 * d)
    with pytest.raises(ValueError):
        vp.intrinsics(0, 40.0)

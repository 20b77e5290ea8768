"""FreiHAND prediction files: a JSON list ``[xyz_list, verts_list]`` in metres.

``xyz_list`` holds one (21, 3) list of keypoints per evaluation sample and ``verts_list`` one
(V, 3) list of mesh vertices (V = 778 for MANO topology); the evaluation set has 3,960 samples,
given in the order of the data set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from mobrecon.io_utils import atomic_write_text

NUM_JOINTS = 21
NUM_VERTICES = 778


def write_freihand_json(
    path: str | os.PathLike,
    xyz_list: Sequence | np.ndarray,
    verts_list: Sequence | np.ndarray,
    num_joints: int | None = NUM_JOINTS,
    num_vertices: int | None = NUM_VERTICES,
) -> None:
    """Write ``[xyz_list, verts_list]`` to ``path`` atomically.

    xyz_list: K entries of (21, 3) metres (a (K, 21, 3) array works too); verts_list: K entries of
    (V, 3) metres. ``num_joints`` / ``num_vertices`` are the expected point counts (None: any).
    Raises ValueError on mismatched lengths, wrong shapes or non-finite values.
    """
    xyz = [_as_points(x, num_joints, f"xyz_list[{i}]", path) for i, x in enumerate(xyz_list)]
    verts = [_as_points(v, num_vertices, f"verts_list[{i}]", path) for i, v in enumerate(verts_list)]
    if len(xyz) != len(verts):
        raise ValueError(f"{path}: xyz_list has {len(xyz)} entries but verts_list has {len(verts)}")
    payload = [[x.tolist() for x in xyz], [v.tolist() for v in verts]]
    atomic_write_text(path, json.dumps(payload, allow_nan=False, separators=(",", ":")))


def read_freihand_json(
    path: str | os.PathLike,
    num_joints: int | None = NUM_JOINTS,
    num_vertices: int | None = NUM_VERTICES,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read and check a FreiHAND prediction file -> (xyz list of (21, 3), verts list of (V, 3)),
    float64 metres. Raises a one-line ValueError naming the file when it is not valid JSON, not a
    two-element list of lists, the two lists differ in length, or an entry has the wrong shape."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list) or len(data) != 2:
        what = f"a list of {len(data)} elements" if isinstance(data, list) else type(data).__name__
        raise ValueError(f"{path}: expected a top-level list [xyz_list, verts_list], got {what}")
    xyz_raw, verts_raw = data
    for name, part in (("xyz_list", xyz_raw), ("verts_list", verts_raw)):
        if not isinstance(part, list):
            raise ValueError(f"{path}: {name} should be a list, got {type(part).__name__}")
    if len(xyz_raw) != len(verts_raw):
        raise ValueError(f"{path}: xyz_list has {len(xyz_raw)} entries but verts_list has {len(verts_raw)}")
    xyz = [_as_points(x, num_joints, f"xyz_list[{i}]", path) for i, x in enumerate(xyz_raw)]
    verts = [_as_points(v, num_vertices, f"verts_list[{i}]", path) for i, v in enumerate(verts_raw)]
    return xyz, verts


def _as_points(x, count: int | None, name: str, path) -> np.ndarray:
    """One entry -> (count, 3) float64, or a ValueError naming the file and the entry."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):  # ragged nesting
        a = None
    if a is None or a.dtype.kind not in "iuf":
        raise ValueError(f"{path}: {name} is not a rectangular array of numbers")
    a = a.astype(np.float64)
    expected = f"({count if count is not None else 'V'}, 3)"
    if a.ndim != 2 or a.shape[1] != 3 or (count is not None and a.shape[0] != count):
        raise ValueError(f"{path}: {name} has shape {a.shape}, expected {expected}")
    if not np.isfinite(a).all():
        raise ValueError(f"{path}: {name} holds non-finite values")
    return a

"""Mesh files (OBJ, PLY) through trimesh, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mobrecon.io_utils import atomic_path

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb")


def save_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write (V,3) vertices and (F,3) faces; the format follows the suffix (.obj, .ply, ...)."""
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"{path}: unsupported mesh format; use one of {', '.join(MESH_SUFFIXES)}")
    with atomic_path(path) as tmp:
        write_mesh(tmp, vertices, faces, path.suffix.lower()[1:])


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, file_type: str) -> None:
    """Write a mesh to ``path`` as ``file_type`` ('obj', 'ply', ...) in place (not atomically:
    for a temp file that the caller renames)."""
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces), process=False)
    mesh.export(path, file_type=file_type)


def load_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a mesh file without merging or reordering vertices: (V,3) float64, (F,3) int64."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    mesh = trimesh.load(path, process=False, force="mesh")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)

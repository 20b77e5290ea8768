"""The on-disk cache of exported ONNX graphs: built at first use, keyed by the weights' hash.

``cached_sessions(module, names, build)`` returns ONNX Runtime sessions for the graphs
``names`` of a network, exporting them first when the cache does not hold them. The key is a
SHA-256 over an export-format version, ``extra`` (the network's configuration, e.g. its
pose-pooling convention) and every tensor of the network's ``state_dict`` (so two model files
with the same weights share one entry, and changed weights never meet a stale graph). Each
graph is written atomically (temp file + rename), so a reader never sees a half-written file
and two processes building the same entry at once both end up with a whole one. A cached file
that ONNX Runtime cannot open (truncated, corrupted) is deleted and rebuilt, with a warning.

Where: ``$MOBRECON_CACHE`` if set, else ``$XDG_CACHE_HOME/mobrecon``, else
``~/.cache/mobrecon``; under it ``onnx/<key>/<name>.onnx``. Where that folder cannot be
written, the graphs are built in a temporary folder that is removed once the sessions are open.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from mobrecon.infer.ort_session import open_session

__all__ = ["EXPORT_VERSION", "cache_dir", "cache_key", "cached_sessions"]

# bump when the exported graphs change for the same weights (2: mesh up-sampling as a gather;
# 3: a third graph, the whole network in one, beside the encoder and the decoder; 4: exported
# from the network's export form, infer/export_form.py)
EXPORT_VERSION = "mobrecon-onnx-parts-4"
LOG = logging.getLogger("mobrecon.ort_cache")


def cache_dir() -> Path:
    """The folder holding exported graphs (not created here)."""
    root = os.environ.get("MOBRECON_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg, "mobrecon") if xdg else os.path.join(Path.home(), ".cache", "mobrecon")
    return Path(root) / "onnx"


def cache_key(module: nn.Module, extra: str = "") -> str:
    """SHA-256 (hex, 32 characters) of ``EXPORT_VERSION``, ``extra`` and ``module``'s state_dict."""
    h = hashlib.sha256()
    h.update(EXPORT_VERSION.encode())
    h.update(type(module).__name__.encode())
    h.update(extra.encode())
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update((t.float() if t.dtype == torch.bfloat16 else t).numpy().tobytes())
    return h.hexdigest()[:32]


def _open_all(paths: dict[str, Path], threads: int | None) -> dict:
    return {name: open_session(p, threads) for name, p in paths.items()}


def cached_sessions(module: nn.Module, names: list[str], build: Callable[[dict[str, Path]], None],
                    extra: str = "", threads: int | None = None) -> tuple[dict, dict]:
    """Sessions for the graphs ``names`` of ``module``: ``build(paths)`` writes each
    ``paths[name]`` (atomically) when the cache lacks any of them or one will not open.
    Returns ``(sessions by name, info)``; info holds ``key``, ``folder`` and ``built``
    (whether this call exported) and, when the cache could not be used, ``cache_error``."""
    key = cache_key(module, extra)
    folder = cache_dir() / key
    paths = {n: folder / f"{n}.onnx" for n in names}
    info = {"key": key, "folder": str(folder), "built": False}
    if all(p.is_file() for p in paths.values()):
        try:
            return _open_all(paths, threads), info
        except ValueError as e:
            LOG.warning("cached ONNX graph unusable, rebuilding it (%s)", e)
            for p in paths.values():
                p.unlink(missing_ok=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        build(paths)
    except OSError as e:  # a read-only or full cache folder: build in a temporary one
        info["cache_error"] = f"{folder}: {e.strerror or e}"
        tmp = Path(tempfile.mkdtemp(prefix="mobrecon-onnx-"))
        try:
            paths = {n: tmp / f"{n}.onnx" for n in names}
            build(paths)
            info.update(folder=None, built=True)
            return _open_all(paths, threads), info
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    info["built"] = True
    return _open_all(paths, threads), info

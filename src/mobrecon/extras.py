"""Optional dependencies: each is imported through :func:`require`, so that a missing one is one
line naming the ``pip install "mobrecon[EXTRA]"`` that brings it, not an ImportError traceback.

The core install (``pip install mobrecon``) is what ``mobrecon.load(...).predict(...)`` and
``mobrecon reconstruct --no-overlays`` need. The extras (see ``pyproject.toml``):

* ``export``: onnx, onnxscript, onnxruntime -- ONNX export, int8 quantisation and the
  ``onnx`` / ``onnx-int8`` backends;
* ``render``: moderngl -- overlays, ``mobrecon hand --png`` (offscreen OpenGL also needs the
  system's EGL libraries, see :mod:`mobrecon.viz.render`);
* ``train``: what training and data generation need beyond the core (moderngl, for the
  synthetic images);
* ``all``: every one of them.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

__all__ = ["EXTRA_OF", "MissingExtraError", "install_hint", "require"]

# top-level module -> (the extra that brings it, its name on PyPI)
EXTRA_OF: dict[str, tuple[str, str]] = {
    "onnx": ("export", "onnx"),
    "onnxscript": ("export", "onnxscript"),
    "onnxruntime": ("export", "onnxruntime"),
    "moderngl": ("render", "moderngl"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed (or does not import); the message is one line
    ending in the ``pip install "mobrecon[EXTRA]"`` to run."""


def install_hint(extra: str) -> str:
    """The command that installs an extra, as the messages give it."""
    return f'pip install "mobrecon[{extra}]"'


def require(module: str, what: str, extra: str | None = None) -> ModuleType:
    """``import module`` (dotted names allowed); if it is missing, a :class:`MissingExtraError`
    saying that ``what`` (e.g. "ONNX export") needs it and which extra to install. ``extra``
    defaults to the one :data:`EXTRA_OF` lists for the module's top-level package."""
    top = module.split(".")[0]
    listed_extra, pypi = EXTRA_OF.get(top, ("all", top))
    extra = extra or listed_extra
    try:
        return import_module(module)
    except ImportError as e:
        missing = (getattr(e, "name", None) or "").split(".")[0] == top
        if missing:
            why = "which is not installed"
        else:  # installed, but broken (a missing shared library, a version clash)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            why = f"which does not import ({first})"
        raise MissingExtraError(f"{what} needs the Python package {pypi}, {why}: {install_hint(extra)}",
                                name=top) from None

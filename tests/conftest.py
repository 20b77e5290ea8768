"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def egl():
    """The OpenGL renderer's name; skips the test where EGL offscreen rendering is unavailable."""
    from mobrecon.viz.render import MeshRenderer

    try:
        with MeshRenderer() as r:
            return r.gl_renderer
    except RuntimeError as e:
        pytest.skip(f"EGL offscreen rendering unavailable: {e}")

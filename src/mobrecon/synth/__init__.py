"""Synthetic training data: a uniform hand-pose space, hemispherical viewpoints and rendering."""

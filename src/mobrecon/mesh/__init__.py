"""Template mesh hierarchy for the spiral decoder: QEM decimation, spiral sequences, sampling matrices."""

from .hierarchy import MeshHierarchy, build_hierarchy, load_or_build
from .qem import Decimation, decimate
from .spiral import spirals

__all__ = ["Decimation", "MeshHierarchy", "build_hierarchy", "decimate", "load_or_build", "spirals"]

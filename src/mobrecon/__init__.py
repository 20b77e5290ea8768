"""mobrecon: mobile-friendly 3D hand mesh reconstruction from one RGB image (MobRecon, CVPR 2022)."""

__version__ = "0.1.0"

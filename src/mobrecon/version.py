"""The package's version, ``mobrecon.__version__``: in a module of its own at the bottom of the
layers, so that any module may read it without importing the package's facade."""

__version__ = "0.1.0"

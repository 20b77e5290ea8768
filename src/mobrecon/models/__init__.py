"""The MobRecon network and its ablation variants, assembled by name: ``build(name)``."""

from mobrecon.models.registry import CONFIGS, build, names

__all__ = ["CONFIGS", "build", "names"]

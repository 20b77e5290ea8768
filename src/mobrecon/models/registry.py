"""Model names -> configs. ``build("mobrecon_ghoststack")`` returns a ready MobRecon.

Each name is registered with :func:`register_config` (a new encoder's file may register its
own); :func:`names` lists them, and an unknown name is a one-line error listing them.
"""

from __future__ import annotations

from dataclasses import replace

from mobrecon.models.mobrecon_net import MobRecon, MobReconConfig
from mobrecon.registry import Registry

__all__ = ["CONFIGS", "build", "names", "register_config"]

CONFIGS: Registry[MobReconConfig] = Registry("model")


def register_config(name: str, cfg: MobReconConfig) -> MobReconConfig:
    """Make ``build(name)`` (and ``--model name``) build ``cfg``; returns it."""
    if not isinstance(cfg, MobReconConfig):
        raise TypeError(f"model {name!r}: expected a MobReconConfig, got {type(cfg).__name__}")
    return CONFIGS.register(name, cfg)


register_config("mobrecon_ghoststack", MobReconConfig(encoder="ghoststack"))
register_config("mobrecon_densestack", MobReconConfig(encoder="densestack"))
# Table 1: other stacked encoders, in the full MobRecon pipeline.
register_config("mobrecon_resnet18stack", MobReconConfig(encoder="resnet18stack"))
register_config("mobrecon_mobilenetstack", MobReconConfig(encoder="mobilenetstack"))
# Table 2 (2D representation / pose pooling / lifting), on DenseStack.
register_config("densestack_heatmap_jointpool_pvl_dsconv", MobReconConfig(encoder="densestack", pose2d="heatmap"))
register_config("densestack_softargmax_pvl_dsconv", MobReconConfig(encoder="densestack", pose2d="heatmap_softargmax"))
register_config("densestack_reg_pvl_dsconv", MobReconConfig(encoder="densestack", pose2d="regression"))
register_config("densestack_mapreg_fc_dsconv", MobReconConfig(encoder="densestack", lifting="fc"))
# Table 4 (3D decoding): SpiralConv++ instead of DSConv.
register_config("densestack_mapreg_pvl_spiralconv", MobReconConfig(encoder="densestack", decoder="spiralconv"))
register_config("ghoststack_mapreg_pvl_spiralconv", MobReconConfig(encoder="ghoststack", decoder="spiralconv"))


def names() -> list[str]:
    return CONFIGS.names()


def build(name: str, **overrides) -> MobRecon:
    """Build a registered model; keyword overrides replace config fields (e.g. hand='MANO_RIGHT.pkl')."""
    return MobRecon(replace(CONFIGS[name], **overrides))

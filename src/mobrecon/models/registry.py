"""Model names -> configs. ``build("mobrecon_ghoststack")`` returns a ready MobRecon."""

from __future__ import annotations

from dataclasses import replace

from mobrecon.models.mobrecon_net import MobRecon, MobReconConfig

CONFIGS: dict[str, MobReconConfig] = {
    "mobrecon_ghoststack": MobReconConfig(encoder="ghoststack"),
    "mobrecon_densestack": MobReconConfig(encoder="densestack"),
    # Table 1: other stacked encoders, in the full MobRecon pipeline.
    "mobrecon_resnet18stack": MobReconConfig(encoder="resnet18stack"),
    "mobrecon_mobilenetstack": MobReconConfig(encoder="mobilenetstack"),
    # Table 2 (2D representation / pose pooling / lifting), on DenseStack.
    "densestack_heatmap_jointpool_pvl_dsconv": MobReconConfig(encoder="densestack", pose2d="heatmap"),
    "densestack_softargmax_pvl_dsconv": MobReconConfig(encoder="densestack", pose2d="heatmap_softargmax"),
    "densestack_reg_pvl_dsconv": MobReconConfig(encoder="densestack", pose2d="regression"),
    "densestack_mapreg_fc_dsconv": MobReconConfig(encoder="densestack", lifting="fc"),
    # Table 4 (3D decoding): SpiralConv++ instead of DSConv.
    "densestack_mapreg_pvl_spiralconv": MobReconConfig(encoder="densestack", decoder="spiralconv"),
    "ghoststack_mapreg_pvl_spiralconv": MobReconConfig(encoder="ghoststack", decoder="spiralconv"),
}


def names() -> list[str]:
    return list(CONFIGS)


def build(name: str, **overrides) -> MobRecon:
    """Build a registered model; keyword overrides replace config fields (e.g. hand='MANO_RIGHT.pkl')."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(CONFIGS)}")
    return MobRecon(replace(CONFIGS[name], **overrides))

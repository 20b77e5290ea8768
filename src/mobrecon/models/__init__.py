"""The MobRecon network and its ablation variants, assembled by name: ``build(name)``.

The encoder files are imported here so that each registers its encoder
(:func:`~mobrecon.models.encoder.register_encoder`) before any model is built; a new encoder
file is added to this list.
"""

from mobrecon.models import densestack, ghoststack, mobilenetstack, resnetstack  # noqa: F401  (register encoders)
from mobrecon.models.encoder import ENCODERS, Encoder, build_encoder, encoder_names, register_encoder
from mobrecon.models.output import MobReconOutput
from mobrecon.models.registry import CONFIGS, build, names, register_config

__all__ = ["CONFIGS", "ENCODERS", "Encoder", "MobReconOutput", "build", "build_encoder", "encoder_names", "names",
           "register_config", "register_encoder"]

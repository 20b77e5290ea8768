"""What :class:`~mobrecon.models.mobrecon_net.MobRecon` returns: a small dataclass that also
reads like the dict it replaces (as smplx's ``ModelOutput`` does).

``out.vertices`` and ``out["vertices"]`` are the same tensor; ``keys()``, ``items()``,
``values()``, ``get``, ``in``, ``len`` and iteration see only the fields that are set, so a head
without heatmaps has no ``"heatmaps"`` key, as before. The class is a registered pytree node:
``torch.utils._pytree`` (DistributedDataParallel, ``torch.export``, the ONNX exporter) sees
the tensors inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch

__all__ = ["MobReconOutput"]


@dataclass
class MobReconOutput:
    """One forward pass over a batch of B crops of S x S pixels (V mesh vertices):

    ``uv`` (B, 21, 2) joints in [0, 1] of the crop (its edges; a pixel centre i sits at
    (i + 0.5) / S); ``joints2d`` (B, 21, 2) crop pixels (centres at integers: ``uv * S - 0.5``);
    ``vertices`` (B, V, 3) root-relative metres; ``joints3d`` (B, 21, 3) = J_regressor @
    vertices; ``heatmaps`` (B, 21, 32, 32) logits, for the heatmap 2D heads only (else None).
    """

    uv: torch.Tensor
    joints2d: torch.Tensor
    vertices: torch.Tensor
    joints3d: torch.Tensor
    heatmaps: torch.Tensor | None = None

    # -- read like a dict ----------------------------------------------------------------------
    def keys(self) -> list[str]:
        """The names of the fields that are set (not None), in field order."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[torch.Tensor]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, torch.Tensor]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def get(self, key: str, default=None):
        return getattr(self, key) if key in self else default

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


torch.export.register_dataclass(MobReconOutput, serialized_type_name="mobrecon.models.output.MobReconOutput")

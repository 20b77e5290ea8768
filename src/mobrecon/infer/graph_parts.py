"""A MobRecon network as two ONNX graphs, the encoder and the rest (its decoder), so that one
encoder pass can serve both the handedness head and the reconstruction, and as one graph of the
whole network for the calls that need no encoder output of their own (the hand given, or no
handedness head).

``encoder.onnx``: ``image`` (B, 3, S, S) float32 normalised as (x - 0.5) / 0.5 ->
``latent`` (B, C, 4, 4) and, for every 2D head but direct regression, ``map`` (B, M, 16, 16)
(the encoder's outputs, :meth:`MobRecon.encode`).
``decoder.onnx``: those tensors -> ``uv`` (B, 21, 2), ``joints2d`` (B, 21, 2), ``vertices``
(B, V, 3), ``joints3d`` (B, 21, 3) (:meth:`MobRecon.decode`; heatmaps are dropped).
``full.onnx``: ``image`` -> those four outputs, the two graphs in one.
All three are exported from the network's :func:`~mobrecon.infer.export_form.export_form`.

The split costs a second ``session.run`` per call and the hand-over of the encoder's outputs
through numpy (measured in CPU time on GhostStack at batch 1, one thread: the fused graph is
about 5-9 % cheaper than the two), and nothing in accuracy: the graphs are the network's own
modules, pose pooling included, exported with the network's configuration (its
``pool_pixel_centres`` convention is traced into GridSample's ``align_corners``). The
TorchScript exporter is used (it exports both graphs of GhostStack in ~4 s, the dynamo exporter ~25 s, and ONNX Runtime's own graph optimiser folds BatchNorm
either way); the batch axis is dynamic.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from mobrecon.infer.export import OUTPUTS
from mobrecon.infer.export_form import export_form
from mobrecon.io_utils import atomic_path

__all__ = ["DecoderGraph", "EncoderGraph", "FullGraph", "OPSET", "encoder_names", "export_parts"]

OPSET = 17


def encoder_names(model) -> list[str]:
    """Names of the encoder graph's outputs for ``model``: ``["latent", "map"]`` or ``["latent"]``."""
    return ["latent"] if model.cfg.pose2d == "regression" else ["latent", "map"]


class EncoderGraph(nn.Module):
    """image (B, 3, S, S) -> the encoder's outputs as a tuple (latent[, map])."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        enc = self.model.encode(image)
        return tuple(enc) if isinstance(enc, tuple) else (enc,)


class DecoderGraph(nn.Module):
    """(latent[, map]) -> the tuple ``OUTPUTS``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *encoded: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.decode(encoded if len(encoded) > 1 else encoded[0])
        return tuple(out[k] for k in OUTPUTS)


class FullGraph(nn.Module):
    """image (B, 3, S, S) -> the tuple ``OUTPUTS``: the encoder and the decoder in one graph."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.decode(self.model.encode(image))
        return tuple(out[k] for k in OUTPUTS)


def _export(module: nn.Module, example: tuple, path: Path, inputs: list[str], outputs: list[str]) -> None:
    with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(tmp), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes={k: {0: "batch"} for k in (*inputs, *outputs)})


def export_parts(model, encoder_path: str | os.PathLike, decoder_path: str | os.PathLike,
                 full_path: str | os.PathLike | None = None) -> dict:
    """Write ``model`` (a MobRecon, used in eval mode and left as it was) as its encoder graph
    and its decoder graph, and, with ``full_path``, the whole network as one graph, each
    atomically. Returns ``{"encoder", "decoder", "full", "encoded"}`` (paths, ``full`` None
    when not written, and the encoder's output names)."""
    names = encoder_names(model)
    size = int(model.cfg.input_size)
    net = export_form(model)  # a copy in eval mode: ``model`` is left as it was
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    with torch.no_grad():
        enc = EncoderGraph(net)(image)
    _export(EncoderGraph(net).eval(), (image,), Path(encoder_path), ["image"], names)
    _export(DecoderGraph(net).eval(), enc, Path(decoder_path), names, list(OUTPUTS))
    if full_path is not None:
        _export(FullGraph(net).eval(), (image,), Path(full_path), ["image"], list(OUTPUTS))
    return {"encoder": str(encoder_path), "decoder": str(decoder_path),
            "full": None if full_path is None else str(full_path), "encoded": names}

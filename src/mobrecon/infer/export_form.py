"""The form of a MobRecon network that is exported to ONNX: the same function, rewritten where
ONNX Runtime runs a layer slowly (each swap exact up to float rounding; tested against the
trained form in ``tests/test_export_form.py``):

- :class:`~mobrecon.models.blocks.Reorg` (space-to-depth, a 6-D Transpose in ONNX) becomes
  :class:`~mobrecon.models.blocks.ReorgConv`, a fixed grouped conv;
- each decoder block's :class:`~mobrecon.models.decoder3d.MeshUpsample` and
  :class:`~mobrecon.models.dsconv.DSConv` become one
  :class:`~mobrecon.models.upsampled_dsconv.UpsampledDSConv`.

GhostStack at batch 1 on this box's CPU, the whole network through ONNX Runtime (2 threads,
``benchmarks/pipeline_speed.py`` for the call a user makes): see docs/SPEED.md.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mobrecon.models.blocks import Reorg, ReorgConv
from mobrecon.models.decoder3d import DecoderBlock
from mobrecon.models.dsconv import DSConv
from mobrecon.models.upsampled_dsconv import UpsampledDSConv

__all__ = ["export_form"]


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def export_form(model: nn.Module, fuse_decoder: bool = True) -> nn.Module:
    """A copy of ``model`` (a MobRecon, left as it was) in eval mode with the swaps above
    (``fuse_decoder=False``: the Reorg swap only). The fused decoder holds its depth-wise
    weights per vertex, (n, U, C) float32 constants, 8.4 MB for MobRecon's decoder, which int8
    quantisation leaves in fp32: a graph meant for int8 is exported without it."""
    net = copy.deepcopy(model).eval()
    reorgs = {name: m for name, m in net.named_modules() if isinstance(m, Reorg)}
    if reorgs:  # a Reorg's channel count is known from the tensor it gets: one pass to see it
        channels: dict[str, int] = {}
        hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: channels.__setitem__(name, args[0].shape[1]))
                 for name, m in reorgs.items()]
        size = int(net.cfg.input_size)
        with torch.no_grad():
            net.encode(torch.zeros(1, 3, size, size))
        for h in hooks:
            h.remove()
        for name, m in reorgs.items():
            _set(net, name, ReorgConv(channels[name], m.stride))
    if fuse_decoder:
        for block in net.modules():
            if isinstance(block, DecoderBlock) and isinstance(block.conv, DSConv):
                block.conv = UpsampledDSConv(block.up, block.conv)
                block.up = nn.Identity()
    return net

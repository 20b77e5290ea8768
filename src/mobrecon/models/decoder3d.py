"""The MobRecon 3D decoder: coarse vertex features (B, 49, 256) -> mesh vertices (B, 778, 3).

Four blocks of (up-sample x2 on the mesh hierarchy, spiral conv, ReLU), then a spiral conv head
(paper Sec. 3.3; channel sizes from the authors' release, see DESIGN.md)::

    49 -> 98: 256 -> 256;  98 -> 195: 256 -> 128;  195 -> 389: 128 -> 64;  389 -> 778: 64 -> 32
    head at 778: 32 -> 3

Hierarchy level order: level 0 is the template (778), level L the coarsest (49);
``hierarchy.up[l]`` (n_l, n_{l+1}) maps level l+1 to level l. The up-sampling matrices are stored
as dense buffers so that the model exports to ONNX (MatMul) without sparse ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .dsconv import DSConv
from .spiral_conv import SpiralConvPP

__all__ = ["Decoder3D", "DecoderConfig", "MeshUpsample", "make_spiral_conv"]

_CONVS = {"dsconv": DSConv, "spiralconv": SpiralConvPP}


@dataclass(frozen=True)
class DecoderConfig:
    """channels: output channels of the blocks, fine-ward; conv: 'dsconv' or 'spiralconv'."""

    channels: tuple[int, ...] = (256, 128, 64, 32)
    conv: str = "dsconv"
    in_ch: int = 256
    out_ch: int = 3


def make_spiral_conv(kind: str, in_ch: int, out_ch: int, spiral_indices) -> nn.Module:
    """'dsconv' -> :class:`DSConv`, 'spiralconv' -> :class:`SpiralConvPP`."""
    try:
        cls = _CONVS[kind]
    except KeyError:
        raise ValueError(f"conv must be one of {sorted(_CONVS)}, got {kind!r}") from None
    return cls(in_ch, out_ch, spiral_indices)


class MeshUpsample(nn.Module):
    """(B, n_coarse, C) -> (B, n_fine, C) by a fixed dense (n_fine, n_coarse) matrix (a buffer)."""

    def __init__(self, up: torch.Tensor):
        super().__init__()
        self.register_buffer("up", torch.as_tensor(up, dtype=torch.float32).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_coarse, C) -> (B, n_fine, C)."""
        return torch.matmul(self.up.to(x.dtype), x)

    def extra_repr(self) -> str:
        return f"{self.up.shape[1]} -> {self.up.shape[0]}"


class DecoderBlock(nn.Module):
    """Up-sample, spiral conv, ReLU: (B, n_{l+1}, C_in) -> (B, n_l, C_out)."""

    def __init__(self, up: torch.Tensor, conv: nn.Module):
        super().__init__()
        self.up = MeshUpsample(up)
        self.conv = conv
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.up(x)))


class Decoder3D(nn.Module):
    """(B, n_L, in_ch) vertex features at the coarsest level -> (B, n_0, 3) vertex positions.

    hierarchy: a :class:`~mobrecon.mesh.hierarchy.MeshHierarchy` with ``len(channels)``
    transitions (``num_levels == len(channels) + 1``); spirals of each level are used at that level.
    """

    def __init__(
        self,
        hierarchy,
        channels: Sequence[int] = (256, 128, 64, 32),
        conv: str = "dsconv",
        in_ch: int = 256,
        out_ch: int = 3,
    ):
        super().__init__()
        self.config = DecoderConfig(tuple(int(c) for c in channels), conv, int(in_ch), int(out_ch))
        L = hierarchy.num_levels - 1
        if len(channels) != L:
            raise ValueError(f"{len(channels)} channel sizes for a hierarchy with {L} transitions")
        self.counts = list(hierarchy.counts)
        blocks = []
        c_in = int(in_ch)
        for k, c_out in enumerate(channels):
            level = L - 1 - k  # target (finer) level of this block
            spiral = hierarchy.spirals[level]
            blocks.append(DecoderBlock(hierarchy.up_dense(level), make_spiral_conv(conv, c_in, int(c_out), spiral)))
            c_in = int(c_out)
        self.blocks = nn.ModuleList(blocks)
        self.head = make_spiral_conv(conv, c_in, int(out_ch), hierarchy.spirals[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_L, in_ch) -> (B, n_0, out_ch)."""
        if x.dim() != 3 or x.shape[1] != self.counts[-1] or x.shape[2] != self.config.in_ch:
            raise ValueError(f"expected (B, {self.counts[-1]}, {self.config.in_ch}), got {tuple(x.shape)}")
        for block in self.blocks:
            x = block(x)
        return self.head(x)

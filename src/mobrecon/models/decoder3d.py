"""The MobRecon 3D decoder: coarse vertex features (B, 49, 256) -> mesh vertices (B, 778, 3).

Four blocks of (up-sample x2 on the mesh hierarchy, spiral conv, ReLU), then a spiral conv head
(paper Sec. 3.3; channel sizes from the authors' release, see DESIGN.md)::

    49 -> 98: 256 -> 256;  98 -> 195: 256 -> 128;  195 -> 389: 128 -> 64;  389 -> 778: 64 -> 32
    head at 778: 32 -> 3

Hierarchy level order: level 0 is the template (778), level L the coarsest (49);
``hierarchy.up[l]`` (n_l, n_{l+1}) maps level l+1 to level l. Up-sampling is a gather of the 3
coarse vertices each fine vertex blends and a weighted sum (:class:`MeshUpsample`), which
exports to ONNX without sparse ops.

In training mode on a CPU the decoder runs the same function vertex-major, (N, B, C), with the
spiral convolutions as a GEMM and a gather of whole rows (:mod:`~mobrecon.models.vertex_major`);
eval mode, the Mult-Adds count, the ONNX export and GPU training use the batch-major form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .dsconv import DSConv
from .spiral_conv import SpiralConvPP, SpiralModule
from .vertex_major import transform_before_upsampling, upsample_vertex_major

__all__ = ["Decoder3D", "DecoderBlock", "DecoderConfig", "MeshUpsample", "make_spiral_conv"]

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
    """(B, n_coarse, C) -> (B, n_fine, C) by a fixed (n_fine, n_coarse) up-sampling matrix.

    Each fine vertex blends at most k coarse ones (k = 3: barycentric weights on the nearest
    coarse face), so the product is written as a gather of k coarse rows per fine vertex and a
    weighted sum: buffers ``idx`` (n_fine * k,), the coarse vertices row by row, and ``weight``
    (n_fine, k, 1), zero weights padding rows with fewer entries. It exports to ONNX as Gather, Mul and ReduceSum, and costs
    nnz x C multiply-adds instead of the n_fine x n_coarse x C of a dense MatMul (35M Mult-Adds
    for the four up-samplings of the MobRecon decoder, 0.35M as a gather).
    """

    def __init__(self, up: torch.Tensor):
        super().__init__()
        dense = torch.as_tensor(up, dtype=torch.float32)
        if dense.dim() != 2:
            raise ValueError(f"up-sampling matrix must be 2D, got shape {tuple(dense.shape)}")
        n_fine, n_coarse = dense.shape
        nonzero = dense != 0
        k = max(int(nonzero.sum(1).max()), 1)
        # per row: the columns of its non-zeros first (stable), then padding with weight 0
        order = torch.argsort((~nonzero).to(torch.int8), dim=1, stable=True)[:, :k]
        weight = torch.gather(dense, 1, order)
        self.shape = (int(n_fine), int(n_coarse))
        self.nnz = int(nonzero.sum())
        self.register_buffer("idx", order.reshape(-1).contiguous(), persistent=False)
        self.register_buffer("weight", weight.unsqueeze(-1).contiguous(), persistent=False)
        self.register_buffer("matrix", dense, persistent=False)  # for the vertex-major form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_coarse, C) -> (B, n_fine, C)."""
        b, _, c = x.shape
        picked = torch.index_select(x, 1, self.idx).reshape(b, self.shape[0], -1, c)  # (B, n_fine, k, C)
        return (picked * self.weight.to(x.dtype)).sum(2)

    def forward_vertex_major(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_coarse, B, C) -> (n_fine, B, C), as a dense matrix product."""
        return upsample_vertex_major(x, self.matrix)

    def dense(self) -> torch.Tensor:
        """The (n_fine, n_coarse) matrix this module applies."""
        k = self.weight.shape[1]
        out = torch.zeros(self.shape, dtype=self.weight.dtype, device=self.weight.device)
        return out.scatter_add_(1, self.idx.view(self.shape[0], k), self.weight.squeeze(-1))

    def uncounted_macs(self, x: torch.Tensor) -> int:
        """The weighted sum's multiply-adds (the counter sees gathers and element-wise ops as 0)."""
        return int(x.shape[0]) * self.nnz * int(x.shape[-1])

    def extra_repr(self) -> str:
        return f"{self.shape[1]} -> {self.shape[0]}, {self.nnz} non-zeros"


class DecoderBlock(nn.Module):
    """Up-sample, spiral conv, ReLU: (B, n_{l+1}, C_in) -> (B, n_l, C_out)."""

    def __init__(self, up: torch.Tensor, conv: nn.Module):
        super().__init__()
        self.up = MeshUpsample(up)
        self.conv = conv
        self.act = nn.ReLU(inplace=False)
        n_fine, n_coarse = self.up.shape
        self.transform_first = isinstance(conv, SpiralModule) and transform_before_upsampling(
            n_fine, n_coarse, conv.in_ch, conv.out_ch, conv.spiral_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.up(x)))

    def forward_vertex_major(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_{l+1}, B, C_in) -> (n_l, B, C_out)."""
        if self.transform_first:
            return self.act(self.conv.forward_vertex_major(x, upsample=self.up.matrix))
        return self.act(self.conv.forward_vertex_major(self.up.forward_vertex_major(x)))


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
        # the training form is measured on CPUs (issue 17); a GPU keeps the form timed there
        if self.training and x.device.type == "cpu":
            return self.forward_vertex_major(x.transpose(0, 1)).transpose(0, 1).contiguous()
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def forward_vertex_major(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_L, B, in_ch) -> (n_0, B, out_ch), the training form (faster on a CPU, issue 17)."""
        for block in self.blocks:
            x = block.forward_vertex_major(x)
        return self.head.forward_vertex_major(x)

"""DSConv: depth-wise separable spiral convolution (MobRecon Eq. 8-9).

Depth-wise (Eq. 8), per channel ``i`` a weight over the S spiral positions, no bias::

    g_i(v) = sum_s Wd[i, s] * f_i(v_s)

Point-wise (Eq. 9), an FC over channels with bias::

    f'(v) = Wp g(v) + b,    Wp: (C_out, C_in)

Cost per vertex: S * C_in + C_in * C_out multiply-adds instead of SpiralConv++'s
S * C_in * C_out. The same layer is a SpiralConv++ with the factorised weight
``W[o, s * C_in + i] = Wp[o, i] * Wd[i, s]`` (:func:`dsconv_as_spiralconv`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .spiral_conv import SpiralConvPP, SpiralModule, spiral_gather

__all__ = ["DSConv", "dsconv_as_spiralconv"]


class DSConv(SpiralModule):
    """(B, N, C_in) -> (B, N, C_out).

    spiral_indices: (N, S) int64. Parameters: ``depthwise_weight`` (C_in, S),
    ``pointwise.weight`` (C_out, C_in), ``pointwise.bias`` (C_out,).
    """

    def __init__(self, in_ch: int, out_ch: int, spiral_indices, bias: bool = True):
        super().__init__(in_ch, out_ch, spiral_indices)
        self.depthwise_weight = nn.Parameter(torch.empty(self.in_ch, self.spiral_length))
        self.pointwise = nn.Linear(self.in_ch, self.out_ch, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Depth-wise: U(-1/sqrt(S), 1/sqrt(S)) (fan-in S, as a grouped conv); point-wise: nn.Linear default."""
        bound = 1.0 / math.sqrt(self.spiral_length)
        nn.init.uniform_(self.depthwise_weight, -bound, bound)
        self.pointwise.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C_in) -> (B, N, C_out)."""
        g = spiral_gather(x, self.index, self.num_vertices, self.spiral_length)  # (B, N, S, C_in)
        # one S-long dot product per vertex and channel, as a product and a sum over the spiral:
        # as a batched matmul of (1 x S) @ (S x 1) it ran as thousands of tiny GEMMs (72 % of a
        # GhostStack training step on an H200, 80 % of ONNX Runtime's CPU time)
        # in the features' dtype: under bf16 autocast a float32 weight would promote the (B, N, S,
        # C_in) product and its gradient to float32 (a GhostStack training step: 7.0 -> 4.9 s for
        # 64 crops on one CPU thread with the cast)
        w = self.depthwise_weight.t().to(g.dtype)
        return self.pointwise((g * w).sum(dim=2))  # (B, N, C_in) -> (B, N, C_out)

    def spiral_weight(self) -> torch.Tensor:
        """(C_in, S, C_out): ``W[i, s, o] = Wd[i, s] * Wp[o, i]``, differentiable in both."""
        return self.depthwise_weight[:, :, None] * self.pointwise.weight.t()[:, None, :]

    def spiral_bias(self) -> torch.Tensor | None:
        return self.pointwise.bias

    def uncounted_macs(self, x: torch.Tensor) -> int:
        """Mult-Adds of the depth-wise step on x (B, N, C_in), which a FLOP counter does not see
        in an element-wise product and sum (see :mod:`mobrecon.models.flops`)."""
        return x.shape[0] * self.num_vertices * self.spiral_length * self.in_ch

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, vertices={self.num_vertices}, spiral={self.spiral_length}"


def dsconv_as_spiralconv(ds: DSConv) -> SpiralConvPP:
    """The SpiralConv++ computing exactly what ``ds`` computes (a rank-factorised weight).

    W[o, s * C_in + i] = Wp[o, i] * Wd[i, s]; bias = the point-wise bias.
    """
    idx = ds.index.reshape(ds.num_vertices, ds.spiral_length)
    conv = SpiralConvPP(ds.in_ch, ds.out_ch, idx.cpu(), bias=ds.pointwise.bias is not None)
    with torch.no_grad():
        w = ds.spiral_weight().permute(2, 1, 0)  # (C_out, S, C_in)
        conv.linear.weight.copy_(w.reshape(ds.out_ch, ds.spiral_length * ds.in_ch))
        if ds.pointwise.bias is not None:
            conv.linear.bias.copy_(ds.pointwise.bias)
    wp = ds.pointwise.weight
    return conv.to(device=wp.device, dtype=wp.dtype)

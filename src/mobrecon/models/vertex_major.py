"""The decoder's training form: vertex features held vertex-major, (N, B, C), and each spiral
convolution written as one matrix product followed by a gather.

Any spiral convolution (SpiralConv++ or DSConv) is, per spiral position ``s``, a fixed
(C_in, C_out) matrix ``W_s`` applied to the ``s``-th spiral neighbour, summed over ``s``::

    f'(v) = b + sum_s f(v_s) W_s

DSConv's ``W_s = diag(Wd[:, s]) Wp^T`` (the depth-wise weights folded into the point-wise
ones). Transforming first and gathering after computes the same sum:

    Y = f [W_1 | ... | W_S]      (N_in*B, C_in) @ (C_in, S*C_out), one large GEMM
    f'(v) = b + sum_s Y[v_s, s]  a gather of N*S rows and a sum over s

In the vertex-major layout a gathered row is a contiguous B*C_out block, so both the gather
and its backward (``index_add_``) move whole rows. The batch-major eval form (B, N, S, C)
gathers C-element pieces and runs the depth-wise step as element-wise products, which
dominated a bf16 training step on a CPU (issue 17). The GEMM does S times the point-wise
multiply-adds of DSConv, but bf16 GEMMs on this CPU run far faster than the element-wise
product, the sum and their backward did.

Up-sampling is a dense (n_fine, n_coarse) @ (n_coarse, B*C) product in this layout: exact (the
zeros add nothing) and a GEMM instead of a gather, a weighted sum and an ``index_add_``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["spiral_conv_vertex_major", "spiral_rows", "upsample_vertex_major"]


def spiral_rows(spiral_indices: torch.Tensor) -> torch.Tensor:
    """(N, S) spiral indices -> (N * S,) rows of Y viewed as (N_in * S, B * C_out): the row of
    spiral element ``s`` of vertex ``v`` is ``index[v, s] * S + s``."""
    n, s = spiral_indices.shape
    return (spiral_indices * s + torch.arange(s, device=spiral_indices.device)).reshape(-1)


def spiral_conv_vertex_major(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             rows: torch.Tensor) -> torch.Tensor:
    """x (N_in, B, C_in), weight (C_in, S, C_out) (``W_s = weight[:, s]``), bias (C_out,) or None,
    rows (N * S,) from :func:`spiral_rows` -> (N, B, C_out)."""
    n_in, b, c_in = x.shape
    _, s, c_out = weight.shape
    n = rows.numel() // s
    y = F.linear(x.reshape(n_in * b, c_in), weight.reshape(c_in, s * c_out).t())  # (N_in*B, S*C_out)
    y = y.view(n_in, b, s, c_out).transpose(1, 2).reshape(n_in * s, b * c_out)  # rows (u, s)
    out = y.index_select(0, rows).view(n, s, b * c_out).sum(1).view(n, b, c_out)
    # the bias in the features' dtype: a float32 bias would promote a bf16 output to float32
    return out if bias is None else out + bias.to(out.dtype)


def upsample_vertex_major(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """x (n_coarse, B, C), matrix (n_fine, n_coarse) -> (n_fine, B, C)."""
    n_coarse, b, c = x.shape
    return torch.matmul(matrix.to(x.dtype), x.reshape(n_coarse, b * c)).view(-1, b, c)

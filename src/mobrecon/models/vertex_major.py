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
product, the sum and their backward did: the decoder's forward and backward at batch 64 (bf16,
2 threads, ``benchmarks/decoder_train_speed.py``) 465 -> 265 ms, a GhostStack stage-2 training
step 28.9 -> 39.0 samples/s (``benchmarks/results/train_speed_stage2_vertex_major.json``).

Up-sampling is a dense (n_fine, n_coarse) @ (n_coarse, B*C) product in this layout: exact (the
zeros add nothing) and a GEMM instead of a gather, a weighted sum and an ``index_add_``. Where
channels are wide and vertices few, a decoder block transforms on the coarse vertices and
up-samples Y instead (:func:`transform_before_upsampling`), which halves its largest GEMM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["spiral_conv_vertex_major", "spiral_rows", "transform_before_upsampling", "upsample_vertex_major"]


def spiral_rows(spiral_indices: torch.Tensor) -> torch.Tensor:
    """(N, S) spiral indices -> (N * S,) rows of Y viewed as (N_in * S, B * C_out): the row of
    spiral element ``s`` of vertex ``v`` is ``index[v, s] * S + s``."""
    n, s = spiral_indices.shape
    return (spiral_indices * s + torch.arange(s, device=spiral_indices.device)).reshape(-1)


def spiral_conv_vertex_major(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             rows: torch.Tensor, upsample: torch.Tensor | None = None) -> torch.Tensor:
    """x (N_in, B, C_in), weight (C_in, S, C_out) (``W_s = weight[:, s]``), bias (C_out,) or None,
    rows (N * S,) from :func:`spiral_rows` -> (N, B, C_out).

    upsample: an (N_in, N_c) matrix; x is then on the N_c coarse vertices, (N_c, B, C_in), and
    is up-sampled after the channel transform, on Y (see :func:`transform_before_upsampling`).
    """
    n_x, b, c_in = x.shape
    _, s, c_out = weight.shape
    n = rows.numel() // s
    y = F.linear(x.reshape(n_x * b, c_in), weight.reshape(c_in, s * c_out).t())  # (N_x*B, S*C_out)
    y = y.view(n_x, b, s, c_out)
    if upsample is not None:
        y = upsample_vertex_major(y, upsample)  # (N_in, B, S, C_out)
    n_in = y.shape[0]
    y = y.transpose(1, 2).reshape(n_in * s, b * c_out)  # rows (u, s)
    out = y.index_select(0, rows).view(n, s, b * c_out).sum(1).view(n, b, c_out)
    # the bias in the features' dtype: a float32 bias would promote a bf16 output to float32
    return out if bias is None else out + bias.to(out.dtype)


def transform_before_upsampling(n_fine: int, n_coarse: int, c_in: int, c_out: int, s: int) -> bool:
    """Whether up-sampling (n_coarse -> n_fine, a dense product) then a spiral conv costs more
    multiply-adds than the conv's channel transform on the coarse vertices then up-sampling its
    S * C_out wide result (the two act on different axes, so the order is free). It pays where
    channels are wide and vertices few: MobRecon's first two decoder blocks."""
    up_first = n_fine * n_coarse * c_in + n_fine * c_in * s * c_out
    transform_first = n_coarse * c_in * s * c_out + n_fine * n_coarse * s * c_out
    return transform_first < up_first


def upsample_vertex_major(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """x (n_coarse, *rest), matrix (n_fine, n_coarse) -> (n_fine, *rest), e.g. rest = (B, C)."""
    return torch.matmul(matrix.to(x.dtype), x.reshape(x.shape[0], -1)).view(-1, *x.shape[1:])

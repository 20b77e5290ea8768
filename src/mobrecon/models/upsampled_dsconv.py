"""A decoder block's up-sampling and DSConv as one gather: the inference form of
:class:`~mobrecon.models.decoder3d.MeshUpsample` followed by
:class:`~mobrecon.models.dsconv.DSConv` (exported to ONNX in place of the two; not trained).

Up-sampling (fine vertex f blends coarse vertices ``c_fk`` with weights ``a_fk``) and the
depth-wise spiral step (vertex v sums channel i of its spiral ``f_vs`` with weight ``Wd[i, s]``)
are both linear in the vertex features, so together, for fine vertex v and channel i::

    g_i(v) = sum_s Wd[i, s] sum_k a[f_vs, k] x_i(c[f_vs, k]) = sum_j W[v, j, i] x_i(c_vj)

over the U distinct coarse vertices ``c_vj`` that v's spiral reaches (U = 11-13 on the
MobRecon hierarchy, against 3 + 9 rows gathered by the two steps), with
``W[v, j, i] = sum_{s, k: c[f_vs, k] = c_vj} a[f_vs, k] Wd[i, s]``. The point-wise step follows
unchanged. One Gather, Mul and ReduceSum instead of two of each: on ONNX Runtime (one CPU
thread) the GhostStack decoder's element-wise time falls by about a third, and the outputs
agree to float rounding (``tests/test_export_form.py``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .decoder3d import MeshUpsample
from .dsconv import DSConv

__all__ = ["UpsampledDSConv"]


class UpsampledDSConv(nn.Module):
    """(B, n_coarse, C_in) -> (B, n_fine, C_out): ``conv(up(x))`` in one gather.

    Buffers: ``index`` (n_fine * U,) coarse vertices, ``weight`` (n_fine, U, C_in) (zero where
    a vertex reaches fewer than U); ``pointwise`` a copy of the DSConv's point-wise layer.
    """

    def __init__(self, up: MeshUpsample, conv: DSConv):
        super().__init__()
        n_fine, n_coarse = up.shape
        if conv.num_vertices != n_fine:
            raise ValueError(f"DSConv on {conv.num_vertices} vertices after an up-sampling to {n_fine}")
        k = up.weight.shape[1]
        up_idx = up.idx.view(n_fine, k).cpu().numpy()
        up_w = up.weight.squeeze(-1).detach().double().cpu().numpy()
        spiral = conv.index.view(conv.num_vertices, conv.spiral_length).cpu().numpy()
        n, s_len = spiral.shape
        coarse, a = up_idx[spiral], up_w[spiral]  # (n, S, k): what each spiral element blends
        v = np.broadcast_to(np.arange(n)[:, None, None], coarse.shape)
        s = np.broadcast_to(np.arange(s_len)[None, :, None], coarse.shape)
        used = a != 0
        keys, inverse = np.unique(v[used] * n_coarse + coarse[used], return_inverse=True)  # sorted by v
        owner = keys // n_coarse
        rank = np.arange(len(keys)) - np.searchsorted(owner, owner)  # j of each distinct (v, c)
        u = int(rank.max()) + 1
        index = np.zeros((n, u), np.int64)
        index[owner, rank] = keys % n_coarse
        mix = np.zeros((n, u, s_len))  # the up-sampling weights per (v, j, s)
        np.add.at(mix, (v[used], rank[inverse], s[used]), a[used])
        wd = conv.depthwise_weight.detach().double().cpu()  # (C_in, S)
        weight = torch.from_numpy(mix) @ wd.t()  # (n, U, C_in)
        self.num_vertices, self.reach = n, u
        self.register_buffer("index", torch.from_numpy(index.reshape(-1)), persistent=False)
        self.register_buffer("weight", weight.to(conv.depthwise_weight.dtype).contiguous(), persistent=False)
        self.pointwise = copy.deepcopy(conv.pointwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_coarse, C_in) -> (B, n_fine, C_out)."""
        b, _, c = x.shape
        g = x.index_select(1, self.index).reshape(b, self.num_vertices, self.reach, c)
        return self.pointwise((g * self.weight).sum(2))

    def extra_repr(self) -> str:
        return f"vertices={self.num_vertices}, reach={self.reach}"

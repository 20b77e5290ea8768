"""SpiralConv++ (MobRecon Eq. 7, after SpiralNet++): gather a vertex's spiral, concatenate, one FC.

For vertex ``v`` with spiral ``k-disk(v)_S = (v_1, ..., v_S)``::

    f'(v) = W [f(v_1) || f(v_2) || ... || f(v_S)] + b,    W: (C_out, S * C_in)

Column ``s * C_in + i`` of ``W`` multiplies channel ``i`` of the ``s``-th spiral element.
The gather uses ``index_select`` on a flattened (N * S,) index buffer, which exports to ONNX as a
plain ``Gather``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .vertex_major import spiral_conv_vertex_major, spiral_rows

__all__ = ["SpiralConvPP", "as_index_tensor", "spiral_gather"]


def as_index_tensor(spiral_indices) -> torch.Tensor:
    """(N, S) int array / tensor -> contiguous (N, S) int64 tensor; checks the shape."""
    if isinstance(spiral_indices, np.ndarray):
        idx = torch.from_numpy(np.ascontiguousarray(spiral_indices, dtype=np.int64))
    else:
        idx = torch.as_tensor(spiral_indices, dtype=torch.long)
    if idx.dim() != 2:
        raise ValueError(f"spiral indices must be (N, S), got shape {tuple(idx.shape)}")
    return idx.contiguous()


def spiral_gather(x: torch.Tensor, flat_index: torch.Tensor, n: int, s: int) -> torch.Tensor:
    """x (B, N_in, C), flat_index (n * s,) -> (B, n, s, C): the spiral neighbours' features."""
    b, _, c = x.shape
    return x.index_select(1, flat_index).reshape(b, n, s, c)


class SpiralModule(nn.Module):
    """Base of the spiral operators: holds channel sizes and the flattened (N*S,) spiral index.

    A subclass gives its weights per spiral position (:meth:`spiral_weight`, :meth:`spiral_bias`)
    and gets :meth:`forward_vertex_major`, the training form (:mod:`~mobrecon.models.vertex_major`).
    """

    def __init__(self, in_ch: int, out_ch: int, spiral_indices):
        super().__init__()
        idx = as_index_tensor(spiral_indices)
        self.in_ch, self.out_ch = int(in_ch), int(out_ch)
        self.num_vertices, self.spiral_length = int(idx.shape[0]), int(idx.shape[1])
        self.register_buffer("index", idx.reshape(-1), persistent=False)
        self.register_buffer("rows", spiral_rows(idx), persistent=False)

    def spiral_weight(self) -> torch.Tensor:
        """(C_in, S, C_out): ``[:, s]`` multiplies the ``s``-th spiral neighbour's features."""
        raise NotImplementedError

    def spiral_bias(self) -> torch.Tensor | None:
        """(C_out,) or None."""
        raise NotImplementedError

    def forward_vertex_major(self, x: torch.Tensor, upsample: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N_in, B, C_in) -> (N, B, C_out), the same function as ``forward`` in the other layout;
        with ``upsample`` (N_in, N_c), x (N_c, B, C_in) -> ``forward(upsample @ x)`` (N, B, C_out)."""
        return spiral_conv_vertex_major(x, self.spiral_weight(), self.spiral_bias(), self.rows, upsample)


class SpiralConvPP(SpiralModule):
    """SpiralConv++: (B, N, C_in) -> (B, N, C_out).

    spiral_indices: (N, S) int64 (array or tensor); row ``v`` is the spiral of vertex ``v`` and
    starts at ``v``. Kept as a non-persistent buffer (it is derived from the mesh, not learned).
    Parameters: ``linear.weight`` (C_out, S * C_in), ``linear.bias`` (C_out,).
    """

    def __init__(self, in_ch: int, out_ch: int, spiral_indices, bias: bool = True):
        super().__init__(in_ch, out_ch, spiral_indices)
        self.linear = nn.Linear(self.spiral_length * self.in_ch, self.out_ch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C_in) -> (B, N, C_out)."""
        g = spiral_gather(x, self.index, self.num_vertices, self.spiral_length)  # (B, N, S, C_in)
        return self.linear(g.reshape(x.shape[0], self.num_vertices, self.spiral_length * self.in_ch))

    def spiral_weight(self) -> torch.Tensor:
        """(C_in, S, C_out) from ``linear.weight`` (C_out, S * C_in)."""
        return self.linear.weight.view(self.out_ch, self.spiral_length, self.in_ch).permute(2, 1, 0)

    def spiral_bias(self) -> torch.Tensor | None:
        return self.linear.bias

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, vertices={self.num_vertices}, spiral={self.spiral_length}"

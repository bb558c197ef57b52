"""Neighbourhood statistics of the PNA layer (``pna.c``) with torch fallbacks.

A degree bucket of the GMN's :class:`~zoo.models._pna.PNALayer` is a dense ``[n, d, F]``
block of messages (``n`` receivers with ``d`` neighbours each). Its sum, minimum, maximum
and sum of squares over the neighbours took four passes plus slow index-returning
``torch.min``/``torch.max`` (~1 ns per element); :func:`block_stats` does all of them in one
vectorised pass, and :func:`block_stats_backward` the whole gradient in one more. Without
the kernels (see :mod:`zoo.native`) the same values come from torch reductions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.native import kernel_library, plain_float32, pointer

__all__ = ["block_stats", "block_stats_backward"]

_NO_INDEX = torch.zeros(0, dtype=torch.long)


def block_stats(block: Tensor, want_min: bool, want_max: bool, want_sq: bool,
                with_indices: bool = True
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Sum, min, max and sum of squares of ``block`` over its neighbour axis.

    Returns ``(sum, min, max, sq, argmin, argmax)``; statistics not asked for come back as
    ``[n, 0]`` (indices as empty tensors), and indices only ``with_indices``. Among equal
    extremes the first neighbour is taken, as :func:`torch.min` / :func:`torch.max` do.

    Shapes:
        - **block:** ``[n, d, F]`` with ``d >= 1``
        - **output:** ``[n, F]`` each (indices ``int64``)
    """
    n, d, f = block.shape
    if d < 1:
        raise ValueError("block_stats needs at least one neighbour per node")
    empty = block.new_zeros(n, 0)
    lib = kernel_library()
    if lib is not None and plain_float32(block):
        total = block.new_empty(n, f)
        mn, mx, sq = (block.new_empty(n, f) if want else empty
                      for want in (want_min, want_max, want_sq))
        i_min = torch.empty(n, f, dtype=torch.long) if want_min and with_indices else _NO_INDEX
        i_max = torch.empty(n, f, dtype=torch.long) if want_max and with_indices else _NO_INDEX
        lib.zoo_block_stats(block.data_ptr(), total.data_ptr(), pointer(mn), pointer(mx),
                            pointer(sq), pointer(i_min), pointer(i_max), n, d, f)
        return total, mn, mx, sq, i_min, i_max
    i_min = i_max = _NO_INDEX
    if want_min and with_indices:
        mn, i_min = block.min(dim=1)
    else:
        mn = block.amin(dim=1) if want_min else empty
    if want_max and with_indices:
        mx, i_max = block.max(dim=1)
    else:
        mx = block.amax(dim=1) if want_max else empty
    sq = (block * block).sum(dim=1) if want_sq else empty
    return block.sum(dim=1), mn, mx, sq, i_min, i_max


def block_stats_backward(block: Tensor, g_sum: Tensor | None, g_min: Tensor | None,
                         g_max: Tensor | None, g_sq: Tensor | None, i_min: Tensor,
                         i_max: Tensor) -> Tensor:
    """Gradient with respect to ``block`` of the statistics of :func:`block_stats`.

    ``g_*`` are the gradients of the sum, min, max and sum of squares (``None``: zero);
    ``i_min``/``i_max`` the indices :func:`block_stats` returned (needed where ``g_min`` /
    ``g_max`` are given): each extreme's gradient goes to its first attaining neighbour.

    Shapes:
        - **block:** ``[n, d, F]``; **g_*, i_*:** ``[n, F]``
        - **output:** ``[n, d, F]``
    """
    n, d, f = block.shape
    g_sum = g_sum.contiguous() if g_sum is not None else block.new_zeros(n, f)
    # autograd hands in slices of the concatenated aggregates: make them plain arrays
    g_sq, g_min, g_max = (None if g is None else g.contiguous() for g in (g_sq, g_min, g_max))
    grads = [g for g in (g_sum, g_sq, g_min, g_max) if g is not None]
    indices = [i for i, g in ((i_min, g_min), (i_max, g_max)) if g is not None]
    lib = kernel_library()
    if (lib is not None and plain_float32(block, *grads)
            and all(i.is_contiguous() and i.shape == (n, f) for i in indices)):
        grad = torch.empty_like(block)
        lib.zoo_block_stats_backward(
            block.data_ptr(), g_sum.data_ptr(), pointer(g_sq), pointer(g_min), pointer(g_max),
            pointer(i_min if g_min is not None else None),
            pointer(i_max if g_max is not None else None), grad.data_ptr(), n, d, f)
        return grad
    if g_sq is not None:
        grad = torch.addcmul(g_sum.unsqueeze(1), block, g_sq.unsqueeze(1), value=2.0)
    else:
        grad = g_sum.unsqueeze(1).expand_as(block).clone()
    if g_min is not None:
        grad.scatter_add_(1, i_min.unsqueeze(1), g_min.unsqueeze(1))
    if g_max is not None:
        grad.scatter_add_(1, i_max.unsqueeze(1), g_max.unsqueeze(1))
    return grad

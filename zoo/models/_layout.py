"""The flat parameter layout of an MLP (and of a SIREN, an MLP with sines): its one owner.

A network with layer sizes ``(d0, ..., dL)`` stores its parameters as one vector ``[P]``,
``P = sum_l d_{l+1} (d_l + 1)``: for each layer ``l`` in order, the weight
``(d_{l+1}, d_l)`` row-major, then the bias ``(d_{l+1},)``. Every stored INR population,
:class:`~zoo.models.siren.SirenConfig`, the neural graphs (:mod:`zoo.graphs`), the weight
standardisation (:mod:`zoo.inputs`) and the augmentations read the layout from here.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LayerSlice", "join_flat", "mlp_layout", "mlp_param_count", "split_flat"]


@dataclass(frozen=True)
class LayerSlice:
    """Where one layer's parameters sit in the flat vector ``[P]``.

    Args:
        weight: the slice of ``W_l`` (``out * in`` entries, row-major).
        bias: the slice of ``b_l`` (``out`` entries), right after the weight.
        shape: ``(out, in)`` of ``W_l``.
    """

    weight: slice
    bias: slice
    shape: tuple[int, int]


@functools.lru_cache(maxsize=64)
def _layout(sizes: tuple[int, ...]) -> tuple[LayerSlice, ...]:
    out, start = [], 0
    for d_in, d_out in itertools.pairwise(sizes):
        end_w = start + d_out * d_in
        out.append(LayerSlice(slice(start, end_w), slice(end_w, end_w + d_out), (d_out, d_in)))
        start = end_w + d_out
    return tuple(out)


def mlp_layout(layer_sizes: Sequence[int]) -> tuple[LayerSlice, ...]:
    """One :class:`LayerSlice` per layer of an MLP with ``layer_sizes`` ``(d0, ..., dL)``.

    Raises ``ValueError`` for fewer than two sizes or a size below 1.
    """
    sizes = tuple(int(d) for d in layer_sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"an MLP layout needs >= 2 positive layer sizes, got {list(sizes)}")
    return _layout(sizes)


def mlp_param_count(layer_sizes: Sequence[int]) -> int:
    """Length ``P`` of the flat vector of an MLP with ``layer_sizes``."""
    return mlp_layout(layer_sizes)[-1].bias.stop


def split_flat(flat: Tensor, layer_sizes: Sequence[int]) -> tuple[list[Tensor], list[Tensor]]:
    """Per-layer weights and biases of flat vectors (views, no copy).

    Shapes:
        - **flat:** ``[..., P]`` with ``P = mlp_param_count(layer_sizes)``
        - **output:** weights ``[..., out_l, in_l]`` and biases ``[..., out_l]``
    """
    layout = mlp_layout(layer_sizes)
    if flat.shape[-1] != layout[-1].bias.stop:
        raise ValueError(f"flat params {tuple(flat.shape)} do not match layer sizes "
                         f"{list(layer_sizes)} ({layout[-1].bias.stop} entries)")
    lead = flat.shape[:-1]
    return ([flat[..., sl.weight].reshape(*lead, *sl.shape) for sl in layout],
            [flat[..., sl.bias] for sl in layout])


def join_flat(weights: Sequence[Tensor], biases: Sequence[Tensor]) -> Tensor:
    """Inverse of :func:`split_flat`: concatenate layers into the flat layout.

    Shapes:
        - **weights:** ``[..., out_l, in_l]`` per layer ``l``
        - **biases:** ``[..., out_l]`` per layer ``l`` (same leading dims)
        - **output:** ``[..., P]``
    """
    if len(weights) != len(biases) or not weights:
        raise ValueError(f"need one bias per weight, got {len(weights)} and {len(biases)}")
    parts: list[Tensor] = []
    for w, b in zip(weights, biases, strict=True):
        lead = w.shape[:-2]
        if b.shape != (*lead, w.shape[-2]):
            raise ValueError(f"bias shape {tuple(b.shape)} does not match weight {tuple(w.shape)}")
        parts += [w.reshape(*lead, w.shape[-2] * w.shape[-1]), b]
    return torch.cat(parts, dim=-1)

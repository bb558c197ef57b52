"""Architecture of a neural graph, and its flat MLP parameters.

The flat layout is :mod:`zoo.models._layout`'s (the one SIRENs use): for each layer
``l`` the weight ``(d_{l+1}, d_l)`` row-major, then the bias ``(d_{l+1},)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from zoo.models._layout import LayerSlice, join_flat, mlp_layout, mlp_param_count, split_flat

__all__ = ["NeuralGraphSpec", "flat_from_mlp_params", "mlp_params_from_flat"]


@dataclass(frozen=True)
class NeuralGraphSpec:
    """Architecture of the networks a neural graph can encode.

    Args:
        layer_sizes: neurons (MLP) or channels then linear widths (CNN) per
            layer, ``(d0, ..., dL)``, ``L >= 1``.
        kernel_sizes: ``(kh, kw)`` of each conv layer; the first
            ``len(kernel_sizes)`` layers are convolutions (default: ``()``, an MLP).
    """

    layer_sizes: tuple[int, ...]
    kernel_sizes: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        sizes = tuple(int(d) for d in self.layer_sizes)
        kernels = tuple((int(h), int(w)) for h, w in self.kernel_sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes needs >= 2 positive sizes, got {self.layer_sizes}")
        if len(kernels) > len(sizes) - 1 or any(min(k) < 1 for k in kernels):
            raise ValueError(f"bad kernel_sizes {self.kernel_sizes} for {len(sizes) - 1} layers")
        object.__setattr__(self, "layer_sizes", sizes)
        object.__setattr__(self, "kernel_sizes", kernels)

    @property
    def num_layers(self) -> int:
        """Number of weight layers ``L``."""
        return len(self.layer_sizes) - 1

    @property
    def num_nodes(self) -> int:
        """Nodes per graph, ``sum(d_l)``."""
        return sum(self.layer_sizes)

    @property
    def num_edges(self) -> int:
        """Edges per graph, ``sum(d_l * d_{l+1})``."""
        s = self.layer_sizes
        return sum(s[i] * s[i + 1] for i in range(self.num_layers))

    @property
    def num_params(self) -> int:
        """Scalar parameters of the network (kernels counted in full)."""
        s, k = self.layer_sizes, self.kernel_sizes
        if not k:
            return mlp_param_count(s)
        taps = [h * w for h, w in k] + [1] * (self.num_layers - len(k))
        return sum(s[i + 1] * (s[i] * taps[i] + 1) for i in range(self.num_layers))

    def param_slices(self) -> tuple[LayerSlice, ...]:
        """Where each layer's weight and bias sit in the flat vector ``[P]`` (MLPs only)."""
        if self.kernel_sizes:
            raise ValueError("a CNN's neural graph has no flat MLP layout")
        return mlp_layout(self.layer_sizes)

    @property
    def num_pos_ids(self) -> int:
        """Distinct ``pos_id`` values, ``d0 + dL + 1`` (the last one is shared by hidden)."""
        return self.layer_sizes[0] + self.layer_sizes[-1] + 1

    @property
    def kernel_grid(self) -> tuple[int, int]:
        """Padded kernel size ``(KH, KW)``; ``(1, 1)`` for MLPs."""
        if not self.kernel_sizes:
            return (1, 1)
        return (max(h for h, _ in self.kernel_sizes), max(w for _, w in self.kernel_sizes))

    @property
    def edge_dim(self) -> int:
        """Edge feature size ``D = KH * KW``."""
        kh, kw = self.kernel_grid
        return kh * kw

    @property
    def node_offsets(self) -> tuple[int, ...]:
        """Index of the first node of each layer, plus ``num_nodes`` at the end."""
        offsets = [0]
        for d in self.layer_sizes:
            offsets.append(offsets[-1] + d)
        return tuple(offsets)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"layer_sizes": list(self.layer_sizes),
                "kernel_sizes": [list(k) for k in self.kernel_sizes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuralGraphSpec:
        """Inverse of :meth:`to_dict`."""
        kernels = tuple((int(h), int(w)) for h, w in data.get("kernel_sizes", ()))
        return cls(tuple(data["layer_sizes"]), kernels)

def mlp_params_from_flat(
    flat: Tensor, layer_sizes: Sequence[int]
) -> tuple[list[Tensor], list[Tensor]]:
    """Split flat MLP parameters into weights ``(.., out, in)`` and biases ``(.., out)``.

    ``flat`` is ``(P,)`` or ``(B, P)``; the results are views with the same
    leading batch dimensions (layout: :mod:`zoo.models._layout`).
    """
    if flat.dim() not in (1, 2):
        raise ValueError(f"flat params {tuple(flat.shape)} do not match {list(layer_sizes)}")
    return split_flat(flat, layer_sizes)


def flat_from_mlp_params(weights: Sequence[Tensor], biases: Sequence[Tensor]) -> Tensor:
    """Inverse of :func:`mlp_params_from_flat`: ``(P,)`` or ``(B, P)``."""
    return join_flat(weights, biases)

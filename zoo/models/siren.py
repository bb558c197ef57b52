"""SIREN: a sine-activated MLP used as an implicit neural representation (INR).

Every stored INR population uses the *canonical flat parameter layout* of
:mod:`zoo.models._layout` (for each linear layer in order, the weight ``(out, in)``
row-major, then the bias ``(out,)``; :meth:`SirenConfig.param_slices` says where).
Parameters are stored *raw*: the frequency factors ``w0`` / ``w0_hidden`` are applied in
the forward pass, not folded into the stored weights (the convention of Sitzmann et al.'s
reference code and of the published MNIST INR zoos).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from zoo.models._layout import LayerSlice, join_flat, mlp_layout, mlp_param_count, split_flat

__all__ = [
    "SIREN_VARIANTS",
    "Siren",
    "SirenConfig",
    "flatten_params",
    "grid_axis",
    "init_bounds",
    "init_flat_params",
    "make_coordinates",
    "unflatten_params",
]


#: Initialisation / output conventions a SIREN can follow (see :class:`SirenConfig`).
SIREN_VARIANTS = ("sitzmann", "dwsnet")


@dataclass(frozen=True)
class SirenConfig:
    """Architecture of a SIREN.

    Args:
        in_features: coordinate dimension (default: ``2``, i.e. images).
        hidden_width: width of every hidden layer (default: ``32``).
        depth: number of linear layers, ``depth - 1`` of them sine-activated
            hidden layers (default: ``3``: 2 -> 32 -> 32 -> 1).
        out_features: channels per coordinate (default: ``1``, grey level).
        w0: frequency factor of the first layer (default: ``30.0``).
        w0_hidden: frequency factor of the other sine layers (default: ``30.0``).
        variant: ``"sitzmann"`` (the SIREN paper's init; the default) or ``"dwsnet"``, the
            SIRENs of the DWSNets / NG-GNN MNIST INR zoos: every sine layer, the first
            included, initialised ``U(-sqrt(6/in)/w0, sqrt(6/in)/w0)``, zero sine-layer
            biases, the linear output layer as ``nn.Linear``, and ``+0.5`` added to the
            output (so a zoo fitted here matches the published ones the importer reads).
    """

    in_features: int = 2
    hidden_width: int = 32
    depth: int = 3
    out_features: int = 1
    w0: float = 30.0
    w0_hidden: float = 30.0
    variant: str = "sitzmann"

    def __post_init__(self) -> None:
        for name in ("in_features", "hidden_width", "out_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"SirenConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.depth < 2:
            raise ValueError(f"SirenConfig.depth must be >= 2 linear layers, got {self.depth}")
        if not (self.w0 > 0 and self.w0_hidden > 0):
            raise ValueError(f"SirenConfig.w0 and w0_hidden must be > 0, got {self.w0}, "
                             f"{self.w0_hidden}")
        if self.variant not in SIREN_VARIANTS:
            raise ValueError(f"SirenConfig.variant must be one of {SIREN_VARIANTS}, "
                             f"got {self.variant!r}")

    @property
    def output_offset(self) -> float:
        """Constant added to the output layer (``0.5`` for ``dwsnet``, else ``0``)."""
        return 0.5 if self.variant == "dwsnet" else 0.0

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Neurons per layer ``(in_features, hidden_width, ..., out_features)``."""
        return (self.in_features, *[self.hidden_width] * (self.depth - 1), self.out_features)

    def param_slices(self) -> tuple[LayerSlice, ...]:
        """Where each linear layer's weight and bias sit in the flat vector ``[P]``."""
        return mlp_layout(self.layer_sizes)

    def layer_shapes(self) -> list[tuple[int, int]]:
        """Weight shapes ``[(out, in), ...]`` of the linear layers, in order."""
        return [sl.shape for sl in self.param_slices()]

    @property
    def n_params(self) -> int:
        """Length ``P`` of the flat parameter vector (weights and biases)."""
        return mlp_param_count(self.layer_sizes)

    def layer_w0(self) -> list[float]:
        """Frequency factor applied before each layer's sine (``1.0`` for the linear last layer)."""
        return [self.w0] + [self.w0_hidden] * (self.depth - 2) + [1.0]


def init_bounds(config: SirenConfig) -> list[tuple[float, float]]:
    """Half-widths ``(weight_bound, bias_bound)`` of the uniform SIREN init, per layer.

    Weights (Sitzmann et al. 2020, Sec. 3.2): first layer ``U(-1/in, 1/in)``,
    later layers ``U(-sqrt(6/in)/w0_hidden, sqrt(6/in)/w0_hidden)``. Biases keep
    PyTorch's ``nn.Linear`` default ``U(-1/sqrt(in), 1/sqrt(in))``, as in the
    reference implementation. The ``dwsnet`` variant: sine layers, the first included,
    ``U(-sqrt(6/in)/w0, sqrt(6/in)/w0)`` with zero biases; the output layer ``nn.Linear``'s.
    """
    bounds = []
    shapes = config.layer_shapes()
    if config.variant == "dwsnet":
        for k, (_, fan_in) in enumerate(shapes):
            if k == len(shapes) - 1:
                bounds.append((1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in)))
            else:
                bounds.append((math.sqrt(6.0 / fan_in) / config.layer_w0()[k], 0.0))
        return bounds
    for k, (_, fan_in) in enumerate(shapes):
        w = 1.0 / fan_in if k == 0 else math.sqrt(6.0 / fan_in) / config.w0_hidden
        bounds.append((w, 1.0 / math.sqrt(fan_in)))
    return bounds


def init_flat_params(n: int, config: SirenConfig, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """Draw ``n`` independent SIREN initialisations in the flat layout.

    Every entry is ``(2u - 1) * bound`` with ``u ~ U[0, 1)`` drawn in float32 from
    ``generator`` in flat order (INR by INR) and ``bound`` from :func:`init_bounds`,
    so the result does not depend on ``dtype`` and ``n`` draws from one generator
    equal ``n`` successive single draws.

    Shapes:
        - **output:** ``[n, P]``
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    bound = torch.empty(config.n_params)
    for sl, (wb, bb) in zip(config.param_slices(), init_bounds(config), strict=True):
        bound[sl.weight], bound[sl.bias] = wb, bb
    u = torch.rand(n, config.n_params, generator=generator, dtype=torch.float32)
    return ((2.0 * u - 1.0) * bound).to(dtype)


def flatten_params(weights: Sequence[Tensor], biases: Sequence[Tensor]) -> Tensor:
    """Concatenate per-layer weights and biases into the canonical flat layout
    (:func:`zoo.models._layout.join_flat`).

    Shapes:
        - **weights:** ``[..., out_k, in_k]`` per layer ``k``
        - **biases:** ``[..., out_k]`` per layer ``k`` (same leading dims)
        - **output:** ``[..., P]``, layer by layer: weight row-major, then bias
    """
    return join_flat(weights, biases)


def unflatten_params(flat: Tensor, config: SirenConfig) -> tuple[list[Tensor], list[Tensor]]:
    """Split flat parameter vectors into per-layer weights and biases (views, no copy).

    Shapes:
        - **flat:** ``[..., P]`` with ``P = config.n_params``
        - **output:** weights ``[..., out_k, in_k]`` and biases ``[..., out_k]``
    """
    if flat.shape[-1] != config.n_params:
        raise ValueError(f"flat params have {flat.shape[-1]} entries, {config} needs "
                         f"{config.n_params}")
    return split_flat(flat, config.layer_sizes)


def grid_axis(size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Pixel-centre positions along one image axis: ``size`` points evenly in ``[-1, 1]``.

    A single pixel sits at ``0``. Shapes: **output:** ``[size]``.
    """
    if size < 1:
        raise ValueError(f"axis size must be >= 1, got {size}")
    if size == 1:
        return torch.zeros(1, dtype=dtype)
    return torch.linspace(-1.0, 1.0, size, dtype=dtype)


def make_coordinates(height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Pixel-centre grid in ``[-1, 1]^2`` for a ``height x width`` image.

    Row ``r * width + c`` is ``(y_r, x_c)`` with ``y_r = -1 + 2 r / (height - 1)``
    (``0`` for a single row), so it matches ``image.reshape(-1)`` of a row-major image.

    Shapes:
        - **output:** ``[height * width, 2]``
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    grid = torch.stack(torch.meshgrid(grid_axis(height, dtype), grid_axis(width, dtype),
                                      indexing="ij"), dim=-1)
    return grid.reshape(height * width, 2)


class Siren(nn.Module):
    r"""A single SIREN, from `"Implicit Neural Representations with Periodic
    Activation Functions" <https://arxiv.org/abs/2006.09661>`_ (Sitzmann et al., 2020).

    .. math::
        \mathbf{h}_0 = \mathbf{x}, \qquad
        \mathbf{h}_{k} = \sin\big(\omega_k (\mathbf{W}_k \mathbf{h}_{k-1} + \mathbf{b}_k)\big)
        \ (k < L), \qquad
        f(\mathbf{x}) = \mathbf{W}_L \mathbf{h}_{L-1} + \mathbf{b}_L

    with :math:`\omega_1 = w_0` and :math:`\omega_k = w_{0,\text{hidden}}` otherwise.
    For many INRs at once use :func:`zoo.inr.batched.batched_siren_forward`, which
    implements the same function on stacked flat parameters.

    Args:
        config: the architecture (default: ``SirenConfig()``, 2 -> 32 -> 32 -> 1, ``w0=30``).
        generator: optional RNG for the initialisation.

    Shapes:
        - **input:** coordinates ``[..., in_features]``
        - **output:** ``[..., out_features]``
    """

    def __init__(self, config: SirenConfig | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else SirenConfig()
        self.layers = nn.ModuleList(nn.Linear(i, o) for o, i in self.config.layer_shapes())
        self.reset_parameters(generator)

    @property
    def linears(self) -> list[nn.Linear]:
        """The linear layers, first to last."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Redraw all parameters from the SIREN init (see :func:`init_flat_params`)."""
        dtype = self.linears[0].weight.dtype
        self.load_flat_parameters(init_flat_params(1, self.config, generator, dtype)[0])

    def forward(self, coords: Tensor) -> Tensor:
        """Evaluate the INR at ``coords`` ``[..., in_features]`` -> ``[..., out_features]``."""
        h = coords
        w0s = self.config.layer_w0()
        linears = self.linears
        for k, layer in enumerate(linears):
            h = layer(h)
            if k < len(linears) - 1:
                h = torch.sin(w0s[k] * h)
        return h + self.config.output_offset

    def flat_parameters(self) -> Tensor:
        """The parameters in the canonical flat layout, shape ``[P]`` (detached copy)."""
        with torch.no_grad():
            return flatten_params([m.weight for m in self.linears],
                                  [m.bias for m in self.linears]).clone()

    def load_flat_parameters(self, flat: Tensor) -> None:
        """Copy a flat parameter vector ``[P]`` (canonical layout) into this module."""
        if flat.dim() != 1:
            raise ValueError(f"expected one flat vector [P], got shape {tuple(flat.shape)}")
        weights, biases = unflatten_params(flat, self.config)
        with torch.no_grad():
            for layer, w, b in zip(self.linears, weights, biases, strict=True):
                layer.weight.copy_(w)
                layer.bias.copy_(b)

    @classmethod
    def from_flat(cls, flat: Tensor, config: SirenConfig | None = None) -> Siren:
        """Build a :class:`Siren` holding the flat parameters ``[P]`` (dtype follows ``flat``)."""
        model = cls(config).to(flat.dtype)
        model.load_flat_parameters(flat)
        return model

    def __repr__(self) -> str:
        c = self.config
        return (f"{self.__class__.__name__}(in_features={c.in_features}, "
                f"hidden_width={c.hidden_width}, depth={c.depth}, "
                f"out_features={c.out_features}, w0={c.w0}, w0_hidden={c.w0_hidden})")

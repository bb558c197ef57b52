"""Many SIRENs evaluated as one batched computation.

``B`` INRs with the same :class:`~zoo.models.siren.SirenConfig` are stored as a
``[B, P]`` tensor in the canonical flat layout; one call to
:func:`batched_siren_forward` runs all of them with batched matrix products
(``torch.baddbmm``), so a forward/backward over thousands of INRs is a handful
of kernels instead of a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from zoo.models.siren import (
    SirenConfig,
    init_flat_params,
    unflatten_params,
)

__all__ = [
    "batched_siren_forward",
    "init_batched_params",
    "inr_generator",
    "seeded_init_params",
    "siren_neuron_values",
]


def batched_siren_forward(flat_params: Tensor, coords: Tensor, config: SirenConfig) -> Tensor:
    r"""Evaluate ``B`` SIRENs given as stacked flat parameters.

    Computes, for every INR ``b``, the same function as
    :class:`~zoo.models.siren.Siren` loaded with ``flat_params[b]``:
    :math:`h_k = \sin(\omega_k (h_{k-1} W_k^\top + b_k))` for hidden layers, linear
    output. The factors :math:`\omega_k` are folded into the (small) weights before
    the matrix products, which saves one elementwise pass per layer.

    Args:
        flat_params: parameters in the canonical flat layout.
        coords: shared coordinates for all INRs, or one coordinate set per INR.
        config: the common architecture.

    Shapes:
        - **flat_params:** ``[B, P]``
        - **coords:** ``[N, in_features]`` or ``[B, N, in_features]``
        - **output:** ``[B, N, out_features]``
    """
    if flat_params.dim() != 2:
        raise ValueError(f"flat_params must be [B, P], got shape {tuple(flat_params.shape)}")
    n_inr = flat_params.shape[0]
    if coords.dim() == 2:
        coords = coords.unsqueeze(0).expand(n_inr, -1, -1)
    if coords.dim() != 3 or coords.shape[0] != n_inr or coords.shape[2] != config.in_features:
        raise ValueError(f"coords must be [N, {config.in_features}] or "
                         f"[{n_inr}, N, {config.in_features}], got {tuple(coords.shape)}")
    return _layer_values(flat_params, coords, config)[-1]


def _layer_values(flat_params: Tensor, coords: Tensor, config: SirenConfig) -> list[Tensor]:
    """Inputs ``[B, N, in]`` and every layer's output ``[B, N, width]``, in order."""
    weights, biases = unflatten_params(flat_params, config)
    w0s = config.layer_w0()
    values = [coords]
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = values[-1]
        if k < last:
            values.append(torch.sin(torch.baddbmm((w0s[k] * b).unsqueeze(1), h,
                                                  (w0s[k] * w).transpose(1, 2))))
        else:
            out = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            values.append(out + config.output_offset if config.output_offset else out)
    return values


def siren_neuron_values(flat_params: Tensor, points: Tensor, config: SirenConfig) -> Tensor:
    """The value of every neuron of ``B`` SIRENs at ``K`` input points ("probe features").

    Neurons come in neural-graph node order (inputs, then each layer; see
    :mod:`zoo.graphs.neural_graph`): input neurons hold the points' coordinates, hidden
    neurons their sine outputs, output neurons the INR's value. Relabelling hidden
    neurons relabels these rows the same way, so graph networks stay invariant.

    Shapes:
        - **flat_params:** ``[B, P]``
        - **points:** ``[K, in_features]``
        - **output:** ``[B, num_neurons, K]``
    """
    if points.dim() != 2 or points.shape[1] != config.in_features:
        raise ValueError(f"points must be [K, {config.in_features}], got {tuple(points.shape)}")
    coords = points.to(flat_params.dtype).unsqueeze(0).expand(flat_params.shape[0], -1, -1)
    return torch.cat(_layer_values(flat_params, coords, config), dim=2).transpose(1, 2)


def init_batched_params(n: int, config: SirenConfig, generator: torch.Generator | None = None,
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """Draw ``n`` SIREN initialisations ``[n, P]`` from one generator.

    Identical in distribution to :class:`~zoo.models.siren.Siren` (and to
    ``Siren(config, generator)`` for ``n == 1`` and the same generator state).
    For inits that must not depend on chunking use :func:`seeded_init_params`.
    """
    return init_flat_params(n, config, generator, dtype)


def inr_generator(seed: int, index: int) -> torch.Generator:
    """A torch generator determined only by ``(seed, index)`` (NumPy ``SeedSequence`` mixing)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def seeded_init_params(seed: int, indices: Sequence[int] | range, config: SirenConfig,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """Initial parameters ``[len(indices), P]``; row ``j`` depends only on ``(seed, indices[j])``.

    INR ``i`` of a population therefore starts from the same point whichever
    chunk it is fitted in, which makes chunked and resumed fits reproducible.
    """
    rows = [init_flat_params(1, config, inr_generator(seed, int(i)), dtype) for i in indices]
    if not rows:
        return torch.empty(0, config.n_params, dtype=dtype)
    return torch.cat(rows)

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

from zoo.inr.native import grid_compose, mul_grid_sums, outer_scale_, sincos_
from zoo.models.siren import (
    SirenConfig,
    grid_axis,
    init_flat_params,
    unflatten_params,
)

__all__ = [
    "batched_siren_forward",
    "grid_siren_forward",
    "grid_siren_mse_and_grad",
    "init_batched_params",
    "inr_generator",
    "seeded_init_params",
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
    weights, biases = unflatten_params(flat_params, config)
    w0s = config.layer_w0()
    h = coords
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if k < last:
            h = torch.sin(torch.baddbmm((w0s[k] * b).unsqueeze(1), h,
                                        (w0s[k] * w).transpose(1, 2)))
        else:
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
    return h


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


# --- Grid-specialised path -------------------------------------------------------------------
# On the pixel grid of :func:`make_coordinates` the first layer separates:
# z = A_r + C_c with A_r = w0 (W[:, 0] y_r + b) and C_c = w0 W[:, 1] x_c, so
# sin z = sin A cos C + cos A sin C and cos z = cos A cos C - sin A sin C need sines of
# [B, H, J] and [B, W, J] only, plus broadcast products. Later layers are one bmm each
# ([B, N, C] layout, as nn.Linear). The backward pass is written out by hand (no autograd
# graph). INRs are processed in micro-batches whose activations stay in cache, written into
# buffers reused across micro-batches (fewer page faults than fresh allocations).


class _Buffers:
    """Activation buffers for micro-batches of up to ``size`` INRs, reused across them."""

    def __init__(self, size: int, n_pix: int, config: SirenConfig, dtype: torch.dtype) -> None:
        n_sine = config.depth - 1
        shape = (size, n_pix, config.hidden_width)
        self.sines = [torch.empty(shape, dtype=dtype) for _ in range(n_sine)]
        self.cosines = [torch.empty(shape, dtype=dtype) for _ in range(n_sine)]
        self.scratch = torch.empty(shape, dtype=dtype)
        self.out = torch.empty(size, n_pix, config.out_features, dtype=dtype)


def _check_grid(flat: Tensor, config: SirenConfig) -> None:
    if config.in_features != 2:
        raise ValueError(f"the pixel-grid path needs in_features=2, got {config.in_features}")
    if flat.dim() != 2:
        raise ValueError(f"flat_params must be [B, P], got shape {tuple(flat.shape)}")


def _grid_forward(flat: Tensor, height: int, width: int, config: SirenConfig, buf: _Buffers,
                  keep: bool) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Forward of ``m <= buf size`` INRs: output [m, N, O], sine outputs, their cosines."""
    m, n_pix = flat.shape[0], height * width
    weights, biases = unflatten_params(flat, config)
    w0s = config.layer_w0()
    ys, xs = grid_axis(height, flat.dtype), grid_axis(width, flat.dtype)
    w1 = w0s[0] * weights[0]  # [m, J, 2]
    a = torch.addcmul((w0s[0] * biases[0]).unsqueeze(1), ys.view(1, -1, 1), w1[:, None, :, 0])
    c = xs.view(1, -1, 1) * w1[:, None, :, 1]  # a: [m, H, J], c: [m, W, J]
    sines = [s[:m] for s in buf.sines]
    cosines = [s[:m] for s in buf.cosines]
    sin_a, cos_a = torch.empty_like(a), torch.empty_like(a)
    sin_c, cos_c = torch.empty_like(c), torch.empty_like(c)
    sincos_(cos_a.copy_(a), sin_a)
    sincos_(cos_c.copy_(c), sin_c)
    grid_compose(sin_a, cos_a, sin_c, cos_c, sines[0], cosines[0] if keep else None)
    for k in range(1, len(weights) - 1):
        z = cosines[k]
        torch.baddbmm((w0s[k] * biases[k]).unsqueeze(1).expand(m, n_pix, -1), sines[k - 1],
                      (w0s[k] * weights[k]).transpose(1, 2), out=z)
        if keep:
            sincos_(z, sines[k])
        else:
            torch.sin(z, out=sines[k])
    out = buf.out[:m]
    torch.baddbmm(biases[-1].unsqueeze(1).expand(m, n_pix, -1), sines[-1],
                  weights[-1].transpose(1, 2), out=out)
    return out, sines, cosines


def grid_siren_forward(flat_params: Tensor, height: int, width: int, config: SirenConfig,
                       micro_batch: int = 16) -> Tensor:
    """Evaluate ``B`` SIRENs on the ``height x width`` grid of :func:`make_coordinates`.

    Same values as ``batched_siren_forward(flat_params, make_coordinates(height, width),
    config)`` (up to rounding), computed with the separable first layer; no autograd.

    Shapes:
        - **flat_params:** ``[B, P]``
        - **output:** ``[B, height * width, out_features]``
    """
    _check_grid(flat_params, config)
    flat = flat_params.detach()
    buf = _Buffers(min(micro_batch, flat.shape[0]), height * width, config, flat.dtype)
    parts = [_grid_forward(flat[i:i + micro_batch], height, width, config, buf, False)[0].clone()
             for i in range(0, flat.shape[0], micro_batch)]
    if not parts:
        return flat.new_empty(0, height * width, config.out_features)
    return torch.cat(parts)


def grid_siren_mse_and_grad(flat_params: Tensor, targets: Tensor, height: int, width: int,
                            config: SirenConfig, micro_batch: int = 16) -> tuple[Tensor, Tensor]:
    """Per-INR mean squared error on the pixel grid and its gradient, by a hand-written backward.

    ``grad[b]`` is the gradient of ``mse[b]`` with respect to ``flat_params[b]`` (equivalently,
    of ``mse.sum()``): each INR's gradient is independent of the others and of ``B``.
    ``micro_batch`` INRs are computed at a time (a cache-size knob; results do not depend on it).

    Shapes:
        - **flat_params:** ``[B, P]``
        - **targets:** ``[B, height * width, out_features]`` (row-major pixels)
        - **output:** ``mse`` ``[B]``, ``grad`` ``[B, P]``
    """
    _check_grid(flat_params, config)
    n_inr, n_pix = flat_params.shape[0], height * width
    if targets.shape != (n_inr, n_pix, config.out_features):
        raise ValueError(f"targets must be [{n_inr}, {n_pix}, {config.out_features}], "
                         f"got {tuple(targets.shape)}")
    flat = flat_params.detach()
    buf = _Buffers(min(micro_batch, n_inr), n_pix, config, flat.dtype)
    mse = flat.new_empty(n_inr)
    grad = torch.empty_like(flat)
    for lo in range(0, n_inr, micro_batch):
        hi = min(lo + micro_batch, n_inr)
        mse[lo:hi] = _mse_and_grad(flat[lo:hi], targets[lo:hi], height, width, config, buf,
                                   grad[lo:hi])
    return mse, grad


def _mse_and_grad(flat: Tensor, targets: Tensor, height: int, width: int, config: SirenConfig,
                  buf: _Buffers, grad: Tensor) -> Tensor:
    """One micro-batch: returns the MSE [m] and writes the gradient into ``grad`` [m, P]."""
    m, n_pix = flat.shape[0], height * width
    weights, _ = unflatten_params(flat, config)
    grad_w, grad_b = unflatten_params(grad, config)
    w0s = config.layer_w0()
    out, sines, cosines = _grid_forward(flat, height, width, config, buf, keep=True)
    resid = out.sub_(targets)
    mse = resid.square().mean(dim=(1, 2))
    g = resid.mul_(2.0 / (n_pix * config.out_features))  # d mse / d out, [m, N, O]
    grad_w[-1].copy_(torch.bmm(g.transpose(1, 2), sines[-1]))
    grad_b[-1].copy_(g.sum(dim=1))
    if config.out_features == 1:  # outer product: cheaper as a broadcast multiply
        gh = outer_scale_(cosines[-1], g.view(m, n_pix), weights[-1].view(m, -1))
    else:
        gh = cosines[-1].mul_(torch.bmm(g, weights[-1], out=buf.scratch[:m]))
    back = None  # d mse / d (first sine layer's output) once a hidden layer follows it
    for k in range(len(weights) - 2, 0, -1):  # gh: d mse / d (pre-sine of layer k) / w0
        grad_w[k].copy_(torch.bmm(gh.transpose(1, 2), sines[k - 1]).mul_(w0s[k]))
        grad_b[k].copy_(gh.sum(dim=1).mul_(w0s[k]))
        back = torch.bmm(gh, w0s[k] * weights[k], out=buf.scratch[:m])
        if k > 1:
            gh = cosines[k - 1].mul_(back)
    # First layer: z = w0 (W[:, 0] y_r + W[:, 1] x_c + b) and gh = cos z * back; its gradient
    # needs only the sums of gh over columns (rows) and over rows (cols).
    if back is None:  # depth 2: gh already holds the cosine factor
        grid = gh.view(m, height, width, -1)
        rows, cols = grid.sum(dim=2), grid.sum(dim=1)
    else:
        rows, cols = mul_grid_sums(cosines[0], back, height, width)
    ys, xs = grid_axis(height, flat.dtype), grid_axis(width, flat.dtype)
    grad_w[0][..., 0].copy_(torch.einsum("bhj,h->bj", rows, ys).mul_(w0s[0]))
    grad_w[0][..., 1].copy_(torch.einsum("bwj,w->bj", cols, xs).mul_(w0s[0]))
    grad_b[0].copy_(rows.sum(dim=1).mul_(w0s[0]))
    return mse

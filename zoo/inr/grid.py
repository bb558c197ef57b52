r"""Many SIRENs on a pixel grid: forward, mean squared error and its gradient, by hand.

This is the hot path of :func:`zoo.inr.fit.fit_batch`. On the grid of
:func:`~zoo.models.siren.make_coordinates` the first layer separates:
:math:`z_{hw} = A_h + C_w` with :math:`A_h = \omega_0 (W_{:,0}\, y_h + b)` and
:math:`C_w = \omega_0 W_{:,1}\, x_w`, so :math:`\sin z` and :math:`\cos z` need sines of
``[B, H, J]`` and ``[B, W, J]`` only, plus broadcast products
(:func:`~zoo.native.siren.grid_compose`). Hidden layers are one batched matrix product
each (``[B, N, J]`` layout, as ``nn.Linear``); the output layer, the loss and the start
of the backward pass are one fused pass (:func:`~zoo.native.siren.output_layer_backward_`).
The backward pass is written out (no autograd graph) with
:math:`\delta_k = \omega_k\, \partial \mathrm{mse} / \partial z_k`, so that
:math:`\nabla W_k = \delta_k^\top h_{k-1}`, :math:`\nabla b_k = \sum_n \delta_k` and
:math:`\partial \mathrm{mse} / \partial h_{k-1} = \delta_k W_k`.

INRs are processed in micro-batches whose activations stay in cache, written into buffers
reused across micro-batches; everything that is per INR rather than per pixel (scaled
weights, first-layer sines, first-layer gradients) is computed once for all ``B``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from zoo.models.siren import SirenConfig, grid_axis, unflatten_params
from zoo.native.siren import grid_compose, mul_grid_sums, output_layer_backward_, sincos_

__all__ = ["grid_siren_forward", "grid_siren_mse_and_grad"]


class _Buffers:
    """Activation buffers for micro-batches of up to ``size`` INRs, reused across them."""

    def __init__(self, size: int, n_pix: int, config: SirenConfig, dtype: torch.dtype) -> None:
        n_sine = config.depth - 1
        shape = (size, n_pix, config.hidden_width)
        self.sines = [torch.empty(shape, dtype=dtype) for _ in range(n_sine)]
        self.cosines = [torch.empty(shape, dtype=dtype) for _ in range(n_sine)]
        self.scratch = torch.empty(shape, dtype=dtype)


@dataclass(frozen=True)
class _GridParams:
    """What the micro-batches of ``B`` INRs need, computed once per call.

    ``sin_a``/``cos_a`` ``[B, H, J]`` and ``sin_c``/``cos_c`` ``[B, W, J]``: the separable
    first layer. ``hidden_wt[i]`` ``[B, J_in, J_out]`` and ``hidden_b[i]`` ``[B, 1, J_out]``:
    hidden layer ``i + 1`` with its factor w0 folded in; ``hidden_w[i]`` ``[B, J_out, J_in]``:
    its unscaled weights, contiguous. ``out_w`` ``[B, O, J]`` and ``out_b`` ``[B, O]``:
    the output layer, contiguous.
    """

    sin_a: Tensor
    cos_a: Tensor
    sin_c: Tensor
    cos_c: Tensor
    hidden_wt: list[Tensor]
    hidden_b: list[Tensor]
    hidden_w: list[Tensor]
    out_w: Tensor
    out_b: Tensor


def _check_grid(flat: Tensor, config: SirenConfig) -> None:
    if config.in_features != 2:
        raise ValueError(f"the pixel-grid path needs in_features=2, got {config.in_features}")
    if flat.dim() != 2:
        raise ValueError(f"flat_params must be [B, P], got shape {tuple(flat.shape)}")


def _prepare(flat: Tensor, height: int, width: int, config: SirenConfig) -> _GridParams:
    weights, biases = unflatten_params(flat, config)
    w0s = config.layer_w0()
    ys, xs = grid_axis(height, flat.dtype), grid_axis(width, flat.dtype)
    w1 = w0s[0] * weights[0]  # [B, J, 2]
    cos_a = torch.addcmul((w0s[0] * biases[0]).unsqueeze(1), ys.view(1, -1, 1),
                          w1[:, None, :, 0])  # A: [B, H, J]
    cos_c = xs.view(1, -1, 1) * w1[:, None, :, 1]  # C: [B, W, J]
    sin_a, sin_c = torch.empty_like(cos_a), torch.empty_like(cos_c)
    sincos_(cos_a, sin_a)
    sincos_(cos_c, sin_c)
    last = len(weights) - 1
    return _GridParams(
        sin_a, cos_a, sin_c, cos_c,
        hidden_wt=[(w0s[k] * weights[k]).transpose(1, 2) for k in range(1, last)],
        hidden_b=[(w0s[k] * biases[k]).unsqueeze(1) for k in range(1, last)],
        hidden_w=[weights[k].contiguous() for k in range(1, last)],
        out_w=weights[last].contiguous(), out_b=biases[last].contiguous())


def _forward_sines(p: _GridParams, lo: int, hi: int, buf: _Buffers,
                   keep: bool) -> tuple[list[Tensor], list[Tensor]]:
    """Sine-layer outputs of INRs ``lo:hi`` ([m, N, J] each) and, if ``keep``, their cosines."""
    m = hi - lo
    sines = [s[:m] for s in buf.sines]
    cosines = [c[:m] for c in buf.cosines]
    grid_compose(p.sin_a[lo:hi], p.cos_a[lo:hi], p.sin_c[lo:hi], p.cos_c[lo:hi], sines[0],
                 cosines[0] if keep else None)
    for k in range(1, len(sines)):
        z = cosines[k]
        torch.baddbmm(p.hidden_b[k - 1][lo:hi].expand_as(z), sines[k - 1],
                      p.hidden_wt[k - 1][lo:hi], out=z)
        if keep:
            sincos_(z, sines[k])
        else:
            torch.sin(z, out=sines[k])
    return sines, cosines


def grid_siren_forward(flat_params: Tensor, height: int, width: int, config: SirenConfig,
                       micro_batch: int = 16) -> Tensor:
    """Evaluate ``B`` SIRENs on the ``height x width`` grid of ``make_coordinates``.

    Same values as ``batched_siren_forward(flat_params, make_coordinates(height, width),
    config)`` (up to rounding), computed with the separable first layer; no autograd.

    Shapes:
        - **flat_params:** ``[B, P]``
        - **output:** ``[B, height * width, out_features]``
    """
    _check_grid(flat_params, config)
    flat = flat_params.detach()
    n_inr, n_pix = flat.shape[0], height * width
    out = flat.new_empty(n_inr, n_pix, config.out_features)
    if n_inr == 0:
        return out
    p = _prepare(flat, height, width, config)
    buf = _Buffers(min(micro_batch, n_inr), n_pix, config, flat.dtype)
    for lo in range(0, n_inr, micro_batch):
        hi = min(lo + micro_batch, n_inr)
        sines, _ = _forward_sines(p, lo, hi, buf, keep=False)
        torch.baddbmm(p.out_b[lo:hi].unsqueeze(1), sines[-1], p.out_w[lo:hi].transpose(1, 2),
                      out=out[lo:hi])
    return out


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
    mse = flat.new_empty(n_inr)
    grad = torch.zeros_like(flat)
    if n_inr == 0:
        return mse, grad
    p = _prepare(flat, height, width, config)
    buf = _Buffers(min(micro_batch, n_inr), n_pix, config, flat.dtype)
    rows = flat.new_empty(n_inr, height, config.hidden_width)
    cols = flat.new_empty(n_inr, width, config.hidden_width)
    targets = targets.to(flat.dtype).contiguous()
    for lo in range(0, n_inr, micro_batch):
        hi = min(lo + micro_batch, n_inr)
        mse[lo:hi] = _backward_to_first_layer(p, targets[lo:hi], lo, hi, config, buf,
                                              grad[lo:hi], rows[lo:hi], cols[lo:hi])
    # First layer: delta_0 = w0 cos(z) (d mse / d h_0) and z = A_h + C_w; its gradient needs
    # only the sums of delta_0 over columns (rows) and over rows (cols).
    w0 = config.layer_w0()[0]
    ys, xs = grid_axis(height, flat.dtype), grid_axis(width, flat.dtype)
    grad_w, grad_b = unflatten_params(grad, config)
    grad_w[0][..., 0] = torch.einsum("bhj,h->bj", rows, ys).mul_(w0)
    grad_w[0][..., 1] = torch.einsum("bwj,w->bj", cols, xs).mul_(w0)
    grad_b[0].copy_(rows.sum(dim=1).mul_(w0))
    return mse, grad


def _backward_to_first_layer(p: _GridParams, targets: Tensor, lo: int, hi: int,
                             config: SirenConfig, buf: _Buffers, grad: Tensor, rows: Tensor,
                             cols: Tensor) -> Tensor:
    """INRs ``lo:hi``: returns their MSE ``[m]``, writes the gradients of layers ``1..`` into
    ``grad`` ``[m, P]`` and, for the first layer, the row and column sums of
    ``cos z_0 * d mse / d h_0`` into ``rows`` ``[m, H, J]`` and ``cols`` ``[m, W, J]``."""
    m, height, width = hi - lo, rows.shape[1], cols.shape[1]
    grad_w, grad_b = unflatten_params(grad, config)
    w0s = config.layer_w0()
    sines, cosines = _forward_sines(p, lo, hi, buf, keep=True)
    last = len(sines)  # index of the output layer
    mse, out_grad_w, out_grad_b, delta_sum = output_layer_backward_(
        sines[-1], cosines[-1], p.out_w[lo:hi], p.out_b[lo:hi], targets, w0s[last - 1])
    grad_w[last].copy_(out_grad_w)
    grad_b[last].copy_(out_grad_b)
    if last == 1:  # depth 2: delta is already that of the first layer (times its w0)
        grid = cosines[0].view(m, height, width, -1)
        torch.sum(grid, dim=2, out=rows).div_(w0s[0])
        torch.sum(grid, dim=1, out=cols).div_(w0s[0])
        return mse
    delta = cosines[-1]
    for k in range(last - 1, 0, -1):  # delta: w0_k d mse / d z_k of sine layer k
        grad_w[k].copy_(torch.bmm(delta.transpose(1, 2), sines[k - 1]))
        grad_b[k].copy_(delta_sum if k == last - 1 else delta.sum(dim=1))
        back = torch.bmm(delta, p.hidden_w[k - 1][lo:hi], out=buf.scratch[:m])  # d mse / d h_{k-1}
        if k > 1:
            delta = cosines[k - 1].mul_(back).mul_(w0s[k - 1])
    mul_grid_sums(cosines[0], back, rows, cols)
    return mse

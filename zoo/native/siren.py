"""SIREN-fitting kernels (``siren.c``) with torch fallbacks; see :mod:`zoo.native`.

``torch.sin`` and ``torch.cos`` on the ``[m, N, J]`` hidden activations took a third
of a batched fitting step on the CPU (two passes at ~1.3 ns per element each).
:func:`sincos_` computes both in one vectorised pass (~0.4 ns per element for the pair);
the other kernels fuse the elementwise work around the matrix products of
:mod:`zoo.inr.grid`. Each function computes the same values with torch operators when the
kernels are unavailable (to float32 rounding: the kernels' error is ~1e-7 absolute, tested
against a float64 reference).
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.native import kernel_library, plain_float32, pointer

__all__ = ["grid_compose", "mul_grid_sums", "output_layer_backward_", "sincos_"]

def sincos_(z: Tensor, sin_out: Tensor) -> Tensor:
    """Write ``sin(z)`` into ``sin_out`` and replace ``z`` by ``cos(z)``, in one pass.

    ``z`` and ``sin_out`` must have the same shape and must not overlap. Returns ``z``.

    Shapes:
        - **z**, **sin_out:** any, equal
    """
    if z.shape != sin_out.shape:
        raise ValueError(f"shapes differ: {tuple(z.shape)} and {tuple(sin_out.shape)}")
    lib = kernel_library()
    if lib is not None and plain_float32(z, sin_out):
        lib.zoo_sincos(z.data_ptr(), sin_out.data_ptr(), z.data_ptr(), z.numel())
        return z
    torch.sin(z, out=sin_out)
    return z.cos_()


def grid_compose(sin_a: Tensor, cos_a: Tensor, sin_c: Tensor, cos_c: Tensor, sin_out: Tensor,
                 cos_out: Tensor | None = None) -> None:
    r"""Sines (and cosines) of ``A[b, h] + C[b, w]`` on a grid, from those of ``A`` and ``C``.

    :math:`\sin(A + C) = \sin A \cos C + \cos A \sin C` and
    :math:`\cos(A + C) = \cos A \cos C - \sin A \sin C`, broadcast over rows ``h`` and
    columns ``w``: a separable first SIREN layer costs sines of ``H + W`` rows, not ``H W``.

    Shapes:
        - **sin_a**, **cos_a:** ``[m, H, J]``
        - **sin_c**, **cos_c:** ``[m, W, J]``
        - **sin_out**, **cos_out:** ``[m, H * W, J]`` (row-major pixels), written
    """
    m, height, neurons = sin_a.shape
    width = sin_c.shape[1]
    if sin_out.shape != (m, height * width, neurons) or (
            cos_out is not None and cos_out.shape != sin_out.shape):
        raise ValueError(f"outputs must be [{m}, {height * width}, {neurons}]")
    lib = kernel_library()
    outs = [sin_out] if cos_out is None else [sin_out, cos_out]
    if lib is not None and plain_float32(sin_a, cos_a, sin_c, cos_c, *outs):
        lib.zoo_grid_compose(sin_a.data_ptr(), cos_a.data_ptr(), sin_c.data_ptr(),
                             cos_c.data_ptr(), sin_out.data_ptr(), pointer(cos_out),
                             m, height, width, neurons)
        return
    grid = (m, height, width, neurons)
    sa, ca = sin_a.unsqueeze(2), cos_a.unsqueeze(2)
    sc, cc = sin_c.unsqueeze(1), cos_c.unsqueeze(1)
    torch.mul(sa, cc, out=sin_out.view(grid)).addcmul_(ca, sc)
    if cos_out is not None:
        torch.mul(ca, cc, out=cos_out.view(grid)).addcmul_(sa, sc, value=-1.0)


def mul_grid_sums(x: Tensor, u: Tensor, rows: Tensor, cols: Tensor) -> None:
    """Row and column sums of the elementwise product ``x * u`` over a pixel grid.

    Writes ``rows[b, h] = sum_w (x * u)[b, h, w]`` and ``cols[b, w] = sum_h (x * u)[b, h, w]``
    without storing the product (one pass instead of three).

    Shapes:
        - **x**, **u:** ``[m, H * W, J]`` (row-major pixels)
        - **rows:** ``[m, H, J]``, **cols:** ``[m, W, J]``, overwritten
    """
    m, height, neurons = rows.shape
    width = cols.shape[1]
    shape = (m, height * width, neurons)
    if x.shape != shape or u.shape != shape or cols.shape != (m, width, neurons):
        raise ValueError(f"x and u must both be {list(shape)} for rows {list(rows.shape)} and "
                         f"cols {list(cols.shape)}, got {list(x.shape)} and {list(u.shape)}")
    lib = kernel_library()
    if lib is not None and plain_float32(x, u, rows, cols):
        lib.zoo_mul_grid_sums(x.data_ptr(), u.data_ptr(), rows.data_ptr(), cols.data_ptr(),
                              m, height, width, neurons)
        return
    grid = (x * u).view(m, height, width, neurons)
    torch.sum(grid, dim=2, out=rows)
    torch.sum(grid, dim=1, out=cols)


def output_layer_backward_(sines: Tensor, cosines: Tensor, weight: Tensor, bias: Tensor,
                           targets: Tensor, scale: float
                           ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Linear output layer, mean squared error and the backward pass down to the last sines.

    With :math:`y = s W^\top + b` per INR, residual :math:`r = y - t` and
    :math:`\mathrm{mse} = \operatorname{mean}(r^2)`, computes the MSE, the gradients of
    ``W`` and ``b``, and overwrites ``cosines`` (which hold :math:`\cos z` of the last sine
    layer, :math:`s = \sin z`) with :math:`\delta = \omega\, \partial \mathrm{mse} /
    \partial z` for ``scale`` :math:`= \omega`, that layer's factor (so the gradient of its
    weights is :math:`\delta^\top h` and of its bias :math:`\sum_n \delta`, also returned).
    One pass over the activations instead of about eight.

    Shapes:
        - **sines**, **cosines:** ``[m, N, J]``
        - **weight:** ``[m, O, J]``, **bias:** ``[m, O]``, **targets:** ``[m, N, O]``
        - **output:** ``mse`` ``[m]``, ``grad_weight`` ``[m, O, J]``, ``grad_bias`` ``[m, O]``,
          ``delta_sum`` ``[m, J]`` (the last sine layer's bias gradient)
    """
    m, n, neurons = sines.shape
    n_out = weight.shape[1]
    if (cosines.shape != sines.shape or weight.shape != (m, n_out, neurons)
            or bias.shape != (m, n_out) or targets.shape != (m, n, n_out)):
        raise ValueError(f"output_layer_backward_: inconsistent shapes {list(sines.shape)}, "
                         f"{list(cosines.shape)}, {list(weight.shape)}, {list(bias.shape)}, "
                         f"{list(targets.shape)}")
    mse = sines.new_empty(m)
    grad_weight = sines.new_empty(m, n_out, neurons)
    grad_bias = sines.new_empty(m, n_out)
    delta_sum = sines.new_empty(m, neurons)
    lib = kernel_library()
    if lib is not None and n_out <= 16 and plain_float32(sines, cosines, weight, bias, targets):
        lib.zoo_output_layer_backward(
            sines.data_ptr(), cosines.data_ptr(), weight.data_ptr(), bias.data_ptr(),
            targets.data_ptr(), scale, mse.data_ptr(), grad_weight.data_ptr(),
            grad_bias.data_ptr(), delta_sum.data_ptr(), m, n, neurons, n_out)
        return mse, grad_weight, grad_bias, delta_sum
    resid = torch.baddbmm(bias.unsqueeze(1), sines, weight.transpose(1, 2)).sub_(targets)
    torch.mean(resid.square(), dim=(1, 2), out=mse)
    g = resid.mul_(2.0 / (n * n_out))
    torch.bmm(g.transpose(1, 2), sines, out=grad_weight)
    torch.sum(g, dim=1, out=grad_bias)
    if n_out == 1:  # an outer product: cheaper as a broadcast multiply
        cosines.mul_(g).mul_(weight.mul(scale))
    else:
        cosines.mul_(torch.bmm(g, weight.mul(scale)))
    torch.sum(cosines, dim=1, out=delta_sum)
    return mse, grad_weight, grad_bias, delta_sum

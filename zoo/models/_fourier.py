"""Random Fourier features of scalar inputs, used by :mod:`zoo.models.gmn`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.native.siren import sincos_

__all__ = ["GaussianFourierEmbedding", "ScalarSinEmbedding"]


class GaussianFourierEmbedding(nn.Module):
    r"""Random Fourier features (Tancik et al. 2020), as NG-GNN embeds every weight and bias.

    .. math::
        \gamma(\mathbf{v}) = [\cos(2\pi \mathbf{B} \mathbf{v}), \sin(2\pi \mathbf{B} \mathbf{v})],
        \qquad \mathbf{B}_{kd} \sim \mathcal{N}(0, \sigma^2)

    ``B`` is drawn once from torch's global generator when the module is built (so under
    the model's initialisation seed) and kept as a buffer: it is saved with the checkpoint
    and a loaded model uses the same frequencies. Applied to each row independently, so it
    commutes with any permutation of the rows (neurons or edges).

    Args:
        in_features: size :math:`D` of each input row.
        num_freqs: number :math:`K` of random frequencies.
        sigma: standard deviation :math:`\sigma` of the frequencies.

    Shapes:
        - **input:** :math:`(N, D)`
        - **output:** :math:`(N, 2K)`
    """

    freqs: Tensor

    def __init__(self, in_features: int, num_freqs: int, sigma: float) -> None:
        super().__init__()
        if in_features < 1 or num_freqs < 1 or not sigma > 0:
            raise ValueError("in_features, num_freqs and sigma must be positive")
        self.out_features = 2 * num_freqs
        self.register_buffer("freqs", torch.randn(num_freqs, in_features) * sigma)

    def forward(self, x: Tensor) -> Tensor:
        """Embed every row of ``x``."""
        angles = self._angles(x)
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)

    def linear(self, x: Tensor, layer: nn.Linear) -> Tensor:
        """``layer(self(x))`` without building the ``(N, 2K)`` embedding: both halves come
        from one sin+cos pass (:func:`zoo.native.siren.sincos_`) and meet ``layer``'s
        weight in two products. For the GMN's ~36,000 edges per 16 graphs this is several
        times faster than the plain composition (which is kept as the reference).

        Gradients reach ``layer`` only, not ``x`` (the GMN embeds data); an ``x`` that
        requires a gradient takes the plain composition.

        Shapes: ``(N, D) -> (N, layer.out_features)``.
        """
        k = self.freqs.shape[0]
        if layer.in_features != 2 * k:
            raise ValueError(f"layer takes {layer.in_features} features, not 2 x {k}")
        if x.requires_grad:
            out: Tensor = layer(self(x))
            return out
        with torch.no_grad():
            cos = self._angles(x).contiguous()
            sin = torch.empty_like(cos)
            sincos_(cos, sin)
        out = torch.nn.functional.linear(cos, layer.weight[:, :k], layer.bias)
        return torch.addmm(out, sin, layer.weight[:, k:].t())

    def _angles(self, x: Tensor) -> Tensor:
        """``2 pi x B^T`` ``(N, K)``; a few broadcast products for narrow ``x`` (a matrix
        product with an inner size of 1-3 is slow on CPU BLAS)."""
        freqs = self.freqs.to(x.dtype) * (2 * math.pi)
        if x.shape[-1] > 4:
            return x @ freqs.t()
        angles = x[..., :1] * freqs[:, 0]
        for d in range(1, x.shape[-1]):
            angles = torch.addcmul(angles, x[..., d : d + 1], freqs[:, d])
        return angles

    def extra_repr(self) -> str:
        """Sizes of the embedding."""
        return f"in_features={self.freqs.shape[1]}, num_freqs={self.freqs.shape[0]}"


class ScalarSinEmbedding(nn.Module):
    r"""Fixed sinusoidal features of scalar weights and biases.

    .. math::
        \gamma(v) = [v, \sin(\omega_0 v), \cos(\omega_0 v), \dots,
            \sin(\omega_{K-1} v), \cos(\omega_{K-1} v)], \qquad
        \omega_k = \omega_{max}^{k / (K - 1)}

    A single linear map of a raw scalar gives the network little to separate
    nearby values with; NG-GNN embeds every weight this way.

    Shapes:
        - **input:** :math:`(N, D)`
        - **output:** :math:`(N, D (1 + 2K))`
    """

    freqs: Tensor

    def __init__(self, num_freqs: int, max_freq: float = 128.0) -> None:
        super().__init__()
        self.factor = 1 + 2 * num_freqs
        exponents = torch.arange(num_freqs, dtype=torch.float64) / max(num_freqs - 1, 1)
        self.register_buffer("freqs", (max_freq ** exponents).to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """Embed every column of ``x`` (identity when there are no frequencies)."""
        if self.factor == 1:
            return x
        angles = (x.unsqueeze(-1) * self.freqs.to(x.dtype)).flatten(1)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)

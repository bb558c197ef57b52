"""CKA with Gaussian (RBF) kernels.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414 (Section 4, "Kernel selection").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    Estimator,
    as_samples,
    center_gram,
    check_estimator,
    check_paired,
    squared_distances,
    u_center_gram,
)

__all__ = ["rbf_cka", "rbf_gram"]

#: Default bandwidth as a fraction of the median pairwise distance (Kornblith et al. 2019).
DEFAULT_SIGMA_FRACTION = 0.8


def rbf_gram(X: ArrayLike, sigma_fraction: float = DEFAULT_SIGMA_FRACTION) -> F64:
    r"""Gaussian-kernel Gram matrix with a median-heuristic bandwidth.

    .. math::
        K_{ij} = \exp\!\Big(-\frac{\|x_i - x_j\|^2}{2\sigma^2}\Big), \qquad
        \sigma = \texttt{sigma\_fraction} \cdot \operatorname{median}_{i<j} \|x_i - x_j\|

    The median runs over the :math:`n(n-1)/2` distinct pairs. (Kornblith et al.'s reference
    code takes the median of the full :math:`n \times n` matrix, zero diagonal included,
    which shrinks :math:`\sigma` slightly for small :math:`n`.)

    Reference: Kornblith et al., ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        X: Representation of shape ``(n, ...)``; trailing axes are flattened per sample.
        sigma_fraction: Bandwidth relative to the median distance, > 0
            (default: ``0.8``).

    Returns:
        The symmetric ``(n, n)`` float64 Gram matrix with ones on the diagonal.

    Raises:
        ValueError: For NaN/inf, ``n < 2``, a non-positive ``sigma_fraction``, or a zero
            median distance (more than half of the pairs of samples coincide).

    Shapes:
        X (n, d) -> (n, n)
    """
    if not (np.isfinite(sigma_fraction) and sigma_fraction > 0):
        raise ValueError(f"sigma_fraction must be a positive number, got {sigma_fraction}")
    return _rbf_gram(as_samples(X, "X"), sigma_fraction, "X")


def _rbf_gram(x: F64, sigma_fraction: float, name: str) -> F64:
    d2 = squared_distances(x)
    median_sq = float(np.median(d2[np.triu_indices_from(d2, k=1)]))
    if median_sq <= 0.0:
        raise ValueError(
            f"the median pairwise distance of {name} is zero (most samples coincide); "
            "the RBF bandwidth is undefined"
        )
    k = d2 / (-2.0 * sigma_fraction**2 * median_sq)
    return np.exp(k, out=k)


def rbf_cka(X: ArrayLike, Y: ArrayLike, sigma_fraction: float = DEFAULT_SIGMA_FRACTION,
            estimator: Estimator = "biased") -> float:
    r"""CKA between two representations with RBF kernels.

    .. math::
        \mathrm{CKA}(X, Y) = \frac{\mathrm{HSIC}(K, L)}
            {\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},\qquad
        K_{ij} = e^{-\|x_i - x_j\|^2 / (2\sigma_X^2)}, \quad
        L_{ij} = e^{-\|y_i - y_j\|^2 / (2\sigma_Y^2)},

    each bandwidth being ``sigma_fraction`` times the median pairwise distance of its own
    representation (see :func:`rbf_gram`), and HSIC the biased estimator
    (:func:`~analysis.measures.hsic_biased`) or the unbiased one
    (:func:`~analysis.measures.hsic_unbiased`). Invariant to orthogonal transforms,
    translations and isotropic scaling of either representation; as
    ``sigma_fraction`` grows it tends to linear CKA. Costs :math:`O(n^2 (d_1 + d_2))` time
    and :math:`O(n^2)` memory.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        X: First representation, shape ``(n, ...)``; trailing axes are flattened per sample.
        Y: Second representation, shape ``(n, ...)``.
        sigma_fraction: Bandwidth relative to the median distance (default: ``0.8``, the
            value used in Kornblith et al.'s experiments).
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).

    Returns:
        The similarity as a Python float.

    Raises:
        ValueError: If the sample counts differ, an input holds NaN/inf, ``n`` is below 2
            (biased) or 4 (unbiased), or a median pairwise distance is zero.

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    unbiased = check_estimator(estimator)
    if not (np.isfinite(sigma_fraction) and sigma_fraction > 0):
        raise ValueError(f"sigma_fraction must be a positive number, got {sigma_fraction}")
    min_n = 4 if unbiased else 2
    x = as_samples(X, "X", min_samples=min_n)
    y = as_samples(Y, "Y", min_samples=min_n)
    check_paired(x, y)
    center = u_center_gram if unbiased else center_gram
    # Both HSIC estimators are <C(K), C(L)>_F / const with C the (U-)centring; const cancels.
    kc = center(_rbf_gram(x, sigma_fraction, "X"))
    lc = center(_rbf_gram(y, sigma_fraction, "Y"))
    kk, ll = float(np.vdot(kc, kc)), float(np.vdot(lc, lc))
    if not (kk > 0 and ll > 0):
        raise ValueError("a representation has zero self-similarity; CKA is undefined")
    return float(np.vdot(kc, lc) / np.sqrt(kk * ll))

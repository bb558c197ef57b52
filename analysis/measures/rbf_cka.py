"""CKA with Gaussian (RBF) kernels.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414 (Section 4, "Kernel selection").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    Estimator,
    as_sample_list,
    as_samples,
    center_gram,
    check_estimator,
    check_paired,
    check_same_n,
    normalise,
    squared_distances,
    u_center_gram,
)

__all__ = ["rbf_cka", "rbf_cka_pairs", "rbf_gram"]

#: Default bandwidth as a fraction of the median pairwise distance (Kornblith et al. 2019).
DEFAULT_SIGMA_FRACTION = 0.8


def _check_fraction(sigma_fraction: float) -> None:
    if not (np.isfinite(sigma_fraction) and sigma_fraction > 0):
        raise ValueError(f"sigma_fraction must be a positive number, got {sigma_fraction}")


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
    _check_fraction(sigma_fraction)
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
    _check_fraction(sigma_fraction)
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


def _packed_grams(xs: Sequence[F64], names: Sequence[str], sigma_fraction: float,
                  unbiased: bool) -> F64:
    """``(k, n(n+1)/2)``: each rep's (U-)centred RBF Gram, upper triangle, off-diagonal x sqrt 2.

    Row ``i`` dotted with row ``j`` is the Frobenius inner product of the two centred Gram
    matrices, so one product of this matrix with its transpose gives every pair's HSIC
    (up to the estimator's constant, which cancels in CKA). One Gram matrix is alive at a
    time besides the packed rows.
    """
    n = xs[0].shape[0]
    upper = np.triu(np.ones((n, n), dtype=bool))
    out = np.empty((len(xs), n * (n + 1) // 2))
    center = u_center_gram if unbiased else center_gram
    for i, (x, name) in enumerate(zip(xs, names, strict=True)):
        kc = center(_rbf_gram(x, sigma_fraction, name))
        kc *= np.sqrt(2.0)
        kc.flat[:: n + 1] /= np.sqrt(2.0)
        out[i] = kc[upper]
        del kc
    return out


def rbf_cka_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                  estimator: Estimator = "biased",
                  sigma_fraction: float = DEFAULT_SIGMA_FRACTION,
                  labels_x: Sequence[str] | None = None,
                  labels_y: Sequence[str] | None = None) -> F64:
    r"""RBF CKA of all pairs of representations from stacked centred Gram matrices.

    The same value as :func:`rbf_cka` for every pair,
    :math:`\mathrm{CKA}_{ij} = \langle C(K_i), C(K_j)\rangle_F /
    \sqrt{\langle C(K_i), C(K_i)\rangle_F \langle C(K_j), C(K_j)\rangle_F}` with :math:`C`
    the double (biased) or U- (unbiased) centring, but each input is validated once, each
    Gram matrix built and centred once, and all inner products come from one product of the
    stacked upper triangles :math:`P P^\top` (:math:`P` is ``(k, n(n+1)/2)``), never a loop
    over pairs. Time :math:`O(k n^2 d + k^2 n^2 / 2)`, memory :math:`O(k n^2 / 2)`.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414 (Section 4).

    Args:
        xs: ``kx`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        ys: ``ky`` arrays of shape ``(n, ...)``, or ``None`` for the square matrix of ``xs``.
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).
        sigma_fraction: Bandwidth relative to each rep's median distance (default: ``0.8``).
        labels_x: Names of ``xs`` in error messages (default: ``xs[i]``).
        labels_y: Names of ``ys`` in error messages (default: ``ys[j]``).

    Returns:
        The ``(kx, ky)`` float64 matrix (symmetric ``(kx, kx)`` when ``ys`` is None).

    Raises:
        ValueError: As :func:`rbf_cka`, naming the representation at fault.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    unbiased = check_estimator(estimator)
    _check_fraction(sigma_fraction)
    min_n = 4 if unbiased else 2
    ax, names_x = as_sample_list(xs, "xs", min_n, labels_x)
    px = _packed_grams(ax, names_x, sigma_fraction, unbiased)
    if ys is None:
        h = px @ px.T
        d = h.diagonal().copy()
        out = normalise(h, d, d, names_x, names_x)
        return (out + out.T) / 2
    ay, names_y = as_sample_list(ys, "ys", min_n, labels_y)
    check_same_n(ax, ay, ("xs", "ys"))
    py = _packed_grams(ay, names_y, sigma_fraction, unbiased)
    return normalise(px @ py.T, np.einsum("ij,ij->i", px, px), np.einsum("ij,ij->i", py, py),
                     names_x, names_y)

"""Hilbert-Schmidt Independence Criterion estimators on Gram matrices.

References:
    Gretton et al., "Measuring statistical dependence with Hilbert-Schmidt norms", ALT 2005
    (biased estimator).
    Song et al., "Feature selection via dependence maximization", JMLR 13, 2012
    (unbiased estimator, eq. 5).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from analysis.measures._prepare import F64, center_gram, check_gram, u_center_gram

__all__ = ["hsic_biased", "hsic_unbiased"]


def _paired_grams(k: ArrayLike, ell: ArrayLike, min_samples: int) -> tuple[F64, F64]:
    km = check_gram(k, "K", min_samples=min_samples)
    lm = check_gram(ell, "L", min_samples=min_samples)
    if km.shape != lm.shape:
        raise ValueError(
            "K and L must have the same number of samples: "
            f"K has {km.shape[0]}, L has {lm.shape[0]}"
        )
    return km, lm


def hsic_biased(K: ArrayLike, L: ArrayLike) -> float:
    r"""Biased HSIC estimator (Gretton et al. 2005).

    .. math::
        \mathrm{HSIC}_0(K, L) = \frac{1}{(n-1)^2} \operatorname{tr}(K H L H),
        \qquad H = I_n - \tfrac{1}{n} 1 1^\top

    evaluated as :math:`\langle HKH, L\rangle_F / (n-1)^2` in :math:`O(n^2)`.

    Args:
        K: Gram matrix of the first representation.
        L: Gram matrix of the second representation.

    Returns:
        The estimate as a Python float.

    Raises:
        ValueError: If the matrices are not square and symmetric, differ in ``n``, have
            ``n < 2``, or contain NaN/inf.

    Shapes:
        K (n, n), L (n, n) -> scalar
    """
    km, lm = _paired_grams(K, L, min_samples=2)
    n = km.shape[0]
    return float((center_gram(km) * lm).sum() / (n - 1) ** 2)


def hsic_unbiased(K: ArrayLike, L: ArrayLike) -> float:
    r"""Unbiased HSIC estimator :math:`\mathrm{HSIC}_1` (Song et al. 2012, eq. 5).

    With :math:`\tilde K, \tilde L` equal to :math:`K, L` with zeroed diagonals,

    .. math::
        \mathrm{HSIC}_1(K, L) = \frac{1}{n(n-3)} \Big[ \operatorname{tr}(\tilde K \tilde L)
            + \frac{1^\top \tilde K 1 \, 1^\top \tilde L 1}{(n-1)(n-2)}
            - \frac{2}{n-2} 1^\top \tilde K \tilde L 1 \Big],

    evaluated as :math:`\langle U(K), U(L)\rangle_F / (n(n-3))` with the U-centring of
    Székely & Rizzo (2014) (see :func:`analysis.measures._prepare.u_center_gram`), which is
    algebraically identical and lets many pairs share one matrix product.

    Args:
        K: Gram matrix of the first representation (diagonal ignored).
        L: Gram matrix of the second representation (diagonal ignored).

    Returns:
        The estimate as a Python float (it can be slightly negative for independent data).

    Raises:
        ValueError: If the matrices are not square and symmetric, differ in ``n``, have
            ``n < 4`` (the estimator divides by :math:`n - 3`), or contain NaN/inf.

    Shapes:
        K (n, n), L (n, n) -> scalar
    """
    km, lm = _paired_grams(K, L, min_samples=4)
    n = km.shape[0]
    uk = u_center_gram(km)
    ul = u_center_gram(lm)
    return float((uk * ul).sum() / (n * (n - 3)))

"""Linear centred kernel alignment (CKA) of two representations.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    Estimator,
    as_samples,
    center_columns,
    check_estimator,
    check_paired,
    normalise,
)
from analysis.measures.cka_matrix import Method, hsic_matrix

__all__ = ["linear_cka"]


def linear_cka(X: ArrayLike, Y: ArrayLike, estimator: Estimator = "biased",
               *, method: Method = "auto") -> float:
    r"""Linear CKA between two representations of the same samples.

    With column-centred :math:`X_c = HX`, :math:`Y_c = HY` the biased estimator is

    .. math::
        \mathrm{CKA}(X, Y) = \frac{\|Y_c^\top X_c\|_F^2}
            {\|X_c^\top X_c\|_F \, \|Y_c^\top Y_c\|_F}
        = \frac{\mathrm{HSIC}_0(K, L)}{\sqrt{\mathrm{HSIC}_0(K, K)\,\mathrm{HSIC}_0(L, L)}},
        \qquad K = XX^\top,\ L = YY^\top,

    and the unbiased one replaces :math:`\mathrm{HSIC}_0` by Song et al.'s
    :math:`\mathrm{HSIC}_1` (see :func:`~analysis.measures.hsic_unbiased`).

    Both estimators can be evaluated on the *feature side* (the :math:`d \times d`
    cross-covariances above, :math:`O(n (d_1 + d_2)^2)`) or on the *Gram side* (the
    :math:`n \times n` Gram matrices, :math:`O(n^2 (d_1 + d_2))`). With ``method="auto"`` the
    feature side is used when :math:`(d_1 + d_2)^2 \le n (d_1 + d_2 + 2)`, i.e. essentially
    when :math:`d_1 + d_2 \le n`, and the Gram side when :math:`d \gg n`. The unbiased
    estimator on the feature side uses
    :math:`\operatorname{tr}(\tilde K \tilde L) = \|Y^\top X\|_F^2 - \sum_l \|x_l\|^2 \|y_l\|^2`.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        X: First representation, shape ``(n, ...)``; trailing axes are flattened per sample.
        Y: Second representation, shape ``(n, ...)``.
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).
        method: ``"auto"``, ``"features"`` or ``"gram"`` to force a side
            (default: ``"auto"``).

    Returns:
        The similarity as a Python float, in :math:`[0, 1]` for the biased estimator and in
        :math:`[-1, 1]` for the unbiased one.

    Raises:
        ValueError: If the sample counts differ, an input holds NaN/inf or is constant, or
            ``n`` is below 2 (biased) or 4 (unbiased).

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    unbiased = check_estimator(estimator)
    min_n = 4 if unbiased else 2
    x = as_samples(X, "X", min_samples=min_n)
    y = as_samples(Y, "Y", min_samples=min_n)
    check_paired(x, y)
    h = hsic_matrix([center_columns(x, "X"), center_columns(y, "Y")], unbiased, method)
    d = h.diagonal().copy()
    return float(normalise(h, d, d, ("X", "Y"), ("X", "Y"))[0, 1])

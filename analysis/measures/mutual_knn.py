r"""Mutual k-nearest-neighbour alignment of representations.

Reference:
    Huh, Cheung, Wang, Isola, "The Platonic Representation Hypothesis", ICML 2024,
    https://arxiv.org/abs/2405.07987 (Section 2 and Appendix A; their ``mutual_knn``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    as_sample_list,
    as_samples,
    center_columns,
    check_paired,
    check_same_n,
)

__all__ = ["DEFAULT_K", "mutual_knn", "mutual_knn_pairs"]

#: Neighbours per sample (Huh et al. 2024 use ``topk=10``).
DEFAULT_K = 10
#: Target size (elements) of one block of stacked neighbour indicators.
_BLOCK_ELEMENTS = 1 << 22


def _unit_rows(x: F64, name: str) -> F64:
    """Rows scaled to unit L2 norm (zero rows stay zero), after rejecting constant data."""
    center_columns(x, name, "mutual k-NN alignment")  # raises for zero variance
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float64).tiny)


def _indicator(u: F64, s: int, e: int, k: int) -> F64:
    """``(e - s, n)`` 0/1 matrix: row ``i`` marks the ``k`` nearest neighbours of sample ``s+i``.

    Nearest = largest cosine similarity, the sample itself excluded, ties broken by the
    lower index (so the sets are deterministic).
    """
    sim = u[s:e] @ u.T
    rows = np.arange(e - s)
    sim[rows, rows + s] = -np.inf
    part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    kth = sim[rows[:, None], part].min(axis=1, keepdims=True)
    above = sim > kth
    tied = sim == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return chosen.astype(np.float32)


def mutual_knn_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                     estimator: str = "exact", k: int = DEFAULT_K,
                     labels_x: Sequence[str] | None = None,
                     labels_y: Sequence[str] | None = None) -> F64:
    r"""Mutual k-NN alignment of all pairs of representations (Huh et al. 2024).

    With :math:`S_X(i)` the ``k`` nearest neighbours of sample :math:`i` (itself excluded)
    under the cosine similarity of the rows of :math:`X`,

    .. math::
        m_{\mathrm{NN}}(X, Y) = \frac{1}{n} \sum_{i=1}^{n} \frac{|S_X(i) \cap S_Y(i)|}{k}
            = \frac{\langle M_X, M_Y \rangle_F}{n k} \in [0, 1],

    :math:`M_X` the ``(n, n)`` 0/1 neighbour indicator. Ties are broken by the lower sample
    index. Invariant to orthogonal transforms and to scaling each sample (not to
    translation: cosine similarities are not centred, as in the reference). All pairs come
    from products of stacked indicator row blocks :math:`M_{s:e}`, one neighbour search per
    representation; memory stays near ``_BLOCK_ELEMENTS`` besides the inputs.

    Reference: Huh et al., "The Platonic Representation Hypothesis", ICML 2024,
    https://arxiv.org/abs/2405.07987

    Args:
        xs: ``kx`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        ys: ``ky`` arrays of shape ``(n, ...)``, or ``None`` for the square matrix of ``xs``.
        estimator: Only ``"exact"`` (the registry's interface; default: ``"exact"``).
        k: Neighbours per sample, ``1 <= k < n`` (default: ``10``).
        labels_x: Names of ``xs`` in error messages (default: ``xs[i]``).
        labels_y: Names of ``ys`` in error messages (default: ``ys[j]``).

    Returns:
        The ``(kx, ky)`` float64 matrix (symmetric when ``ys`` is None).

    Raises:
        ValueError: If sample counts differ, ``k`` is not below ``n``, an array holds
            NaN/inf, or a representation is constant.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    if estimator != "exact":
        raise ValueError(f"mutual k-NN alignment has no estimator {estimator!r}")
    ax, names_x = as_sample_list(xs, "xs", 2, labels_x)
    n = ax[0].shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, n) = [1, {n}) neighbours, got {k}")
    ux = [_unit_rows(x, name) for x, name in zip(ax, names_x, strict=True)]
    uy: list[F64] | None = None
    if ys is not None:
        ay, names_y = as_sample_list(ys, "ys", 2, labels_y)
        check_same_n(ax, ay, ("xs", "ys"))
        uy = [_unit_rows(y, name) for y, name in zip(ay, names_y, strict=True)]
    reps = len(ux) + (0 if uy is None else len(uy))
    rows = max(1, min(n, _BLOCK_ELEMENTS // (reps * n)))
    overlap = np.zeros((len(ux), len(ux) if uy is None else len(uy)))
    for s in range(0, n, rows):
        e = min(n, s + rows)
        gx = np.stack([_indicator(u, s, e, k).ravel() for u in ux])
        gy = gx if uy is None else np.stack([_indicator(u, s, e, k).ravel() for u in uy])
        overlap += gx @ gy.T  # float32 counts per block are exact (< 2**24)
    return overlap / (n * k)


def mutual_knn(X: ArrayLike, Y: ArrayLike, k: int = DEFAULT_K) -> float:
    r"""Mutual k-NN alignment of two representations (see :func:`mutual_knn_pairs`).

    .. math::
        m_{\mathrm{NN}}(X, Y) = \frac{1}{n} \sum_i \frac{|S_X(i) \cap S_Y(i)|}{k}

    Reference: Huh et al., ICML 2024, https://arxiv.org/abs/2405.07987

    Args:
        X: First representation, shape ``(n, ...)``.
        Y: Second representation, shape ``(n, ...)``.
        k: Neighbours per sample (default: ``10``).

    Returns:
        The alignment as a Python float in :math:`[0, 1]`.

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    x, y = as_samples(X, "X"), as_samples(Y, "Y")
    check_paired(x, y)
    return float(mutual_knn_pairs([x], [y], k=k, labels_x=["X"], labels_y=["Y"])[0, 0])

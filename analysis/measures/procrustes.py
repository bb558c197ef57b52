r"""Orthogonal Procrustes distance between representations.

Reference:
    Ding, Denain, Steinhardt, "Grounding Representation Similarity with Statistical
    Testing", NeurIPS 2021, https://arxiv.org/abs/2108.01661 (Section 2); the metric view:
    Williams, Kunz, Kornblith, Linderman, "Generalized Shape Metrics on Neural
    Representations", NeurIPS 2021, https://arxiv.org/abs/2110.14739
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._blocks import (
    block_singular_values,
    cross_blocks,
    fill_pairs,
    pair_indices,
)
from analysis.measures._prepare import (
    F64,
    as_sample_list,
    as_samples,
    center_columns,
    check_paired,
    check_same_n,
)

__all__ = ["procrustes_distance", "procrustes_pairs"]

_NAME = "the Procrustes distance"


def _normalised(x: F64, name: str) -> F64:
    """Centred, unit-Frobenius-norm ``x``, reduced to at most ``n`` columns (same Gram)."""
    xc = center_columns(x, name, _NAME)
    xc /= np.linalg.norm(xc)
    if xc.shape[1] > xc.shape[0]:  # X = U S V^T: U S has the same X X^T, n columns only
        u, s, _ = np.linalg.svd(xc, full_matrices=False)
        xc = u * s
    return xc


def procrustes_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                     estimator: str = "exact", labels_x: Sequence[str] | None = None,
                     labels_y: Sequence[str] | None = None) -> F64:
    r"""Orthogonal Procrustes distance of all pairs of representations.

    With column-centred representations scaled to unit Frobenius norm,
    :math:`\bar X = HX / \|HX\|_F` and :math:`\bar Y = HY / \|HY\|_F`,

    .. math::
        d_{\mathrm{Proc}}(X, Y) = \min_{R^\top R = I} \|\bar X R - \bar Y\|_F^2
            = \|\bar X\|_F^2 + \|\bar Y\|_F^2 - 2 \|\bar X^\top \bar Y\|_*
            = 2 - 2 \|\bar X^\top \bar Y\|_*,

    :math:`\|\cdot\|_*` the nuclear norm (sum of singular values); the narrower
    representation is zero-padded to the wider one's width. Ranges over :math:`[0, 2]`,
    0 for representations equal up to rotation, translation and isotropic scaling (the
    distance is invariant to these); :math:`\sqrt{d}` is a metric. All
    :math:`\bar X_i^\top \bar Y_j` come from one product of the concatenated representations,
    their singular values from one stacked SVD per block shape; a representation wider than
    ``n`` is first replaced by its ``n``-column factor :math:`US` (same Gram matrix).

    Reference: Ding et al., "Grounding Representation Similarity with Statistical Testing",
    NeurIPS 2021, https://arxiv.org/abs/2108.01661

    Args:
        xs: ``kx`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        ys: ``ky`` arrays of shape ``(n, ...)``, or ``None`` for the square matrix of ``xs``.
        estimator: Only ``"exact"`` (the registry's interface; default: ``"exact"``).
        labels_x: Names of ``xs`` in error messages (default: ``xs[i]``).
        labels_y: Names of ``ys`` in error messages (default: ``ys[j]``).

    Returns:
        The ``(kx, ky)`` float64 matrix of distances (symmetric when ``ys`` is None).

    Raises:
        ValueError: If sample counts differ, ``n < 2``, an array holds NaN/inf, or a
            representation is constant.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    if estimator != "exact":
        raise ValueError(f"the Procrustes distance has no estimator {estimator!r}")
    ax, names_x = as_sample_list(xs, "xs", 2, labels_x)
    bx = [_normalised(x, name) for x, name in zip(ax, names_x, strict=True)]
    by: list[F64] | None = None
    if ys is not None:
        ay, names_y = as_sample_list(ys, "ys", 2, labels_y)
        check_same_n(ax, ay, ("xs", "ys"))
        by = [_normalised(y, name) for y, name in zip(ay, names_y, strict=True)]
    pairs = pair_indices(len(bx), None if by is None else len(by))
    sv = block_singular_values(cross_blocks(bx, by, pairs))
    dist = {p: float(np.clip(2.0 - 2.0 * s.sum(), 0.0, 2.0)) for p, s in sv.items()}
    return fill_pairs(dist, len(bx), None if by is None else len(by))


def procrustes_distance(X: ArrayLike, Y: ArrayLike) -> float:
    r"""Orthogonal Procrustes distance between two representations (see :func:`procrustes_pairs`).

    .. math::
        d_{\mathrm{Proc}}(X, Y) = 2 - 2 \|\bar X^\top \bar Y\|_*

    Reference: Ding et al., NeurIPS 2021, https://arxiv.org/abs/2108.01661

    Args:
        X: First representation, shape ``(n, ...)``.
        Y: Second representation, shape ``(n, ...)``.

    Returns:
        The distance as a Python float in :math:`[0, 2]`.

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    x, y = as_samples(X, "X"), as_samples(Y, "Y")
    check_paired(x, y)
    return float(procrustes_pairs([x], [y], labels_x=["X"], labels_y=["Y"])[0, 0])

r"""SVCCA: singular vector canonical correlation analysis.

Reference:
    Raghu, Gilmer, Yosinski, Sohl-Dickstein, "SVCCA: Singular Vector Canonical Correlation
    Analysis for Deep Learning Dynamics and Interpretability", NeurIPS 2017,
    https://arxiv.org/abs/1706.05806
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

__all__ = ["DEFAULT_KEEP", "svcca", "svcca_pairs"]

#: Fraction of the variance the kept singular directions explain (Raghu et al. 2017: 99 %).
DEFAULT_KEEP = 0.99


def _basis(x: F64, keep: float, name: str) -> F64:
    """Orthonormal ``(n, r)`` basis of the top singular directions explaining ``keep``."""
    xc = center_columns(x, name, "SVCCA")
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    s = s[s > s[0] * max(xc.shape) * np.finfo(np.float64).eps]  # numerical rank
    share = np.cumsum(s**2) / np.sum(s**2)
    r = int(np.searchsorted(share, keep - 1e-12)) + 1
    return np.ascontiguousarray(u[:, : min(r, s.size)])


def svcca_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                estimator: str = "exact", keep: float = DEFAULT_KEEP,
                labels_x: Sequence[str] | None = None,
                labels_y: Sequence[str] | None = None) -> F64:
    r"""SVCCA similarity of all pairs of representations.

    Each centred representation :math:`HX = U S V^\top` is reduced to its top :math:`r`
    singular directions, the fewest whose :math:`\sum_{l \le r} s_l^2` reaches ``keep`` of the
    total variance (the SVD step); the canonical correlations of two reduced
    representations are the singular values :math:`\rho_1 \ge \dots \ge \rho_m` of
    :math:`U_{X,r}^\top U_{Y,r'}` (the CCA step, :math:`m = \min(r, r')`), and

    .. math::
        \mathrm{SVCCA}(X, Y) = \frac{1}{m} \sum_{l=1}^{m} \rho_l \in [0, 1].

    Invariant to orthogonal transforms, isotropic scaling and translation of either
    representation; with ``keep=1`` (no truncation) to any invertible linear transform.
    Needs :math:`n` well above the kept dimensions (with :math:`r \ge n - 1` every
    correlation is 1). Each basis is computed once; all :math:`U_i^\top U_j` come from one
    product of the concatenated bases, the correlations from one stacked SVD per shape.

    Reference: Raghu et al., "SVCCA", NeurIPS 2017, https://arxiv.org/abs/1706.05806

    Args:
        xs: ``kx`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        ys: ``ky`` arrays of shape ``(n, ...)``, or ``None`` for the square matrix of ``xs``.
        estimator: Only ``"exact"`` (the registry's interface; default: ``"exact"``).
        keep: Fraction of variance kept by the SVD step, in ``(0, 1]`` (default: ``0.99``).
        labels_x: Names of ``xs`` in error messages (default: ``xs[i]``).
        labels_y: Names of ``ys`` in error messages (default: ``ys[j]``).

    Returns:
        The ``(kx, ky)`` float64 matrix (symmetric when ``ys`` is None).

    Raises:
        ValueError: If sample counts differ, ``n < 2``, an array holds NaN/inf, a
            representation is constant, or ``keep`` is outside ``(0, 1]``.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    if estimator != "exact":
        raise ValueError(f"SVCCA has no estimator {estimator!r}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    ax, names_x = as_sample_list(xs, "xs", 2, labels_x)
    bx = [_basis(x, keep, name) for x, name in zip(ax, names_x, strict=True)]
    by: list[F64] | None = None
    if ys is not None:
        ay, names_y = as_sample_list(ys, "ys", 2, labels_y)
        check_same_n(ax, ay, ("xs", "ys"))
        by = [_basis(y, keep, name) for y, name in zip(ay, names_y, strict=True)]
    pairs = pair_indices(len(bx), None if by is None else len(by))
    sv = block_singular_values(cross_blocks(bx, by, pairs))
    means = {p: float(np.clip(s, 0.0, 1.0).mean()) for p, s in sv.items()}
    return fill_pairs(means, len(bx), None if by is None else len(by))


def svcca(X: ArrayLike, Y: ArrayLike, keep: float = DEFAULT_KEEP) -> float:
    r"""SVCCA similarity of two representations (see :func:`svcca_pairs`).

    .. math::
        \mathrm{SVCCA}(X, Y) = \frac{1}{m} \sum_{l=1}^{m} \rho_l

    Reference: Raghu et al., NeurIPS 2017, https://arxiv.org/abs/1706.05806

    Args:
        X: First representation, shape ``(n, ...)``.
        Y: Second representation, shape ``(n, ...)``.
        keep: Fraction of variance kept by the SVD step (default: ``0.99``).

    Returns:
        The mean canonical correlation as a Python float in :math:`[0, 1]`.

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    x, y = as_samples(X, "X"), as_samples(Y, "Y")
    check_paired(x, y)
    return float(svcca_pairs([x], [y], keep=keep, labels_x=["X"], labels_y=["Y"])[0, 0])

r"""Full-batch linear CKA of all pairs from row blocks, without holding the data.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414

:func:`~analysis.measures.linear_cka_matrix` holds every representation whole, in float64 and
centred, then concatenated: about four float64 copies of the data (at ``n = 160,000`` and
four ``256``-wide float32 reps, 5.7 GiB for 0.6 GiB of data). The same numbers need only
the ``(D, D)`` cross-covariance :math:`Z_c^\top Z_c` of the centred concatenation
:math:`Z_c = [X_{1,c}, \dots, X_{k,c}]` (``D = \sum_i d_i``) and, for the unbiased estimator,
the squared row norms :math:`q` (``(n, k)``), both sums over rows. So the rows are read
twice in blocks: once for the column means :math:`\mu_i`, once to add
:math:`(Z_b - 1\mu^\top)^\top (Z_b - 1\mu^\top)` block by block. Memory is one block plus
:math:`D^2 + n k` float64 values, whatever ``n``; the values equal the in-memory function's
up to the order of the row sums (round-off).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    _ZERO_VARIANCE_RTOL,
    F64,
    Estimator,
    as_samples,
    check_estimator,
    check_min_samples,
    column_offsets,
    normalise,
    rep_labels,
)
from analysis.measures.cka_matrix import _unbiased_scale

__all__ = ["linear_cka_streamed"]

Blocks = Callable[[], Iterable[Sequence[ArrayLike]]]


def _column_sums(blocks: Blocks, names: Sequence[str]) -> tuple[int, list[F64], list[float]]:
    """First pass: ``n``, each rep's column sums and its largest absolute value."""
    n, sums, scale = 0, [np.zeros(0)] * len(names), [0.0] * len(names)
    for b, block in enumerate(blocks()):
        if len(block) != len(names):
            raise ValueError(f"row block {b} has {len(block)} arrays, expected {len(names)}")
        for i, x in enumerate(block):
            xb = as_samples(x, names[i], min_samples=1)
            sums[i] = xb.sum(axis=0) if b == 0 else sums[i] + xb.sum(axis=0)
            scale[i] = max(scale[i], float(np.abs(xb).max()))
        n += np.asarray(block[0]).shape[0]
    if not n:
        raise ValueError("no row blocks were given")
    return n, sums, scale


def linear_cka_streamed(blocks: Blocks, estimator: Estimator = "biased",
                        labels: Sequence[str] | None = None, k: int | None = None) -> F64:
    r"""All-pairs linear CKA of ``k`` reps whose aligned rows come in blocks (read twice).

    .. math::
        \mathrm{CKA}_{ij} = \frac{\mathrm{HSIC}(K_i, K_j)}
            {\sqrt{\mathrm{HSIC}(K_i, K_i)\,\mathrm{HSIC}(K_j, K_j)}}, \qquad
        \mathrm{HSIC}_0 \propto \|X_{j,c}^\top X_{i,c}\|_F^2,

    and :math:`\mathrm{HSIC}_1` from the same blocks of :math:`Z_c^\top Z_c` with the row
    norms (see :func:`~analysis.measures.cka_matrix._unbiased_scale`): the values of
    :func:`~analysis.measures.linear_cka_matrix` over all ``n`` rows, not a minibatch
    estimate. Time :math:`O(n D^2 / 2)`, memory :math:`O(b D + D^2 + n k)` for blocks of
    ``b`` rows.

    Reference: Kornblith et al., ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        blocks: Called twice; each call yields the same row blocks in the same order, each a
            sequence of ``k`` arrays ``(b, ...)`` of the same rows (trailing axes flattened).
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).
        labels: Names of the reps in error messages (default: ``rep i``).
        k: How many reps (default: ``len(labels)``).

    Returns:
        The symmetric ``(k, k)`` float64 matrix.

    Raises:
        ValueError: As :func:`~analysis.measures.linear_cka_matrix` (NaN/inf, a constant
            rep, ``n`` below 2 or 4), or for blocks of the wrong number of arrays.

    Shapes:
        per block [(b, d_1), ..., (b, d_k)] -> (k, k)
    """
    unbiased = check_estimator(estimator)
    names = rep_labels(k if k is not None else len(labels or ()), "rep", labels)
    n, sums, scale = _column_sums(blocks, names)
    check_min_samples(n, 4 if unbiased else 2, names[0])
    means = [s / n for s in sums]
    offs = column_offsets([m[None] for m in means])
    gram = np.zeros((int(offs[-1]), int(offs[-1])))
    q = np.empty((n, len(names))) if unbiased else None
    spread = [0.0] * len(names)
    start = 0
    for block in blocks():
        zb = np.concatenate([as_samples(x, names[i], min_samples=1) - means[i]
                             for i, x in enumerate(block)], axis=1)
        gram += zb.T @ zb  # a symmetric rank-b update
        for i in range(len(names)):
            part = zb[:, offs[i]:offs[i + 1]]
            spread[i] = max(spread[i], float(np.abs(part).max()))
            if q is not None:
                q[start:start + len(zb), i] = np.einsum("ij,ij->i", part, part)
        start += len(zb)
    for name, s, top in zip(names, spread, scale, strict=True):
        if s <= _ZERO_VARIANCE_RTOL * top or top == 0.0:
            raise ValueError(f"{name} has zero variance (all samples are equal); CKA is "
                             "undefined")
    g = gram * gram
    m = np.add.reduceat(np.add.reduceat(g, offs[:-1], 0), offs[:-1], 1)
    h = _unbiased_scale(m, q, q, n) if q is not None else m / (n - 1) ** 2
    d = np.diag(h).copy()
    out = normalise(h, d, d, names, names)
    return (out + out.T) / 2

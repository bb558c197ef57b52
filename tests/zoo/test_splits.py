"""Stratified train/val/test splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.data.splits import SPLIT_NAMES, stratified_split


def test_default_split_of_5000_balanced_digits() -> None:
    labels = np.repeat(np.arange(10), 500)
    split = stratified_split(labels, seed=0)
    assert [int((split == s).sum()) for s in SPLIT_NAMES] == [3500, 500, 1000]
    for c in range(10):
        per_class = split[labels == c]
        assert [int((per_class == s).sum()) for s in SPLIT_NAMES] == [350, 50, 100]


def test_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    labels = np.random.default_rng(1).integers(0, 5, 300)
    a = stratified_split(labels, seed=3)
    assert np.array_equal(a, stratified_split(labels.copy(), seed=3))
    assert not np.array_equal(a, stratified_split(labels, seed=4))


def test_counts_are_exact() -> None:
    labels = np.array(["cat"] * 7 + ["dog"] * 5)
    split = stratified_split(labels, counts=(6, 3, 3), seed=0)
    assert [int((split == s).sum()) for s in SPLIT_NAMES] == [6, 3, 3]


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6),
       train=st.floats(0.0, 1.0), val_share=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_split_sizes_and_stratification(sizes: list[int], train: float, val_share: float,
                                        seed: int) -> None:
    fractions = (train, (1 - train) * val_share, (1 - train) * (1 - val_share))
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))
    n = len(labels)
    split = stratified_split(labels, fractions=fractions, seed=seed)
    assert set(split.tolist()) <= set(SPLIT_NAMES)
    totals = np.array([(split == s).sum() for s in SPLIT_NAMES])
    assert totals.sum() == n
    assert np.all(np.abs(totals - np.asarray(fractions) * n) < 1)  # largest remainder
    for c, size in enumerate(sizes):
        got = np.array([(split[labels == c] == s).sum() for s in SPLIT_NAMES])
        # within-class shares follow the global ones up to rounding and ties
        assert np.all(np.abs(got - size * totals / n) <= 1 + len(sizes) * size / n + 1e-9)


def test_invalid_arguments() -> None:
    labels = np.zeros(10, int)
    with pytest.raises(ValueError, match="summing to 1,"):
        stratified_split(labels, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="summing to 10"):
        stratified_split(labels, counts=(5, 5, 5))
    with pytest.raises(ValueError, match="one-dimensional"):
        stratified_split(np.zeros((2, 2)))

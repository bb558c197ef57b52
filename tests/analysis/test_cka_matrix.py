"""Batched all-pairs CKA equals the pairwise loop, on both sides and with blocking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.measures import cka_matrix as cka_matrix_module
from analysis.measures import linear_cka, linear_cka_cross, linear_cka_matrix

Est = Literal["biased", "unbiased"]
Meth = Literal["auto", "features", "gram"]

ESTIMATORS: list[Est] = ["biased", "unbiased"]
METHODS: list[Meth] = ["auto", "features", "gram"]


def make_reps(seed: int, n: int, dims: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 4))
    reps = []
    for d in dims:  # related representations, so the off-diagonal values are informative
        mix = np.tanh(base @ rng.standard_normal((4, d)))
        reps.append(mix + rng.uniform(0.1, 2.0) * rng.standard_normal((n, d)))
    return reps


def pairwise(reps_a: list[np.ndarray], reps_b: list[np.ndarray], estimator: Est) -> np.ndarray:
    return np.array([[linear_cka(a, b, estimator, method="features")
                      for b in reps_b] for a in reps_a])


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "dims"), [(60, [3, 7, 1, 12]), (9, [30, 2, 45, 9, 9]),
                                         (20, [20]), (15, [4, 7, 4, 7, 4])])
def test_matrix_equals_pairwise_loop(estimator: Est, method: Meth, n: int,
                                     dims: list[int]) -> None:
    reps = make_reps(n, n, dims)
    got = linear_cka_matrix(reps, estimator, method=method)
    np.testing.assert_allclose(got, pairwise(reps, reps, estimator), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_allclose(np.diag(got), 1.0, atol=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("method", METHODS)
def test_cross_equals_pairwise_loop(estimator: Est, method: Meth) -> None:
    reps = make_reps(1, 30, [5, 40, 5, 8, 40])  # repeated widths share a batched product
    a, b = reps[:2], reps[1:]
    got = linear_cka_cross(a, b, estimator, method=method)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got, pairwise(a, b, estimator), rtol=1e-10, atol=1e-12)
    full = linear_cka_matrix(reps, estimator)
    np.testing.assert_allclose(got, full[:2, 1:], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["features", "gram"])
@pytest.mark.parametrize("budget", [1, 50, 700])
@pytest.mark.parametrize("torch_from", [0, 2**62], ids=["torch-bmm", "numpy-matmul"])
def test_blocking_does_not_change_results(monkeypatch: pytest.MonkeyPatch, estimator: Est,
                                          method: Meth, budget: int, torch_from: int) -> None:
    reps = make_reps(2, 17, [3, 5, 3, 6, 5, 3])  # widths 3 and 5 form batched groups
    expected = pairwise(reps, reps, estimator)
    monkeypatch.setattr(cka_matrix_module, "_BLOCK_ELEMENTS", budget)
    monkeypatch.setattr(cka_matrix_module, "_TORCH_MIN_MACS", torch_from)
    got = linear_cka_matrix(reps, estimator, method=method)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    cross = linear_cka_cross(reps[3:], reps, estimator, method=method)
    np.testing.assert_allclose(cross, expected[3:], rtol=1e-10, atol=1e-12)


def test_trailing_axes_are_flattened() -> None:
    reps = make_reps(3, 12, [6, 12])
    shaped = [reps[0].reshape(12, 2, 3), reps[1].reshape(12, 3, 2, 2)]
    np.testing.assert_allclose(linear_cka_matrix(shaped), linear_cka_matrix(reps), rtol=1e-12)


@pytest.mark.parametrize(("n", "d", "expected"), [(200, 8, "features"), (10, 60, "gram")])
def test_auto_picks_the_cheaper_side(monkeypatch: pytest.MonkeyPatch, n: int, d: int,
                                     expected: str) -> None:
    calls: list[str] = []

    def spy(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return fn(*args, **kwargs)
        return wrapped

    for name, attr in (("features", "_features_block_sums"), ("gram", "_gram_inner")):
        monkeypatch.setattr(cka_matrix_module, attr, spy(name, getattr(cka_matrix_module, attr)))
    reps = make_reps(5, n, [d, d, d])
    linear_cka_matrix(reps)
    assert calls == [expected]  # one batched call for all pairs, on the expected side
    calls.clear()
    linear_cka_cross(reps[:1], reps[1:])
    assert calls[0] == expected


def test_validation() -> None:
    reps = make_reps(4, 10, [3, 3, 3])
    with pytest.raises(ValueError, match="at least one"):
        linear_cka_matrix([])
    with pytest.raises(ValueError, match=r"reps\[0\] has 10, reps\[2\] has 9"):
        linear_cka_matrix([reps[0], reps[1], reps[2][:9]])
    with pytest.raises(ValueError, match="reps_a has 10, reps_b has 8"):
        linear_cka_cross(reps[:1], [r[:8] for r in reps])
    with pytest.raises(ValueError, match=r"reps\[1\] contains NaN"):
        linear_cka_matrix([reps[0], np.full((10, 2), np.inf)])
    with pytest.raises(ValueError, match=r"reps_b\[0\] has zero variance"):
        linear_cka_cross(reps, [np.zeros((10, 4))])
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka_matrix([r[:3] for r in reps], "unbiased")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(4, 16),
    dims=st.lists(st.integers(1, 24), min_size=1, max_size=5),
    seed=st.integers(0, 2**32 - 1),
    estimator=st.sampled_from(ESTIMATORS),
    method=st.sampled_from(METHODS),
)
def test_property_matrix_equals_pairwise(n: int, dims: list[int], seed: int, estimator: Est,
                                         method: Meth) -> None:
    reps = make_reps(seed, n, dims)
    got = linear_cka_matrix(reps, estimator, method=method)
    np.testing.assert_allclose(got, pairwise(reps, reps, estimator), rtol=1e-8, atol=1e-10)
    split = len(reps) // 2
    if split:
        cross = linear_cka_cross(reps[:split], reps[split:], estimator, method=method)
        np.testing.assert_allclose(cross, got[:split, split:], rtol=1e-8, atol=1e-10)

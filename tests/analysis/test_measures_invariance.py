"""Invariances and properties of the CKA measures (Kornblith et al. 2019, Section 3)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.measures import linear_cka, rbf_cka

Est = Literal["biased", "unbiased"]
Meth = Literal["auto", "features", "gram"]

ESTIMATORS: list[Est] = ["biased", "unbiased"]


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def pair(seed: int, n: int = 30, d1: int = 6,
         d2: int = 8) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d1))
    y = np.maximum(x @ rng.standard_normal((d1, d2)), 0) + 0.5 * rng.standard_normal((n, d2))
    return rng, x, y


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["features", "gram"])
def test_self_similarity_is_one(estimator: Est, method: Meth) -> None:
    _, x, _ = pair(0)
    assert linear_cka(x, x, estimator, method=method) == pytest.approx(1.0, abs=1e-12)
    assert rbf_cka(x, x, estimator=estimator) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_symmetry(estimator: Est) -> None:
    _, x, y = pair(1)
    assert linear_cka(x, y, estimator) == pytest.approx(linear_cka(y, x, estimator), rel=1e-12)
    assert rbf_cka(x, y, estimator=estimator) == pytest.approx(
        rbf_cka(y, x, estimator=estimator), rel=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_linear_cka_invariant_to_orthogonal_scaling_translation(estimator: Est) -> None:
    rng, x, y = pair(2)
    base = linear_cka(x, y, estimator)
    qx, qy = random_orthogonal(rng, x.shape[1]), random_orthogonal(rng, y.shape[1])
    variants = [
        (x @ qx, y),
        (x, y @ qy),
        (x @ qx, y @ qy),
        (7.5 * x, y),
        (x, 1e-3 * y),
        (x + rng.standard_normal(x.shape[1]), y - 4.0),
    ]
    for xv, yv in variants:
        assert linear_cka(xv, yv, estimator) == pytest.approx(base, rel=1e-9)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_rbf_cka_invariant_to_orthogonal_transform_and_scaling(estimator: Est) -> None:
    rng, x, y = pair(3)
    base = rbf_cka(x, y, estimator=estimator)
    qx, qy = random_orthogonal(rng, x.shape[1]), random_orthogonal(rng, y.shape[1])
    for xv, yv in [(x @ qx, y), (x, y @ qy), (3.0 * x, y + 1.0)]:
        assert rbf_cka(xv, yv, estimator=estimator) == pytest.approx(base, rel=1e-9)


def test_not_invariant_to_anisotropic_scaling() -> None:
    # Guard against tests that cannot fail: CKA is *not* invariant to invertible linear maps.
    _, x, y = pair(4)
    stretch = np.diag(np.geomspace(1e-2, 1e2, x.shape[1]))
    assert abs(linear_cka(x @ stretch, y) - linear_cka(x, y)) > 1e-3
    assert abs(rbf_cka(x @ stretch, y) - rbf_cka(x, y)) > 1e-3


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(("n", "d1", "d2"), [(50, 2, 3), (10, 40, 60), (16, 16, 16)])
def test_gram_side_equals_feature_side(estimator: Est, n: int, d1: int, d2: int) -> None:
    _, x, y = pair(n + d1, n, d1, d2)
    feat = linear_cka(x, y, estimator, method="features")
    gram = linear_cka(x, y, estimator, method="gram")
    assert feat == pytest.approx(gram, rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(4, 24),
    d1=st.integers(1, 30),
    d2=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-3, 1e3),
    estimator=st.sampled_from(ESTIMATORS),
)
def test_property_sides_agree_bounds_and_scale(n: int, d1: int, d2: int, seed: int,
                                                scale: float, estimator: Est) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d1))
    y = x[:, :1] * rng.standard_normal(d2) + rng.standard_normal((n, d2))
    feat = linear_cka(x, y, estimator, method="features")
    gram = linear_cka(x, y, estimator, method="gram")
    assert feat == pytest.approx(gram, rel=1e-8, abs=1e-10)
    low = 0.0 if estimator == "biased" else -1.0
    assert low - 1e-12 <= feat <= 1.0 + 1e-12
    assert linear_cka(scale * x, y, estimator) == pytest.approx(feat, rel=1e-8, abs=1e-10)
    assert linear_cka(y, x, estimator) == pytest.approx(feat, rel=1e-10, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(-5, 5), min_size=12, max_size=12),
    other=st.lists(st.integers(-5, 5), min_size=12, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_orthogonal_invariance_on_integer_data(values: list[int], other: list[int],
                                                        seed: int) -> None:
    # Small integer-valued data (ties, rank deficiency) probes the degenerate corners.
    x = np.array(values, dtype=float).reshape(6, 2)
    y = np.array(other, dtype=float).reshape(6, 2)
    if np.ptp(x, axis=0).max() == 0 or np.ptp(y, axis=0).max() == 0:
        with pytest.raises(ValueError, match="zero variance"):
            linear_cka(x, y)
        return
    q = random_orthogonal(np.random.default_rng(seed), 2)
    base = linear_cka(x, y)
    assert 0.0 <= base <= 1.0 + 1e-12
    assert linear_cka(x @ q, y) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, rel=1e-12)

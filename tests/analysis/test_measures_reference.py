"""Each measure against an independent, deliberately plain float64 reference.

The references below use the textbook formulas (explicit centring matrix, explicit
zero-diagonal kernels, the unbiased estimator written term by term from Song et al. 2012,
explicit pairwise differences for the RBF kernel); the library uses row/column means,
U-centring, feature-side identities and blocked products instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from analysis.measures import cka_matrix as cka_matrix_module
from analysis.measures import (
    hsic_biased,
    hsic_unbiased,
    linear_cka,
    rbf_cka,
    rbf_gram,
)

Est = Literal["biased", "unbiased"]
Meth = Literal["auto", "features", "gram"]

# ---------------------------------------------------------------- plain references


def ref_hsic0(k: np.ndarray, g: np.ndarray) -> float:
    """Gretton et al. 2005: tr(K H L H) / (n - 1)^2 with H = I - 11^T / n."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ g @ h) / (n - 1) ** 2)


def ref_hsic1(k: np.ndarray, g: np.ndarray) -> float:
    """Song et al. 2012, eq. 5, term by term."""
    n = k.shape[0]
    kt = k - np.diag(np.diag(k))
    gt = g - np.diag(np.diag(g))
    one = np.ones(n)
    term1 = np.trace(kt @ gt)
    term2 = (one @ kt @ one) * (one @ gt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ gt @ one)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def ref_cka_from_grams(k: np.ndarray, g: np.ndarray, estimator: Est) -> float:
    hsic = ref_hsic1 if estimator == "unbiased" else ref_hsic0
    return hsic(k, g) / np.sqrt(hsic(k, k) * hsic(g, g))


def ref_linear_cka(x: np.ndarray, y: np.ndarray, estimator: Est) -> float:
    x = x.reshape(len(x), -1)
    y = y.reshape(len(y), -1)
    return ref_cka_from_grams(x @ x.T, y @ y.T, estimator)


def ref_rbf_gram(x: np.ndarray, fraction: float) -> np.ndarray:
    x = x.reshape(len(x), -1)
    diff = x[:, None, :] - x[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    iu = np.triu_indices(len(x), k=1)
    sigma = fraction * np.median(dist[iu])
    return np.exp(-(dist**2) / (2 * sigma**2))


def related_pair(rng: np.random.Generator, n: int, d1: int, d2: int,
                 noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, d1))
    y = np.tanh(x @ rng.standard_normal((d1, d2))) + noise * rng.standard_normal((n, d2))
    return x, y


def random_gram(rng: np.random.Generator, n: int, psd: bool = True) -> np.ndarray:
    a = rng.standard_normal((n, n))
    return a @ a.T if psd else a + a.T


# ---------------------------------------------------------------- HSIC


@pytest.mark.parametrize("n", [4, 5, 9, 30])
@pytest.mark.parametrize("psd", [True, False])
def test_hsic_estimators_match_reference(n: int, psd: bool) -> None:
    rng = np.random.default_rng(n + 100 * psd)
    k, g = random_gram(rng, n, psd), random_gram(rng, n, psd)
    assert hsic_biased(k, g) == pytest.approx(ref_hsic0(k, g), rel=1e-10, abs=1e-12)
    assert hsic_unbiased(k, g) == pytest.approx(ref_hsic1(k, g), rel=1e-10, abs=1e-12)


def test_unbiased_hsic_is_unbiased_where_biased_is_not() -> None:
    # Independent X, Y: population HSIC is 0. Averaged over many draws the unbiased estimator
    # is ~0 (within 5 standard errors) while the biased one is clearly positive.
    rng = np.random.default_rng(0)
    u, b = [], []
    for _ in range(300):
        x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
        u.append(hsic_unbiased(x @ x.T, y @ y.T))
        b.append(hsic_biased(x @ x.T, y @ y.T))
    se = np.std(u) / np.sqrt(len(u))
    assert abs(np.mean(u)) < 5 * se
    assert np.mean(b) > 5 * np.std(b) / np.sqrt(len(b))


def test_hsic_validation() -> None:
    rng = np.random.default_rng(1)
    k = random_gram(rng, 6)
    with pytest.raises(ValueError, match="K has 6, L has 5"):
        hsic_biased(k, random_gram(rng, 5))
    with pytest.raises(ValueError, match="at least 4"):
        hsic_unbiased(k[:3, :3], k[:3, :3])
    with pytest.raises(ValueError, match="square"):
        hsic_biased(k[:, :5], k[:, :5])
    with pytest.raises(ValueError, match="symmetric"):
        hsic_unbiased(k + np.triu(np.ones((6, 6)), 1), k)
    bad = k.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hsic_biased(bad, k)


# ---------------------------------------------------------------- linear CKA


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("method", ["auto", "features", "gram"])
@pytest.mark.parametrize(("n", "d1", "d2"), [(40, 3, 5), (12, 50, 7), (25, 25, 1), (6, 2, 80)])
def test_linear_cka_matches_reference(estimator: Est, method: Meth, n: int, d1: int,
                                      d2: int) -> None:
    rng = np.random.default_rng(n * 1000 + d1 * 10 + d2)
    x, y = related_pair(rng, n, d1, d2)
    got = linear_cka(x, y, estimator, method=method)
    assert got == pytest.approx(ref_linear_cka(x, y, estimator), rel=1e-9, abs=1e-12)


def test_linear_cka_of_scalars_is_squared_correlation() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(50)
    y = 0.5 * x + rng.standard_normal(50)
    r = np.corrcoef(x, y)[0, 1]
    assert linear_cka(x, y) == pytest.approx(r**2, rel=1e-10)


def test_linear_cka_flattens_trailing_axes() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((20, 2, 3, 4)), rng.standard_normal((20, 5, 2))
    for est in ("biased", "unbiased"):
        assert linear_cka(x, y, est) == pytest.approx(
            ref_linear_cka(x.reshape(20, -1), y.reshape(20, -1), est), rel=1e-10)


def test_blocked_paths_match_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny block budget forces many row blocks (Gram side) and one-rep groups (features).
    monkeypatch.setattr(cka_matrix_module, "_BLOCK_ELEMENTS", 37)
    rng = np.random.default_rng(4)
    x, y = related_pair(rng, 23, 6, 9)
    for est in ("biased", "unbiased"):
        ref = ref_linear_cka(x, y, est)
        for method in ("features", "gram"):
            got = linear_cka(x, y, est, method=method)
            assert got == pytest.approx(ref, rel=1e-10)


def test_linear_cka_precision_with_large_offset() -> None:
    # Centring happens before any product, so a large common offset costs no accuracy.
    rng = np.random.default_rng(5)
    x, y = related_pair(rng, 30, 4, 4)
    ref = ref_linear_cka(x, y, "biased")
    assert linear_cka(x + 1e6, y - 3e5) == pytest.approx(ref, rel=1e-7)


def test_linear_cka_validation() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="X has 10, Y has 9"):
        linear_cka(x, rng.standard_normal((9, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        linear_cka(x, np.where(x > 1.5, np.inf, x))
    with pytest.raises(ValueError, match="NaN or inf"):
        linear_cka(np.where(x > 1.5, np.nan, x), x)
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(x[:3], x[:3], "unbiased")
    with pytest.raises(ValueError, match="at least 2"):
        linear_cka(x[:1], x[:1])
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(np.ones((10, 2)), x)
    with pytest.raises(ValueError, match="estimator"):
        linear_cka(x, x, "debiased")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        linear_cka(x, x, method="both")  # type: ignore[arg-type]


# ---------------------------------------------------------------- RBF CKA


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("fraction", [0.2, 0.8, 2.0])
def test_rbf_cka_matches_reference(estimator: Est, fraction: float) -> None:
    rng = np.random.default_rng(int(fraction * 10))
    x, y = related_pair(rng, 30, 4, 6, noise=0.5)
    ref = ref_cka_from_grams(ref_rbf_gram(x, fraction), ref_rbf_gram(y, fraction), estimator)
    got = rbf_cka(x, y, fraction, estimator)
    assert got == pytest.approx(ref, rel=1e-9)


def test_rbf_gram_matches_reference() -> None:
    x = np.random.default_rng(7).standard_normal((15, 2, 3))
    np.testing.assert_allclose(rbf_gram(x, 0.5), ref_rbf_gram(x, 0.5), rtol=1e-10, atol=1e-14)


def test_rbf_cka_tends_to_linear_cka_for_wide_kernels() -> None:
    # exp(-d^2 / 2s^2) = 1 - d^2 / 2s^2 + O(s^-4); after centring the first-order term is
    # the linear Gram / s^2, so the gap shrinks like (median distance / s)^2 = fraction^-2.
    rng = np.random.default_rng(8)
    x, y = related_pair(rng, 40, 5, 3)
    lin = linear_cka(x, y)
    gaps = [abs(rbf_cka(x, y, f) - lin) for f in (3.0, 30.0, 300.0)]
    assert gaps[2] < 1e-4
    assert gaps[0] > gaps[1] > gaps[2]


def test_rbf_cka_validation() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 3))
    with pytest.raises(ValueError, match="X has 8, Y has 7"):
        rbf_cka(x, x[:7])
    with pytest.raises(ValueError, match="median pairwise distance"):
        rbf_cka(np.repeat(x[:1], 8, axis=0) + (np.arange(8) == 0)[:, None], x)
    with pytest.raises(ValueError, match="sigma_fraction"):
        rbf_cka(x, x, sigma_fraction=0.0)
    with pytest.raises(ValueError, match="at least 4"):
        rbf_cka(x[:3], x[:3], estimator="unbiased")

"""Minibatch CKA (Nguyen, Raghu, Kornblith 2021) against plain per-batch references."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import numpy as np
import pytest
import zarr

from analysis.measures import linear_cka, minibatch_cka, minibatch_cka_matrix


def ref_hsic1(k: np.ndarray, g: np.ndarray) -> float:
    """Song et al. 2012, eq. 5, term by term (independent of the library)."""
    n = k.shape[0]
    kt, gt, one = k - np.diag(np.diag(k)), g - np.diag(np.diag(g)), np.ones(n)
    bracket = (np.trace(kt @ gt) + (one @ kt @ one) * (one @ gt @ one) / ((n - 1) * (n - 2))
               - 2.0 / (n - 2) * (one @ kt @ gt @ one))
    return float(bracket / (n * (n - 3)))


def per_batch_hsic(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    k, g = x @ x.T, y @ y.T
    return ref_hsic1(k, g), ref_hsic1(k, k), ref_hsic1(g, g)


def make_data(seed: int, n: int, d1: int = 12, d2: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d1))
    y = np.tanh(x[:, :6] @ rng.standard_normal((6, d2))) + 0.7 * rng.standard_normal((n, d2))
    return x, y


def batches(x: np.ndarray, y: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for s in range(0, len(x), size):
        yield x[s:s + size], y[s:s + size]


@pytest.mark.parametrize("size", [5, 16, 37])
def test_equals_ratio_of_averaged_per_batch_unbiased_hsic(size: int) -> None:
    x, y = make_data(size, 160)  # 37 leaves a ragged last batch of 12 rows
    values = np.array([per_batch_hsic(xb, yb) for xb, yb in batches(x, y, size)])
    xy, xx, yy = values.mean(axis=0)
    expected = xy / np.sqrt(xx * yy)
    assert minibatch_cka(batches(x, y, size)) == pytest.approx(expected, rel=1e-10)


def test_single_batch_equals_full_unbiased_cka() -> None:
    x, y = make_data(1, 64, d1=80, d2=5)
    full = linear_cka(x, y, "unbiased")
    assert minibatch_cka([(x, y)]) == pytest.approx(full, rel=1e-12)
    assert minibatch_cka([(x.reshape(64, 8, 10), y)]) == pytest.approx(full, rel=1e-12)


def test_approaches_full_unbiased_cka_within_its_standard_error() -> None:
    # Both estimators target the same population CKA. The minibatch one uses only the
    # within-batch pairs, the full one all pairs, so Var(mb - full) <= Var(mb). We estimate
    # SE(mb) from the spread of the m independent per-batch HSIC values (disjoint batches of
    # i.i.d. rows) with the delta method for r = a / sqrt(b c):
    #   r_i' = r * (a_i / a - b_i / (2b) - c_i / (2c)),  SE = std(r_i') / sqrt(m),
    # and require |mb - full| < 4 SE (a 4-sigma bound, so the test fails for a real bias).
    n, size = 4000, 100
    x, y = make_data(2, n)
    full = linear_cka(x, y, "unbiased")
    mb = minibatch_cka(batches(x, y, size))
    values = np.array([per_batch_hsic(xb, yb) for xb, yb in batches(x, y, size)])
    a, b, c = values.mean(axis=0)
    r = a / np.sqrt(b * c)
    assert mb == pytest.approx(r, rel=1e-10)
    linear = r * (values[:, 0] / a - values[:, 1] / (2 * b) - values[:, 2] / (2 * c))
    se = linear.std(ddof=1) / np.sqrt(len(values))
    assert 0 < se < 0.05
    assert abs(mb - full) < 4 * se
    # The biased estimator on the same minibatches is far off: it is inflated at small b.
    biased_mb = np.mean([linear_cka(xb, yb) for xb, yb in batches(x, y, size)])
    assert biased_mb - full > 4 * se


def test_matrix_matches_pairwise_minibatch_cka() -> None:
    x, y = make_data(3, 90)
    z = np.sin(y[:, :4]) + 0.1 * x[:, :4]
    reps = [x, y, z.reshape(90, 2, 2)]
    stream = [[r[s:s + 12] for r in reps] for s in range(0, 90, 12)]  # last batch has 6 rows
    m = minibatch_cka_matrix(stream)
    assert m.shape == (3, 3)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-12)
    np.testing.assert_allclose(m, m.T, atol=0)
    for i in range(3):
        for j in range(3):
            pairs = [(b[i], b[j]) for b in stream]
            assert m[i, j] == pytest.approx(minibatch_cka(pairs), rel=1e-10)


def test_streams_chunks_of_a_zarr_array() -> None:
    x, y = make_data(4, 200)
    zx = zarr.create_array(store={}, shape=x.shape, chunks=(40, x.shape[1]), dtype="f8")
    zy = zarr.create_array(store={}, shape=y.shape, chunks=(40, y.shape[1]), dtype="f8")
    zx[:], zy[:] = x, y
    stream = ((zx[s:s + 40], zy[s:s + 40]) for s in range(0, 200, 40))
    assert minibatch_cka(stream) == pytest.approx(minibatch_cka(batches(x, y, 40)), rel=1e-12)


def _peak_bytes(n: int, size: int, d: int) -> int:
    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(0)
        for _ in range(n // size):
            xb = rng.standard_normal((size, d))
            yield xb, xb[:, ::-1] + rng.standard_normal((size, d))

    tracemalloc.start()
    try:
        minibatch_cka(generate())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_the_stream_grows() -> None:
    # tracemalloc sees the NumPy side (batches, centred copies, per-batch HSIC matrices),
    # which is what would grow if minibatches were kept; torch's Gram-side temporaries are
    # not traced but are bounded by cka_matrix._BLOCK_ELEMENTS whatever the stream length.
    small, large = _peak_bytes(400, 50, 30), _peak_bytes(6400, 50, 30)
    assert large < 1.5 * small
    # and the full data (6400 x 30 x 2 float64 = 3 MB) is never held at once
    assert large < 6400 * 30 * 8


def test_validation() -> None:
    x, y = make_data(5, 40)
    with pytest.raises(ValueError, match="no minibatches"):
        minibatch_cka([])
    with pytest.raises(ValueError, match="at least 4"):
        minibatch_cka(batches(x[:23], y[:23], 10))  # last batch has 3 rows
    with pytest.raises(ValueError, match=r"has 10.*has 9"):
        minibatch_cka([(x[:10], y[:9])])
    with pytest.raises(ValueError, match="feature sizes"):
        minibatch_cka([(x[:10], y[:10]), (x[10:20], y[10:20, :5])])
    with pytest.raises(ValueError, match="NaN or inf"):
        minibatch_cka([(x[:10], np.full((10, 3), np.nan))])
    with pytest.raises(ValueError, match="pair"):
        minibatch_cka([(x[:10], y[:10], y[:10])])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="zero variance"):
        minibatch_cka([(x[:10], np.ones((10, 2)))])
    with pytest.raises(ValueError, match="feature sizes"):
        minibatch_cka_matrix([[x[:10], y[:10]], [x[10:20], y[10:20], y[10:20]]])

"""Procrustes distance, SVCCA, mutual k-NN and batched RBF CKA against independent float64
references, with their invariances (issue #17); chunk-aligned streaming reads (#19)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group

from analysis._streaming import ChunkRows, block_starts
from analysis.measures import (
    mutual_knn,
    mutual_knn_pairs,
    procrustes_distance,
    procrustes_pairs,
    rbf_cka,
    rbf_cka_pairs,
    svcca,
    svcca_pairs,
)
from analysis.measures._prepare import Estimator
from store import array_hasher


def _pair(seed: int, n: int = 60, d1: int = 6, d2: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d1))
    y = np.tanh(x @ rng.normal(size=(d1, d2))) + 0.3 * rng.normal(size=(n, d2))
    return x, y


def _procrustes_reference(x: np.ndarray, y: np.ndarray) -> float:
    """min over orthogonal R of ||X R - Y||_F^2, normalised, narrower side zero-padded."""
    x, y = x - x.mean(0), y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    d = max(x.shape[1], y.shape[1])
    xp, yp = np.zeros((len(x), d)), np.zeros((len(y), d))
    xp[:, : x.shape[1]], yp[:, : y.shape[1]] = x, y
    r, _ = orthogonal_procrustes(xp, yp)
    return float(np.linalg.norm(xp @ r - yp) ** 2)


def _cca_reference(x: np.ndarray, y: np.ndarray, keep: float) -> float:
    """SVD-truncate each side, then canonical correlations from covariance eigenvalues."""
    def reduce(a: np.ndarray) -> np.ndarray:
        a = a - a.mean(0)
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        share = np.cumsum(s**2) / np.sum(s**2)
        r = int(np.argmax(share >= keep - 1e-12)) + 1
        return u[:, :r] * s[:r]
    a, b = reduce(x), reduce(y)
    saa, sbb, sab = a.T @ a, b.T @ b, a.T @ b
    m = np.linalg.solve(saa, sab) @ np.linalg.solve(sbb, sab.T)
    rho2 = np.sort(np.linalg.eigvals(m).real)[::-1][: min(a.shape[1], b.shape[1])]
    return float(np.sqrt(np.clip(rho2, 0, 1)).mean())


def _mknn_reference(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Huh et al.'s definition, one sample at a time, ties to the lower index."""
    def neighbours(a: np.ndarray) -> list[set[int]]:
        u = a / np.linalg.norm(a, axis=1, keepdims=True)
        out = []
        for i in range(len(u)):
            sims = [(-float(u[i] @ u[j]), j) for j in range(len(u)) if j != i]
            out.append({j for _, j in sorted(sims)[:k]})
        return out
    nx, ny = neighbours(x), neighbours(y)
    return float(np.mean([len(a & b) / k for a, b in zip(nx, ny, strict=True)]))


@pytest.mark.parametrize("seed", [0, 1])
def test_measures_match_float64_references(seed: int) -> None:
    x, y = _pair(seed)
    assert procrustes_distance(x, y) == pytest.approx(_procrustes_reference(x, y), abs=1e-10)
    assert svcca(x, y, keep=1.0) == pytest.approx(_cca_reference(x, y, 1.0), abs=1e-8)
    assert svcca(x, y, keep=0.9) == pytest.approx(_cca_reference(x, y, 0.9), abs=1e-8)
    assert mutual_knn(x, y, k=5) == pytest.approx(_mknn_reference(x, y, 5), abs=1e-12)


def test_wide_representations_are_reduced_without_changing_the_distance() -> None:
    x, y = _pair(2, n=20, d1=50, d2=30)  # d > n: the n-column factor replaces X
    assert procrustes_distance(x, y) == pytest.approx(_procrustes_reference(x, y), abs=1e-10)


def test_invariances() -> None:
    x, y = _pair(3, n=80, d1=5, d2=5)
    q = ortho_group.rvs(5, random_state=4)
    moved = 3.0 * x @ q + 7.0  # rotation, isotropic scaling, translation
    assert procrustes_distance(moved, y) == pytest.approx(procrustes_distance(x, y), abs=1e-10)
    assert procrustes_distance(moved, x) == pytest.approx(0.0, abs=1e-10)
    assert svcca(moved, y) == pytest.approx(svcca(x, y), abs=1e-10)
    a = np.random.default_rng(5).normal(size=(5, 5))  # invertible, not orthogonal
    assert svcca(x @ a, y, keep=1.0) == pytest.approx(svcca(x, y, keep=1.0), abs=1e-8)
    assert procrustes_distance(x @ a, y) != pytest.approx(procrustes_distance(x, y), abs=1e-3)
    rotated = 2.5 * x @ q  # mutual k-NN: rotation and scaling, not translation (cosine)
    assert mutual_knn(rotated, y) == mutual_knn(x, y)
    assert mutual_knn(rotated, x) == 1.0
    scaled_rows = x * np.random.default_rng(6).uniform(0.5, 2, size=(80, 1))
    assert mutual_knn(scaled_rows, y) == mutual_knn(x, y)


def test_all_pairs_equal_the_pairwise_values() -> None:
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=(50, 3 + i)) for i in range(4)]
    for pairs, single in ((procrustes_pairs, procrustes_distance), (svcca_pairs, svcca),
                          (mutual_knn_pairs, mutual_knn)):
        m = pairs(xs)
        want = np.array([[single(a, b) for b in xs] for a in xs])
        np.testing.assert_allclose(m, want, atol=1e-10)
        np.testing.assert_allclose(pairs(xs[1:3], xs), want[1:3], atol=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_batched_rbf_cka_equals_the_pairwise_function(estimator: str) -> None:
    rng = np.random.default_rng(8)
    xs = [rng.normal(size=(40, 2 + i)) ** (i + 1) for i in range(4)]
    for fraction in (0.5, 0.8):
        want = np.array([[rbf_cka(a, b, fraction, estimator) for b in xs] for a in xs])
        np.testing.assert_allclose(rbf_cka_pairs(xs, estimator=estimator,  # type: ignore[arg-type]
                                                 sigma_fraction=fraction), want, atol=1e-12)
        np.testing.assert_allclose(rbf_cka_pairs(xs[:1], xs[2:], estimator=estimator,  # type: ignore[arg-type]
                                                 sigma_fraction=fraction), want[:1, 2:],
                                   atol=1e-12)
    with pytest.raises(ValueError, match="layer 9"):
        rbf_cka_pairs([xs[0], np.zeros((40, 3))], labels_x=["a", "layer 9"])


def _symmetric_from_upper(upper: np.ndarray, n: int) -> np.ndarray:
    k = np.zeros((n, n))
    k[np.triu_indices(n, 1)] = upper
    return k + k.T


@pytest.mark.parametrize("n", [50, 300, 301])
def test_pair_median_equals_numpy_median(n: int) -> None:
    """The bracketed selection gives np.median's value bit for bit, ties and misses included."""
    from analysis.measures._prepare import squared_distances
    from analysis.measures.rbf_cka import _pair_median

    rng = np.random.default_rng(n)
    iu = np.triu_indices(n, 1)
    cases = [squared_distances(rng.normal(size=(n, 5))),  # continuous
             squared_distances(rng.integers(0, 3, size=(n, 2)).astype(float)),  # ties
             squared_distances(np.arange(float(n))[:, None])]  # structured
    m = n * (n - 1) // 2
    upper = rng.random(m) + 1.0
    upper[:: m // 4096 if m > 4096 else 1] = 0.0  # the strided sample misses the median
    cases.append(_symmetric_from_upper(upper, n))
    for d2 in cases:
        assert _pair_median(d2) == float(np.median(d2[iu]))


@pytest.mark.parametrize("unbiased", [False, True])
def test_centred_upper_packs_the_centred_gram(unbiased: bool) -> None:
    from analysis.measures._prepare import center_gram, centred_upper, u_center_gram

    a = np.random.default_rng(3).normal(size=(30, 4))
    k = np.exp(-np.square(a[:, None] - a[None]).sum(-1))
    want = (u_center_gram if unbiased else center_gram)(k)
    out = np.empty(30 * 29 // 2)
    diag = centred_upper(k, unbiased, out)
    np.testing.assert_allclose(out, want[np.triu_indices(30, 1)], atol=1e-14)
    np.testing.assert_allclose(diag, want.diagonal(), atol=1e-14)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_batched_rbf_cka_at_a_size_that_brackets_the_median(estimator: Estimator) -> None:
    rng = np.random.default_rng(9)
    xs = [np.tanh(rng.normal(size=(300, 8)) * (i + 1)) for i in range(3)]
    want = np.array([[rbf_cka(a, b, 0.8, estimator) for b in xs] for a in xs])
    np.testing.assert_allclose(rbf_cka_pairs(xs, estimator=estimator), want, atol=1e-12)


class _CountingArray:
    """An array that counts how often each chunk is touched by a read."""

    def __init__(self, data: np.ndarray, chunk: int) -> None:
        self.data, self.chunk, self.reads = data, chunk, np.zeros(-(-len(data) // chunk), int)
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, sl: slice) -> np.ndarray:
        self.reads[sl.start // self.chunk: -(-sl.stop // self.chunk)] += 1
        return self.data[sl]


@pytest.mark.parametrize(("n", "chunk", "rows"), [(1000, 128, 40), (1000, 30, 64), (203, 50, 50)])
def test_chunk_rows_decode_each_chunk_once(n: int, chunk: int, rows: int) -> None:
    data = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    array = _CountingArray(data, chunk)
    reader = ChunkRows(array, chunk)
    starts = block_starts(n, rows)
    ends = [*starts[1:], n]
    got = [np.array(reader.take(s, e)) for s, e in zip(starts, ends, strict=True)]
    np.testing.assert_array_equal(np.concatenate(got), data)
    assert (array.reads == 1).all()
    want = array_hasher(data.dtype, data.shape)
    want.update(data.tobytes())
    assert reader.hexdigest() == want.hexdigest()  # the streamed bytes are the whole array

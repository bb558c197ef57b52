"""Issue #19's ratios: the similarity query path against its batched kernel, in one run.

Every representation is stored as a real activation array in a real catalog (SQLite in a
temporary directory, Zarr arrays), so a query pays what a user's query pays: listing the
activations, reading and checksumming the Zarr chunks, the measure, and writing the cache
rows. Each ratio is printed against a baseline measured in the same process.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.measures import linear_cka_matrix, minibatch_cka_matrix, rbf_gram
from analysis.measures._prepare import center_gram, check_gram
from analysis.queries import cka_matrix
from analysis.similarity import SimilarityQuery
from store import Catalog


@dataclass(frozen=True)
class QuerySizes:
    """Sizes of the query benchmark (issue #19 measured k=20, n=2000, d=256)."""

    k: int = 20
    n: int = 2000
    d: int = 256
    rbf_k: int = 10
    rbf_n: int = 1000
    stream_ns: tuple[int, ...] = (10_000, 40_000, 160_000)
    stream_d: int = 64
    batch: int = 256
    full_n: int = 160_000
    full_k: int = 4
    full_d: int = 256


QUICK_QUERIES = QuerySizes(k=6, n=300, d=32, rbf_k=4, rbf_n=200, stream_ns=(2000, 8000),
                           stream_d=16, batch=128, full_n=20_000, full_k=3, full_d=16)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _catalog(root: Path, reps: list[np.ndarray], probe: str = "probe") -> tuple[Catalog, list[int]]:
    cat = Catalog.create(f"sqlite:///{root}/catalog.db", str(root / "arrays"))
    cat.create_probe_set(probe, list(range(reps[0].shape[0])))
    ids = []
    for seed, x in enumerate(reps):
        model = cat.add_model("mlp", seed=seed)
        cat.add_activation(model.id, "fc", probe, x)
        cat.add_activation(model.id, "logits", probe, x[:, :2] + x[:, 2:4])
        ids.append(model.id)
    return cat, ids


def _reps(rng: np.random.Generator, k: int, n: int, d: int) -> list[np.ndarray]:
    base = rng.standard_normal((n, d))
    return [(np.tanh(base @ rng.standard_normal((d, d)) / np.sqrt(d))
             + 0.3 * (i + 1) * rng.standard_normal((n, d))).astype(np.float32)
            for i in range(k)]


def _old_rbf_gram(x: np.ndarray, fraction: float) -> np.ndarray:
    """``rbf_gram`` as it was when issue #19 was filed (four (n, n) temporaries, triu indices)."""
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    xc = x - x.mean(axis=0, keepdims=True)
    sq = np.einsum("ij,ij->i", xc, xc)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (xc @ xc.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    k = d2 / (-2.0 * fraction**2 * float(np.median(d2[np.triu_indices_from(d2, k=1)])))
    return np.exp(k, out=k)


def _old_rbf_loop(reps: list[np.ndarray], fraction: float) -> np.ndarray:
    """The RBF query before #19: a Gram per rep, then HSIC pair by pair (re-checked).

    The code of the query as the issue measured it (``_old_rbf_gram``, ``check_gram`` and
    ``center_gram`` per pair), kept here so that speeding up today's functions does not
    move this baseline.
    """
    grams = [_old_rbf_gram(x, fraction) for x in reps]

    def hsic(k: np.ndarray, ell: np.ndarray) -> float:
        km, lm = check_gram(k, "K", min_samples=2), check_gram(ell, "L", min_samples=2)
        return float((center_gram(km) * lm).sum())

    self_h = [hsic(g, g) for g in grams]
    out = np.empty((len(reps), len(reps)))
    for i, a in enumerate(grams):
        for j, b in enumerate(grams):
            out[i, j] = hsic(a, b) / np.sqrt(self_h[i] * self_h[j])
    return out


Measure = Callable[[Callable[[], float]], tuple[float, float, float, float]]


def bench_queries(sizes: QuerySizes, rng: np.random.Generator, measured: Measure) -> None:
    """Print the cold/warm linear query, RBF and streaming ratios of issue #19.

    ``measured(fn)`` runs ``fn`` and returns (value, seconds, traced MiB, RSS growth MiB).
    """
    k, n, d = sizes.k, sizes.n, sizes.d
    reps = _reps(rng, k, n, d)
    print(f"[4] similarity queries (issue #19): {k} stored reps, n={n}, d={d}, float32 in Zarr")
    with tempfile.TemporaryDirectory() as tmp:
        cat, ids = _catalog(Path(tmp), reps)
        with cat:
            for est in ("biased", "unbiased"):
                t_kernel = min(_timed(lambda e=est: linear_cka_matrix(reps, e)) for _ in range(2))
                q = SimilarityQuery("linear", est)
                frame = None

                def query(q: SimilarityQuery = q) -> None:
                    nonlocal frame
                    frame = cka_matrix(cat, ids, "fc", q)

                t_cold = _timed(query)
                assert frame is not None and frame.attrs["cached"] == 0
                t_warm = _timed(query)
                assert frame.attrs["cached"] == k * k
                diff = float(np.abs(frame.to_numpy() - linear_cka_matrix(reps, est)).max())
                print(f"    linear {est:8s}: kernel {t_kernel:6.3f} s | cold query "
                      f"{t_cold:6.3f} s = {t_cold / t_kernel:5.2f}x | warm {t_warm:6.3f} s = "
                      f"{t_warm / t_kernel:5.3f}x   (max |query - kernel| {diff:.1e})")
    rk, rn = sizes.rbf_k, sizes.rbf_n
    small = [x[:rn] for x in reps[:rk]]
    print(f"    RBF CKA all pairs, {rk} reps, n={rn} (biased, sigma 0.8 of the median):")
    with tempfile.TemporaryDirectory() as tmp:
        cat, ids = _catalog(Path(tmp), small)
        with cat:
            t_grams = _timed(lambda: [rbf_gram(x) for x in small])
            t_old = _timed(lambda: _old_rbf_loop(small, 0.8))
            t_new = _timed(lambda: cka_matrix(cat, ids, "fc", SimilarityQuery("rbf")))
            print(f"      building the {rk} Grams {t_grams:6.3f} s | old pairwise loop "
                  f"{t_old:6.3f} s | cold query {t_new:6.3f} s = {t_new / t_grams:4.2f}x the "
                  f"Grams, {t_old / t_new:5.1f}x faster than the loop")
    _bench_streaming(sizes, rng, measured)
    _bench_full_memory(sizes, rng, measured)


def _bench_full_memory(sizes: QuerySizes, rng: np.random.Generator, measured: Measure) -> None:
    """Peak memory of the full-batch unbiased query on large n (row blocks, read twice)."""
    n, k, d = sizes.full_n, sizes.full_k, sizes.full_d
    reps = [rng.standard_normal((n, d), dtype=np.float32) for _ in range(k)]
    data = sum(x.nbytes for x in reps) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        cat, ids = _catalog(Path(tmp), reps)
        with cat:
            q = SimilarityQuery("linear", "unbiased")

            def query() -> float:
                return float(cka_matrix(cat, ids, "fc", q).to_numpy()[0, 1])

            _, t_query, _, rss = measured(query)
            got = cka_matrix(cat, ids, "fc", q).to_numpy()  # cached now
    t_kernel = _timed(lambda: linear_cka_matrix(reps, "unbiased"))
    diff = float(np.abs(got - linear_cka_matrix(reps, "unbiased")).max())
    print(f"    full-batch unbiased query, {k} reps, n={n}, d={d} (data {data:.0f} MiB): "
          f"RSS +{rss:.0f} MiB = {rss / data:.2f}x the data, {t_query:.1f} s "
          f"(in-memory linear_cka_matrix {t_kernel:.1f} s), max |query - kernel| {diff:.1e}")


def _bench_streaming(sizes: QuerySizes, rng: np.random.Generator, measured: Measure) -> None:
    b, d = sizes.batch, sizes.stream_d
    print(f"    minibatch CKA of 2 reps (d={d}, batch {b}) streamed from Zarr vs the same "
          "minibatches in memory (RSS growth in MiB):")
    for n in sizes.stream_ns:
        x = rng.standard_normal((n, d)).astype(np.float32)
        y = (np.tanh(x @ rng.standard_normal((d, d)).astype(np.float32))
             + rng.standard_normal((n, d)).astype(np.float32))
        _stream_once(x, y, b, measured)


def _stream_once(x: np.ndarray, y: np.ndarray, b: int, measured: Measure) -> None:
    n = x.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        cat, ids = _catalog(Path(tmp), [x, y])
        with cat:
            chunk = cat.arrays.open(cat.get_activation(ids[0], "fc", "probe").array_key)
            q = SimilarityQuery("linear", "minibatch", options={"batch_size": b})

            def in_memory() -> float:
                return float(minibatch_cka_matrix(
                    [x[s:s + b], y[s:s + b]] for s in range(0, n, b))[0, 1])

            def streamed() -> float:
                return float(cka_matrix(cat, ids, "fc", q).iloc[0, 1])

            v_mem, t_mem, _, _ = measured(in_memory)
            v_zarr, t_zarr, _, rss_zarr = measured(streamed)
            print(f"      n={n:7d} (chunks of {chunk.chunks[0]} rows): in memory "
                  f"{t_mem:6.3f} s, from Zarr {t_zarr:6.3f} s = {t_zarr / t_mem:4.2f}x, "
                  f"RSS +{rss_zarr:6.1f} MiB (data {2 * x.nbytes / 2**20:6.1f} MiB), "
                  f"|diff| {abs(v_mem - v_zarr):.1e}")

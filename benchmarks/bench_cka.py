"""Benchmark of the CKA measures in ``analysis.measures``.

Run ``.venv/bin/python benchmarks/bench_cka.py [--quick]``. Three parts, each measured in the
same process so the numbers are comparable:

1. all-pairs linear CKA of k representations: ``linear_cka_matrix`` (batched) against a
   plain Python loop of ``linear_cka`` over the k(k-1)/2 pairs;
2. one large pair: ``linear_cka`` time and GEMM-equivalent GFLOP/s against a plain
   ``torch.matmul`` (float64) of comparable size;
3. peak memory (tracemalloc and resident set) of ``minibatch_cka`` streaming over growing n
   with a fixed batch size, next to full-batch ``linear_cka`` holding all n rows;
4. issue #19's ratios (``_bench_queries.py``): the cold and warm ``cka_matrix`` query on
   arrays stored in a real catalog against ``linear_cka_matrix`` on the same arrays, the
   batched RBF query against building the Gram matrices and against the old pairwise loop,
   and minibatch CKA streamed from Zarr against the same minibatches in memory.

``--quick`` shrinks every size for a smoke run of a few seconds. Run it with one BLAS
thread per process (``OMP_NUM_THREADS=1``) on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from _bench_queries import QUICK_QUERIES, QuerySizes, bench_queries  # script directory

from analysis.measures import linear_cka, linear_cka_matrix, minibatch_cka


@dataclass(frozen=True)
class Sizes:
    k: int
    n_pairs: int
    d_pairs: int
    n_large: int
    d_large: int
    stream_ns: tuple[int, ...]
    batch: int
    d_stream: int
    repeats: int


FULL = Sizes(k=20, n_pairs=2000, d_pairs=256, n_large=10_000, d_large=2048,
             stream_ns=(2000, 8000, 32_000), batch=500, d_stream=256, repeats=2)
QUICK = Sizes(k=6, n_pairs=300, d_pairs=32, n_large=1000, d_large=128,
              stream_ns=(500, 2000, 8000), batch=250, d_stream=32, repeats=2)


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Smallest wall time over ``repeats`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def related_reps(rng: np.random.Generator, k: int, n: int, d: int) -> list[np.ndarray]:
    base = rng.standard_normal((n, d))
    return [np.tanh(base @ rng.standard_normal((d, d)) / np.sqrt(d))
            + 0.3 * (i + 1) * rng.standard_normal((n, d)) for i in range(k)]


def bench_all_pairs(sizes: Sizes, rng: np.random.Generator) -> None:
    k, n, d = sizes.k, sizes.n_pairs, sizes.d_pairs
    print(f"[1] all-pairs linear CKA, k={k} representations, n={n}, d={d} (float64)")
    reps = related_reps(rng, k, n, d)

    def naive() -> np.ndarray:
        out = np.eye(k)
        for i in range(k):
            for j in range(i + 1, k):
                out[i, j] = out[j, i] = linear_cka(reps[i], reps[j])
        return out

    t_batched, batched = best_time(lambda: linear_cka_matrix(reps), sizes.repeats)
    t_naive, looped = best_time(naive, 1)
    diff = float(np.abs(np.asarray(batched) - np.asarray(looped)).max())
    print(f"    batched linear_cka_matrix : {t_batched:8.3f} s")
    print(f"    pairwise loop ({k * (k - 1) // 2:4d} calls): {t_naive:8.3f} s")
    print(f"    speed-up                  : {t_naive / t_batched:8.2f} x   "
          f"(max |difference| {diff:.1e})")


def bench_large_pair(sizes: Sizes, rng: np.random.Generator) -> None:
    n, d = sizes.n_large, sizes.d_large
    print(f"[2] one large pair, n={n}, d1=d2={d} (float64)")
    x = rng.standard_normal((n, d))
    y = np.tanh(x @ rng.standard_normal((d, d)) / np.sqrt(d)) + rng.standard_normal((n, d))
    # GEMM-equivalent work of the feature side: X^T X, Y^T Y and Y^T X, 2 n d_i d_j each.
    flops = 2.0 * n * (d * d + d * d + d * d)
    linear_cka(x[:500], y[:500])  # warm up the BLAS threads
    t_cka, _ = best_time(lambda: linear_cka(x, y), 1)
    t_unb, _ = best_time(lambda: linear_cka(x, y, "unbiased"), 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    t_mm, _ = best_time(lambda: torch.matmul(xt.T, yt), sizes.repeats)
    mm_flops = 2.0 * n * d * d
    g_cka, g_mm = flops / t_cka / 1e9, mm_flops / t_mm / 1e9
    print(f"    linear_cka (biased)       : {t_cka:8.3f} s  {g_cka:7.1f} GFLOP/s (GEMM-equivalent)")
    print(f"    linear_cka (unbiased)     : {t_unb:8.3f} s  {flops / t_unb / 1e9:7.1f} GFLOP/s")
    print(f"    torch.matmul ({d}x{n})@({n}x{d}): {t_mm:6.3f} s  {g_mm:7.1f} GFLOP/s")
    print(f"    linear_cka / matmul rate  : {g_cka / g_mm:8.2f}   "
          f"(> 1 possible: the Gram-of-concatenation product is a symmetric rank-k update)")


def stream(n: int, batch: int, d: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches generated on the fly, as a reader of Zarr chunks would yield them."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, d)) / np.sqrt(d)
    for start in range(0, n, batch):
        xb = rng.standard_normal((min(batch, n - start), d))
        yield xb, np.tanh(xb @ w) + rng.standard_normal(xb.shape)


def _rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc``), or None where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``), so RSS tracks live memory."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS may read low
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measured(fn: Callable[[], float]) -> tuple[float, float, float, float]:
    """Run ``fn``; return (value, seconds, peak MiB traced, peak RSS growth MiB).

    tracemalloc sees NumPy's allocations but not torch's (the Gram side runs in torch), so
    the resident set size is also sampled every 2 ms from a thread and its peak above the
    value before the call reported (NaN where ``/proc`` is unavailable). Freed heap memory
    is handed back first, so that earlier parts of the benchmark do not hide the growth.
    """
    _release_free_memory()
    base = _rss_bytes()
    peak = [base or 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.002):
            peak[0] = max(peak[0], _rss_bytes() or 0)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    start = time.perf_counter()
    try:
        value = fn()
        seconds = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        stop.set()
        sampler.join()
        tracemalloc.stop()
    rss = (max(peak[0], _rss_bytes() or 0) - base) / 2**20 if base else float("nan")
    return value, seconds, traced, rss


def bench_streaming(sizes: Sizes) -> None:
    b, d = sizes.batch, sizes.d_stream
    print(f"[3] minibatch CKA streaming, batch={b}, d1=d2={d}: peak memory in MiB "
          "(traced = tracemalloc, RSS = growth of the resident set)")
    print("         n  batches |  minibatch: CKA     s  traced    RSS |"
          " full batch: CKA     s  traced    RSS")
    for n in sizes.stream_ns:

        def streamed(n: int = n) -> float:
            return minibatch_cka(stream(n, b, d, seed=n))

        def full(n: int = n) -> float:
            xs, ys = zip(*stream(n, b, d, seed=n), strict=True)
            return linear_cka(np.concatenate(xs), np.concatenate(ys), "unbiased")

        mb, t_mb, tr_mb, rss_mb = measured(streamed)
        fv, t_fu, tr_fu, rss_fu = measured(full)
        print(f"    {n:6d}  {-(-n // b):7d} | {mb:15.4f} {t_mb:5.2f} {tr_mb:7.1f} {rss_mb:6.1f} |"
              f" {fv:15.4f} {t_fu:5.2f} {tr_fu:7.1f} {rss_fu:6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rng = np.random.default_rng(args.seed)
    print(f"numpy {np.__version__}, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}, mode {'quick' if args.quick else 'full'}")
    start = time.perf_counter()
    bench_all_pairs(sizes, rng)
    bench_large_pair(sizes, rng)
    bench_streaming(sizes)
    bench_queries(QUICK_QUERIES if args.quick else QuerySizes(), rng, measured)
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

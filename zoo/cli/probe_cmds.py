"""Probe-set and activation commands: zoo probe create/ls, zoo activations import/ls."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from store import InvalidInputError
from zoo.cli._common import (
    MODEL,
    ZooGroup,
    emit_rows,
    json_option,
    location_options,
    open_catalog,
)
from zoo.cli._types import COUNT, NAME
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.group(cls=ZooGroup)
def probe() -> None:
    """Probe sets: ordered sample ids that align inputs across models."""


@probe.command(name="create")
@click.argument("name", type=NAME)
@click.option("--dataset", help="Dataset the ids refer to (name or id).")
@click.option("--split", type=click.Choice(["train", "val", "test"]),
              help="Take the samples of this split (needs --dataset), in id order.")
@click.option("--limit", type=COUNT, help="At most this many samples.")
@click.option("--ids", "ids_file", type=click.Path(dir_okay=False),
              help="A file of sample ids, one per line (instead of --split).")
@location_options
def probe_create(loc: Locations, name: str, dataset: str | None, split: str | None,
                 limit: int | None, ids_file: str | None) -> None:
    """Create a probe set from a dataset split or from a file of ids.

    Example: zoo probe create test-500 --dataset mnist-5k --split test --limit 500
    """
    if (split is None) == (ids_file is None):
        raise click.UsageError("give exactly one of --split or --ids")
    if split is not None and dataset is None:
        raise click.UsageError("--split needs --dataset")
    with open_catalog(loc) as cat:
        if split is not None:
            assert dataset is not None
            _, _, splits = cat.dataset_arrays(dataset)
            ids = np.flatnonzero(splits == split).tolist()
        else:
            ids = _read_ids(Path(str(ids_file)))
        if limit is not None:
            ids = ids[:limit]
        existing = next((p for p in cat.list_probe_sets() if p.name == name), None)
        if existing is not None and cat.probe_sample_ids(existing.id) == [int(i) for i in ids]:
            click.echo(f"probe set {existing.name!r}: {existing.n_samples} samples (id "
                       f"{existing.id}), already stored with these samples")
            return
        record = cat.create_probe_set(name, ids, dataset=dataset)
    click.echo(f"probe set {record.name!r}: {record.n_samples} samples (id {record.id})")


def _read_ids(path: Path) -> list[int]:
    if not path.exists():
        raise InvalidInputError(f"no such file: {path}")
    ids = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                ids.append(int(line.strip()))
            except ValueError:
                raise InvalidInputError(
                    f"{path}:{lineno}: {line.strip()!r} is not an integer sample id") from None
    return ids


@probe.command(name="ls")
@json_option
@location_options
def probe_ls(loc: Locations, as_json: bool) -> None:
    """List probe sets.

    Example: zoo probe ls --json
    """
    with open_catalog(loc) as cat:
        rows = [p.to_dict() for p in cat.list_probe_sets()]
    emit_rows(rows, ["id", "name", "dataset_id", "n_samples", "ids_sha256"], as_json)


@click.group(cls=ZooGroup)
def activations() -> None:
    """Recorded activations: import your own, list what is stored."""


@activations.command(name="import")
@click.argument("model_id", type=MODEL)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", type=NAME, required=True, help="Layer name to store them under.")
@click.option("--probe", "probe_name", required=True, help="Probe set whose samples the rows are.")
@click.option("--key", help="Array name inside a .npz/.safetensors holding several.")
@click.option("--replace", is_flag=True, help="Overwrite activations already stored.")
@location_options
def activations_import(loc: Locations, model_id: str | int, path: str, layer: str, probe_name: str,
                       key: str | None, replace: bool) -> None:
    """Import activations [n_probe, ...] from .npy, .npz or .safetensors.

    Example: zoo activations import 12 acts.npy --layer fc1 --probe test-500
    """
    from zoo.activations_io import load_array_file

    data = load_array_file(Path(path), key)
    with open_catalog(loc) as cat:
        model = cat.get_model(cat.resolve_model(model_id))
        rec = cat.add_activation(model.id, layer, probe_name, data, replace=replace)
    click.echo(f"stored {layer!r} of model {model.name} (id {model.id}): shape "
               f"{list(rec.shape)} {rec.dtype}")


@activations.command(name="ls")
@click.argument("model_id", type=MODEL, required=False)
@json_option
@location_options
def activations_ls(loc: Locations, model_id: str | int | None, as_json: bool) -> None:
    """List stored activations (of one model, or all).

    Example: zoo activations ls 12
    """
    with open_catalog(loc) as cat:
        ref = None if model_id is None else cat.resolve_model(model_id)
        rows = [a.to_dict() for a in cat.list_activations(ref)]
    emit_rows(rows, ["model_id", "layer", "probe_set_id", "shape", "dtype", "sha256"], as_json)


def register_commands(group: click.Group) -> None:
    """Attach the probe-set and activation groups to the top-level group."""
    for command in (probe, activations):
        group.add_command(command)

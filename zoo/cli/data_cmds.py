"""Dataset commands: data add, data import, data ls."""

from __future__ import annotations

import click
import numpy as np

from zoo.cli._common import (
    ZooGroup,
    emit_rows,
    json_option,
    location_options,
    open_catalog,
)
from zoo.cli._types import NAME, SEED
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.group(cls=ZooGroup)
def data() -> None:
    """Datasets: the bundled real MNIST digits, or imports of standard files.

    \b
    Examples:
      zoo data add mnist-5k
      zoo data import mnist --idx path/to/dir
      zoo data ls
    """


@data.command(name="add")
@click.argument("name", type=click.Choice(["mnist-5k", "digits"]))
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the split.")
@location_options
def data_add(loc: Locations, name: str, seed: int) -> None:
    """Register a bundled dataset (works offline): mnist-5k (5,000 real MNIST digits,
    500 per class) or digits (scikit-learn's 8x8 digits), split 70/10/20 stratified.

    Example: zoo data add mnist-5k
    """
    from zoo.data.register import add_bundled_dataset

    with open_catalog(loc) as cat:
        record = add_bundled_dataset(cat, name, seed)
        _print_summary(cat, record.name)


@data.command(name="import")
@click.argument("fmt", type=click.Choice(["mnist", "cifar10"]))
@click.option("--idx", "--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="Folder with the files (IDX for mnist/FashionMNIST, python batches for "
                   "cifar10).")
@click.option("--name", type=NAME, help="Catalog name (default: the format name, e.g. mnist).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the val split.")
@location_options
def data_import(loc: Locations, fmt: str, directory: str, name: str | None, seed: int) -> None:
    """Import full MNIST / FashionMNIST (IDX) or CIFAR-10 (python batches) from local files.

    Example: zoo data import mnist --idx ~/datasets/mnist --name mnist
    """
    from zoo.data.register import import_dataset

    with open_catalog(loc) as cat:
        record = import_dataset(cat, fmt, directory, name or fmt, seed)
        _print_summary(cat, record.name)


def _print_summary(cat: object, name: str) -> None:
    from store import Catalog

    assert isinstance(cat, Catalog)
    record = cat.get_dataset(name)
    _, labels, splits = cat.dataset_arrays(name)
    counts = {s: int((splits == s).sum()) for s in ("train", "val", "test")}
    click.echo(f"dataset {record.name!r} (id {record.id}): {record.n_samples} samples of "
               f"shape {list(record.sample_shape)}, {record.num_classes} classes "
               f"({len(np.unique(labels))} present); split {counts}")


@data.command(name="ls")
@json_option
@location_options
def data_ls(loc: Locations, as_json: bool) -> None:
    """List registered datasets.

    Example: zoo data ls
    """
    with open_catalog(loc) as cat:
        rows = [d.to_dict() for d in cat.list_datasets()]
    emit_rows(rows, ["id", "name", "n_samples", "num_classes", "sample_shape", "source"], as_json)


def register_commands(group: click.Group) -> None:
    """Attach the dataset commands to the top-level group."""
    group.add_command(data)

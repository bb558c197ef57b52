"""Helpers shared by the training loop and the activation recorder.

One loader factory for every kind of dataset (tensor datasets and lists of
torch_geometric ``Data``), one way to split a batch into model inputs and
targets, and one Rich progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from typing import Any, TypeAlias, cast

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torch_geometric.data.data import BaseData

__all__ = [
    "Collate",
    "DatasetLike",
    "batch_inputs",
    "make_loader",
    "make_progress",
    "model_device",
    "split_batch",
]

#: Anything indexable with a length: a ``torch.utils.data.Dataset`` (e.g.
#: ``TensorDataset(x, y)``), a list of torch_geometric ``Data``, a PyG ``Dataset``.
DatasetLike: TypeAlias = "Dataset[Any] | Sequence[Any]"
#: A collate function: list of dataset items -> one batch.
Collate: TypeAlias = Callable[[list[Any]], Any]


def _is_graph_dataset(dataset: DatasetLike) -> bool:
    """True when the dataset's items are torch_geometric ``Data`` objects."""
    return isinstance(dataset[0], BaseData)


def make_loader(
    dataset: DatasetLike,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    collate: Collate | None = None,
) -> DataLoader[Any]:
    """Build a single-process loader over ``dataset``.

    With ``collate`` given, a plain ``torch.utils.data.DataLoader`` using it;
    otherwise a ``torch_geometric.loader.DataLoader`` when the items are PyG
    ``Data`` (batches become ``Batch`` objects), else a plain loader with the
    default collate (``TensorDataset`` items become ``(x [B, ...], y [B])``).

    Args:
        dataset: the samples; must be non-empty.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: draw a fresh permutation every epoch from ``generator``.
        generator: RNG for the shuffling order (ignored without ``shuffle``).
        collate: optional custom collate function.

    Raises:
        ValueError: empty dataset or non-positive batch size.
    """
    if len(cast(Sized, dataset)) == 0:
        raise ValueError("dataset is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ds = cast("Dataset[Any]", dataset)
    if collate is None and _is_graph_dataset(dataset):
        from torch_geometric.loader import DataLoader as GraphLoader

        loader: DataLoader[Any] = GraphLoader(
            ds, batch_size=batch_size, shuffle=shuffle, generator=generator
        )
        return loader
    return DataLoader(
        ds, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate
    )


def _to(obj: Any, device: torch.device) -> Any:
    """Move a tensor or a PyG batch to ``device`` (other objects unchanged)."""
    if isinstance(obj, Tensor | BaseData):
        return obj.to(device)
    return obj


def split_batch(batch: Any, device: torch.device) -> tuple[Any, Tensor]:
    """Split a batch into ``(model input, integer targets [B])`` on ``device``.

    Supported batches: ``(x, y)`` tuples/lists (``TensorDataset``) and PyG
    ``Batch`` objects carrying the labels in ``batch.y`` (the whole batch is
    the model input).

    Raises:
        TypeError: a batch of any other form.
    """
    if isinstance(batch, BaseData):
        y = getattr(batch, "y", None)
        if not isinstance(y, Tensor):
            raise TypeError("graph batches must carry integer labels in `.y`")
        return _to(batch, device), y.to(device).view(-1).long()
    if isinstance(batch, tuple | list) and len(batch) == 2:
        x, y = batch
        return _to(x, device), torch.as_tensor(y).to(device).view(-1).long()
    raise TypeError(
        "expected batches of (inputs, targets) or torch_geometric Batches with `.y`, "
        f"got {type(batch).__name__}"
    )


def batch_inputs(batch: Any, device: torch.device) -> Any:
    """The model input of a batch on ``device``, labels optional.

    ``(x, ...)`` tuples/lists give ``x``; tensors and PyG batches are the input.
    """
    if isinstance(batch, tuple | list):
        if not batch:
            raise TypeError("empty batch tuple")
        return _to(batch[0], device)
    return _to(batch, device)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU when it has none)."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def make_progress(enabled: bool, *fields: str) -> Progress:
    """A Rich progress bar with a description, a bar, ``done/total`` and elapsed time.

    ``fields`` are extra numeric task fields shown as ``name 0.1234`` (set them
    with ``progress.update(task, name=value)``). The bar is disabled (renders
    nothing) when ``enabled`` is false or stderr is not a terminal.
    """
    console = Console(stderr=True)
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f"{name} {{task.fields[{name}]:.4f}}") for name in fields),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=console, disable=not (enabled and console.is_terminal))

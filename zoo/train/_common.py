"""Helpers shared by the training loop and the activation recorder.

One loader factory for every kind of dataset (tensor datasets and lists of
torch_geometric ``Data``), one way to split a batch into model inputs and
targets, and one progress channel: the loops describe every batch as a
:class:`StepProgress`; a caller that wants it installs a hook with
:func:`report_progress` (the CLI draws bars and prints heartbeats, a study worker
sends it to its parent); without one a Rich bar is drawn on a terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torch_geometric.data.data import BaseData

__all__ = [
    "Collate",
    "DatasetLike",
    "ProgressHook",
    "StepProgress",
    "batch_inputs",
    "current_progress_hook",
    "make_loader",
    "model_device",
    "report_progress",
    "split_batch",
    "step_reporter",
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


@dataclass(frozen=True)
class StepProgress:
    """Where one pass over a loader stands after a batch.

    ``stage`` is ``"train"``, ``"val"`` (the validation pass of an epoch) or
    ``"record"``; ``done`` of ``total`` batches are finished (``total`` None when the
    loader has no length) after ``seconds`` of this pass; ``epoch`` (1-based) of
    ``epochs`` for training stages, 0 otherwise; ``loss`` (mean cross-entropy, nats)
    and ``acc`` (a fraction) are running averages over the batches done, None where
    the pass has none (recording). Nothing is a placeholder: every field is measured.
    """

    stage: str
    done: int
    total: int | None
    seconds: float
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    acc: float | None = None

    @property
    def rate(self) -> float:
        """Batches per second so far."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds this pass still needs at the rate so far (None: unknown)."""
        if self.total is None or self.rate <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    @property
    def label(self) -> str:
        """``epoch 2/20 train``, ``epoch 2/20 validate`` or ``record``."""
        what = {"val": "validate"}.get(self.stage, self.stage)
        return f"epoch {self.epoch}/{self.epochs} {what}" if self.epochs else what

    @property
    def status(self) -> str:
        """``batch 37/80, loss 0.4123 acc 0.8730, 3.1 batch/s, ETA 14 s``."""
        parts = [f"batch {self.done}" + (f"/{self.total}" if self.total is not None else "")]
        if self.loss is not None and self.acc is not None:
            parts.append(f"loss {self.loss:.4f} acc {self.acc:.4f}")
        parts.append(f"{self.rate:.2g} batch/s" if self.rate < 10 else f"{self.rate:.0f} batch/s")
        if self.eta is not None and self.done != self.total:
            parts.append(f"ETA {_duration(self.eta)}")
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    """``14 s``, ``3.5 min`` or ``1.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


#: What receives a :class:`StepProgress` after every batch.
ProgressHook: TypeAlias = Callable[[StepProgress], None]
_HOOK: ContextVar[ProgressHook | None] = ContextVar("zoo_progress_hook", default=None)


@contextlib.contextmanager
def report_progress(hook: ProgressHook) -> Iterator[None]:
    """Within the block, every training, validation and recording pass in this thread
    sends each batch's :class:`StepProgress` to ``hook`` (whatever their ``progress``
    argument says: that one only switches the built-in bar)."""
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def current_progress_hook() -> ProgressHook | None:
    """The hook :func:`report_progress` installed, if any."""
    return _HOOK.get()


@contextlib.contextmanager
def step_reporter(enabled: bool) -> Iterator[ProgressHook | None]:
    """The hook a loop reports its batches to: the installed one (:func:`report_progress`);
    else, with ``enabled`` and stderr a terminal, a Rich bar drawn while the block runs;
    else None (report nothing)."""
    hook = current_progress_hook()
    if hook is not None:
        yield hook
        return
    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield None
        return
    columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def draw(step: StepProgress) -> None:
            if step.stage not in tasks:
                tasks[step.stage] = bar.add_task(step.label, total=step.total, status="")
            bar.update(tasks[step.stage], description=step.label, completed=step.done,
                       total=step.total, status=step.status)

        yield draw

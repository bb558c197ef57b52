"""Streaming activation recording with forward hooks.

:func:`record_activations` runs a model over a probe set in dataset order and
writes every requested layer's outputs, batch by batch, to an
:class:`ActivationSink` (the store provides a Zarr-backed one; tests use
:class:`InMemorySink`). Row ``i`` of every array is sample ``i`` of the probe
set; memory does not grow with the probe set.

Reduction of layer outputs ``[B, ...]`` to per-sample features:

* ``[B]`` and ``[B, F]`` are kept as they are;
* conv feature maps ``[B, C, H, W]`` (and ``[B, C, D, H, W]``) become
  ``[B, C]`` by the mean over the spatial positions when
  ``reduce_conv="mean"``, or ``[B, C * H * W]`` (C-order flatten) when
  ``reduce_conv="flatten"``;
* 3-D outputs are ambiguous (``Conv1d`` gives ``[B, C, L]``, sequence models
  ``[B, L, D]``), so they are always flattened to ``[B, L * D]``;
* a module returning a tuple or list is recorded through its first tensor
  element (e.g. the output sequence of ``nn.LSTM``).

Besides the named layers, two arrays are always recorded: ``"logits"`` (the
model output ``[n, C]``, unless a module named ``"logits"`` is among the
layers) and ``"predictions"`` (``argmax`` of the logits, int64 ``[n]``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from zoo.train._common import (
    Collate,
    DatasetLike,
    StepProgress,
    batch_inputs,
    make_loader,
    step_reporter,
)
from zoo.train._common import model_device as _model_device

__all__ = ["REDUCE_CONV", "ActivationSink", "InMemorySink", "record_activations"]

#: Accepted values of ``reduce_conv``.
REDUCE_CONV: tuple[str, ...] = ("flatten", "mean")


@runtime_checkable
class ActivationSink(Protocol):
    """Receives activations layer by layer, block by block.

    Call order: ``open_layer`` once per array (after the first batch, when the
    per-sample shape is known), then ``write`` blocks with increasing,
    contiguous ``start`` rows (``start`` of block k+1 = ``start + len(block)``
    of block k), then ``close`` once, also after a failure. The number of rows
    is ``len(dataset)``, known to whoever builds the sink.
    """

    def open_layer(self, name: str, shape_per_sample: tuple[int, ...], dtype: np.dtype) -> None:
        """Declare array ``name`` with rows of shape ``shape_per_sample`` and ``dtype``."""
        ...

    def write(self, name: str, start: int, block: np.ndarray) -> None:
        """Store ``block`` ``[b, *shape_per_sample]`` at rows ``start:start + b``."""
        ...

    def close(self) -> None:
        """Finish; no more calls follow."""
        ...


class InMemorySink:
    """An :class:`ActivationSink` keeping blocks in memory (for tests and small probes).

    After recording, ``sink[name]`` (or ``sink.arrays()``) gives the
    concatenated array ``[n, *shape_per_sample]``. Writes are checked to be
    contiguous and shaped as declared.
    """

    def __init__(self) -> None:
        """Start empty."""
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self.blocks: dict[str, list[np.ndarray]] = {}
        self.rows: dict[str, int] = {}
        self.closed = False

    def open_layer(self, name: str, shape_per_sample: tuple[int, ...], dtype: np.dtype) -> None:
        """Declare array ``name``; opening the same name twice is an error."""
        if name in self.shapes:
            raise ValueError(f"layer {name!r} opened twice")
        self.shapes[name] = tuple(shape_per_sample)
        self.dtypes[name] = np.dtype(dtype)
        self.blocks[name] = []
        self.rows[name] = 0

    def write(self, name: str, start: int, block: np.ndarray) -> None:
        """Append a copy of ``block``, checking its start row, shape and dtype."""
        if self.closed:
            raise ValueError("sink is closed")
        if name not in self.shapes:
            raise ValueError(f"layer {name!r} was not opened")
        if start != self.rows[name]:
            raise ValueError(
                f"non-contiguous write to {name!r}: start {start}, expected {self.rows[name]}"
            )
        if block.shape[1:] != self.shapes[name] or block.dtype != self.dtypes[name]:
            raise ValueError(
                f"block {block.shape} {block.dtype} does not match {name!r}: "
                f"{self.shapes[name]} {self.dtypes[name]}"
            )
        self.blocks[name].append(np.array(block, copy=True))
        self.rows[name] += len(block)

    def close(self) -> None:
        """Mark the sink closed."""
        self.closed = True

    def __getitem__(self, name: str) -> np.ndarray:
        """The full array ``[n, *shape_per_sample]`` recorded for ``name``."""
        blocks = self.blocks[name]
        if not blocks:
            return np.empty((0, *self.shapes[name]), dtype=self.dtypes[name])
        return np.concatenate(blocks, axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """All recorded arrays by name."""
        return {name: self[name] for name in self.shapes}


def _first_tensor(output: Any, name: str) -> Tensor:
    """The output itself if a tensor, else the first tensor of a tuple/list."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, tuple | list):
        for item in output:
            if isinstance(item, Tensor):
                return item
    raise TypeError(f"layer {name!r} returned {type(output).__name__}, not a tensor")


def _reduce(output: Tensor, reduce_conv: str) -> Tensor:
    """``[B, ...]`` -> ``[B]`` or ``[B, F]`` following the module docstring rules."""
    if output.dim() <= 2:
        return output
    if reduce_conv == "mean" and output.dim() >= 4:
        return output.mean(dim=tuple(range(2, output.dim())))
    return output.reshape(output.shape[0], -1)


def _to_numpy(tensor: Tensor) -> np.ndarray:
    """Detached CPU numpy copy; dtypes numpy lacks (bfloat16) become float32."""
    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16,):
        tensor = tensor.float()
    return tensor.cpu().numpy()


def _repeated_layers(blocks: dict[str, Tensor]) -> dict[str, str]:
    """``{later: earlier}`` for layers whose block is an earlier layer's tensor or equals it
    exactly (same shape, same values; constant blocks such as dead ReLUs never count)."""
    out: dict[str, str] = {}
    kept: list[tuple[str, Tensor]] = []
    for name, block in blocks.items():
        same = next((k for k, b in kept if b is block or (
            b.shape == block.shape and b.dtype == block.dtype and block.numel() > 1
            and bool((block != block.flatten()[0]).any()) and torch.equal(b, block))), None)
        if same is None:
            kept.append((name, block))
        else:
            out[name] = same
    return out


def _resolve_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """Check the requested layer names against ``model.named_modules()``."""
    if layers is None:
        getter = getattr(model, "representation_layers", None)
        if getter is None:
            raise ValueError(
                f"{type(model).__name__} has no representation_layers(); pass `layers`"
            )
        layers = list(getter())
    names = list(layers)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate layer names in {names}")
    available = [name for name, _ in model.named_modules() if name]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"unknown layer names {unknown}; available: {available}")
    if "predictions" in names:
        raise ValueError("'predictions' is reserved for the argmax of the logits")
    return names


def record_activations(
    model: nn.Module,
    dataset: DatasetLike,
    layers: Sequence[str] | None,
    sink: ActivationSink,
    *,
    batch_size: int,
    collate: Collate | None = None,
    reduce_conv: str = "mean",
    progress: bool = True,
    aliases: dict[str, str] | None = None,
) -> dict[str, tuple[int, ...]]:
    """Record layer outputs of ``model`` on ``dataset`` into ``sink``, streaming.

    Registers forward hooks on the named submodules, runs the model in eval
    mode under ``torch.no_grad`` in batches in dataset order (no shuffling),
    and writes each batch's reduced outputs to ``sink`` before the next batch
    runs. Hooks are removed, the model's train/eval mode restored and
    ``sink.close()`` called even when an error occurs.

    Args:
        model: classifier returning logits ``[B, C]``.
        dataset: probe samples: tensors, ``(x, ...)`` tuples (labels ignored)
            or PyG ``Data``; row ``i`` of every array is sample ``i``.
        layers: names from ``model.named_modules()`` whose outputs are
            recorded; ``None`` uses ``model.representation_layers()``.
        sink: where the blocks go.
        batch_size: samples per forward pass = max rows per written block.
        collate: optional custom collate function.
        reduce_conv: ``"mean"`` or ``"flatten"`` for conv maps (module docstring).
        progress: show a Rich progress bar (only on a terminal, and only when no hook is
            installed: under :func:`~zoo.train.report_progress` every batch goes there).
        aliases: filled with ``{layer: earlier layer}`` for each requested layer whose
            (reduced) output is the very tensor, or exactly the values, an earlier layer
            gave on the first batch (the CNN's ``pool`` is the spatial mean of
            ``features.{K-1}``): such a layer is recorded once, under the earlier name.

    Returns:
        Full array shape ``(n, *shape_per_sample)`` per recorded name: the
        layers in order, then ``"logits"`` (if not a layer) and ``"predictions"``.

    Raises:
        ValueError: unknown/duplicate layer names, a bad ``reduce_conv``, a
            layer run more or less than once per forward, or a layer output
            whose first dimension is not the batch size (e.g. per-node outputs
            of a graph network: hook a pooled layer instead).
    """
    if reduce_conv not in REDUCE_CONV:
        raise ValueError(f"reduce_conv must be one of {REDUCE_CONV}, got {reduce_conv!r}")
    names = _resolve_layers(model, layers)
    modules = dict(model.named_modules())
    device = _model_device(model)
    loader = make_loader(dataset, batch_size, collate=collate)
    captured: dict[str, list[Tensor]] = {name: [] for name in names}
    shapes: dict[str, tuple[int, ...]] = {}
    handles: list[RemovableHandle] = []
    was_training = model.training
    alias_of: dict[str, str] = {}

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            captured[name].append(_first_tensor(output, name).detach())

        return hook

    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
        model.eval()
        start, started = 0, time.perf_counter()
        with torch.no_grad(), step_reporter(progress) as report:
            for index, batch in enumerate(loader):
                logits = model(batch_inputs(batch, device))
                rows = logits.shape[0]
                blocks: dict[str, Tensor] = {}
                for name in names:
                    outs, captured[name] = captured[name], []
                    if len(outs) != 1:
                        raise ValueError(
                            f"layer {name!r} ran {len(outs)} times in one forward pass; "
                            "record a module that runs exactly once"
                        )
                    blocks[name] = _reduce(outs[0], reduce_conv)
                if start == 0:  # the first batch decides which layers repeat another
                    alias_of.update(_repeated_layers(blocks))
                    if aliases is not None:
                        aliases.update(alias_of)
                for name in alias_of:
                    blocks.pop(name, None)
                if "logits" not in blocks:
                    blocks["logits"] = logits
                blocks["predictions"] = logits.argmax(dim=1).long()
                for name, tensor in blocks.items():
                    array = _to_numpy(tensor)
                    if array.ndim == 0 or array.shape[0] != rows:
                        raise ValueError(
                            f"layer {name!r} output has shape {tuple(array.shape)} but the "
                            f"batch has {rows} samples; record a per-sample layer"
                        )
                    if name not in shapes:
                        shapes[name] = tuple(array.shape[1:])
                        sink.open_layer(name, shapes[name], array.dtype)
                    sink.write(name, start, array)
                start += rows
                if report is not None:
                    report(StepProgress("record", index + 1, len(loader),
                                        time.perf_counter() - started))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
        sink.close()
    return {name: (start, *shape) for name, shape in shapes.items()}

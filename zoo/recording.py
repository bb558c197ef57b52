"""Record any torch module on a probe set, so a user's own network gets CKA against the zoo
without writing a kind.

:func:`record_module` hooks the named modules of an arbitrary :class:`torch.nn.Module`,
runs it over a probe set in probe order, streams every layer's per-sample features to Zarr
through the same :class:`~zoo.train.catalog_sink.CatalogSink` as ``zoo record`` (rows line up
with every other model recorded on that probe set) and registers the model first when it is
not in the catalog yet (kind ``other``, its state dict as the checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from store import ActivationRecord, Catalog, InvalidInputError, bytes_sha256
from zoo.checkpoints import state_dict_to_safetensors
from zoo.train import record_activations
from zoo.train.catalog_sink import CatalogSink

__all__ = ["probe_images", "record_module"]


def probe_images(catalog: Catalog, probe: str | int) -> Tensor:
    """The images of a probe set, in probe order, as float32 ``[n, C, H, W]`` in [0, 1]
    (what the zoo's image kinds read)."""
    probe_set = catalog.get_probe_set(probe)
    if probe_set.dataset_id is None:
        raise InvalidInputError(f"probe set {probe_set.name!r} has no dataset to read "
                                f"images from: pass inputs=")
    images, _, _ = catalog.dataset_arrays(probe_set.dataset_id)
    x = torch.from_numpy(images[np.asarray(catalog.probe_sample_ids(probe), dtype=np.int64)]
                         .astype(np.float32) / 255.0)
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x.unsqueeze(1)


def record_module(catalog: Catalog, module: nn.Module, probe: str | int,
                  layers: Sequence[str], *, inputs: Tensor | Dataset[Any] | None = None,
                  model_id: int | None = None, name: str | None = None,
                  tags: Sequence[str] = (), batch_size: int = 256,
                  collate: Callable[[list[Any]], Any] | None = None,
                  replace: bool = False, progress: bool = False) -> list[ActivationRecord]:
    """Record ``layers`` (names from ``module.named_modules()``) of any module on ``probe``.

    Args:
        module: any network; it is put in eval mode and run without gradients.
        probe: the probe set (name or id) whose samples the rows follow.
        layers: the modules whose outputs are recorded; ``logits`` (the module's output)
            and ``predictions`` (its argmax) are recorded besides, as ``zoo record`` does.
        inputs: what the module reads for each probe sample, in probe order: a tensor
            ``[n, ...]`` or a dataset of ``(x, y)`` items (default: the probe set's images
            ``[n, C, H, W]`` in [0, 1], :func:`probe_images`).
        model_id: the catalog model these activations belong to (default: register
            ``module`` as a new model of kind ``other`` named ``name``; the same weights
            registered before are found again, not stored twice).
        batch_size: probe samples per forward pass (also rows per Zarr chunk).

    Returns:
        The registered activation records, one per array.

    Shapes:
        - **layer outputs:** ``[B, F]`` kept; ``[B, C, H, W]`` averaged over positions
          (see :mod:`zoo.train.record`); rows = probe samples.
    """
    missing = [layer for layer in layers if layer not in dict(module.named_modules())]
    if missing or not layers:
        known = [n for n, _ in module.named_modules() if n][:12]
        raise InvalidInputError(f"module has no layer {missing[0] if missing else '(none given)'}"
                                f"; its layers include {', '.join(known)}")
    n = catalog.get_probe_set(probe).n_samples
    data = _as_dataset(inputs if inputs is not None else probe_images(catalog, probe), n)
    if model_id is None:
        model_id = _register(catalog, module, probe, name, tags)
    sink = CatalogSink(catalog, model_id, probe, chunk_rows=batch_size, replace=replace)
    try:
        record_activations(module.eval(), data, list(layers), sink, batch_size=batch_size,
                           collate=collate, progress=progress)
        return sink.commit()
    except BaseException:
        sink.abort()
        raise


def _as_dataset(inputs: Tensor | Dataset[Any], n: int) -> Dataset[Any]:
    """``inputs`` as a dataset of ``(x, y)`` items with ``n`` rows (labels unused)."""
    if isinstance(inputs, Tensor):
        inputs = TensorDataset(inputs, torch.zeros(len(inputs), dtype=torch.int64))
    length = len(inputs)  # type: ignore[arg-type]
    if length != n:
        raise InvalidInputError(f"inputs have {length} rows but the probe set has {n} "
                                f"samples: give one input per probe sample, in probe order")
    return inputs


def _register(catalog: Catalog, module: nn.Module, probe: str | int, name: str | None,
              tags: Sequence[str]) -> int:
    """Register ``module`` (kind ``other``), or find the same weights registered before."""
    checkpoint = state_dict_to_safetensors(module.state_dict())
    existing = catalog.find_by_sha256(bytes_sha256(checkpoint))
    if existing is not None:
        return existing
    cls = type(module)
    return catalog.add_model(
        "other", checkpoint=checkpoint, arch={"class": f"{cls.__module__}.{cls.__qualname__}"},
        dataset=catalog.get_probe_set(probe).dataset_id, name=name, tags=tags).id

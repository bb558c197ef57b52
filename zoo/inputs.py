"""What each model kind reads: its samples from a population or a dataset, prepared.

Weight kinds read INR weights (standardised per layer with training-set statistics,
optionally warped by :mod:`zoo.inr.augment` and given probe features), as neural graphs
(kinds that read ``neural-graphs``) or flat vectors; image kinds read images or pixels. Samples are
addressed by sample id, so the INR of image *i* and image *i* line up across modalities;
multi-view populations give view 0 unless asked for every view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from store import Catalog, InvalidInputError, ModelRecord
from zoo.graphs import NeuralGraphSpec, batch_population
from zoo.inr.augment import WeightAugment, augment_siren_params
from zoo.inr.batched import siren_neuron_values
from zoo.kinds import get_kind, siren_spec
from zoo.models.siren import SirenConfig

__all__ = [
    "Inputs",
    "graph_collate",
    "load_inputs",
    "model_inputs",
    "normalise_weights",
    "population_views",
    "probe_points",
    "weight_inputs",
    "weight_stats",
]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


@dataclass(frozen=True)
class Inputs:
    """Samples for a model kind: ``dataset[i] = (x_i, label_i)``, plus a collate if needed.

    ``sample_ids[i]`` is the dataset sample id of row ``i``.
    """

    dataset: TensorDataset
    collate: Callable[[list[Any]], Any] | None
    sample_ids: np.ndarray



def model_inputs(catalog: Catalog, record: ModelRecord,
                 sample_ids: Sequence[int] | np.ndarray | None = None,
                 split: str | None = None) -> Inputs:
    """The inputs a stored model reads, prepared as when it was trained: its population
    or dataset, its weight standardisation and probe features (from its arch)."""
    if get_kind(record.kind).reads_weights:
        if record.population_id is None:
            raise InvalidInputError(f"model {record.id} has no population to read inputs from")
        source: int = record.population_id
    elif record.dataset_id is None:
        raise InvalidInputError(f"model {record.id} has no dataset to read inputs from")
    else:
        source = record.dataset_id
    return load_inputs(catalog, record.kind, source, sample_ids=sample_ids, split=split,
                       weight_norm=record.arch.get("weight_norm"),
                       probe_features=record.arch.get("probe_features", 0))


def weight_stats(params: np.ndarray, population_arch: dict[str, Any]) -> list[list[float]]:
    """Per-layer ``[w_mean, w_std, b_mean, b_std]`` of flat SIREN params ``[n, P]``.

    One scalar pair per layer and parameter type (not per position), so that
    normalising with them commutes with permuting hidden neurons.
    """
    stats = []
    for sl in SirenConfig(**population_arch).param_slices():
        ws, bs = params[:, sl.weight], params[:, sl.bias]
        stats.append([float(ws.mean()), float(ws.std()) or 1.0,
                      float(bs.mean()), float(bs.std()) or 1.0])
    return stats


def normalise_weights(params: ArrayT, population_arch: dict[str, Any],
                      stats: list[list[float]]) -> ArrayT:
    """Standardise each layer's weights and biases with ``weight_stats`` (float32 copy).

    Works on NumPy arrays and torch tensors alike. Shapes: ``[n, P] -> [n, P]``.
    """
    out: Any = (params.to(torch.float32, copy=True) if isinstance(params, Tensor)
                else params.astype(np.float32, copy=True))
    slices = SirenConfig(**population_arch).param_slices()
    for sl, (wm, wsd, bm, bsd) in zip(slices, stats, strict=True):
        out[:, sl.weight] = (out[:, sl.weight] - wm) / wsd
        out[:, sl.bias] = (out[:, sl.bias] - bm) / bsd
    return out


Prepare = Callable[[Tensor], tuple[Tensor, Tensor | None]]


def graph_collate(spec: NeuralGraphSpec | None, prepare: Prepare | None = None
                   ) -> Callable[[list[Any]], Any]:
    """Collate ``(params [P], label)`` or ``(params [P], node features [N, K], label)`` items:
    stack, let ``prepare`` turn the ``[B, P]`` batch into ``(params, node features or None)``,
    then build neural graphs (``spec``) or keep ``(params, labels)`` (no spec)."""
    def collate(items: list[tuple[Tensor, ...]]) -> Any:
        params = torch.stack([item[0] for item in items])
        features = torch.stack([item[1] for item in items]) if len(items[0]) == 3 else None
        if prepare is not None:
            params, prepared = prepare(params)
            features = prepared if prepared is not None else features
        labels = torch.stack([item[-1] for item in items])
        if spec is None:
            return params, labels
        return batch_population(params, spec, y=labels, node_features=features)

    return collate


def probe_points(k: int) -> Tensor:
    """``k`` fixed input points ``[k, 2]`` in ``[-1, 1]^2`` (seeded: the same everywhere) at
    which a GMN's probe features evaluate every INR (:func:`siren_neuron_values`)."""
    return torch.rand(k, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


def weight_inputs(kind: str, population_arch: dict[str, Any], raw: Inputs,
                  weight_norm: list[list[float]] | None = None,
                  augment: WeightAugment | None = None, probe_features: int = 0) -> Inputs:
    """Inputs of a weight kind from ``raw`` (unnormalised INR weights ``[n, P]``).

    ``weight_norm`` standardises them (:func:`weight_stats`); ``augment`` instead keeps
    them raw and warps every INR randomly each time it is batched (:mod:`zoo.inr.augment`;
    for training), standardising after the warp. ``probe_features`` (GMN only) adds to
    every node its neuron's values at that many :func:`probe_points`, computed from the
    unnormalised (warped) weights.
    """
    params, y = raw.dataset.tensors
    spec = siren_spec(population_arch) if get_kind(kind).reads_graphs else None
    siren = SirenConfig(**population_arch)
    points = probe_points(probe_features) if probe_features and spec is not None else None

    def standardise(batch: Tensor) -> Tensor:
        if weight_norm is None:
            return batch
        return normalise_weights(batch, population_arch, weight_norm)

    if augment is not None:
        def prepare(batch: Tensor) -> tuple[Tensor, Tensor | None]:
            warped = augment_siren_params(batch, siren, augment)
            features = None if points is None else siren_neuron_values(warped, points, siren)
            return standardise(warped), features

        return Inputs(TensorDataset(params.to(torch.float32), y),
                      graph_collate(spec, prepare), raw.sample_ids)
    tensors = [standardise(params)]
    if points is not None:
        with torch.no_grad():
            tensors.append(torch.cat([siren_neuron_values(chunk, points, siren)
                                      for chunk in params.split(1024)]))
    collate = graph_collate(spec) if spec is not None else None
    return Inputs(TensorDataset(*tensors, y), collate, raw.sample_ids)


def load_inputs(catalog: Catalog, kind: str, source: str | int,
                sample_ids: Sequence[int] | np.ndarray | None = None,
                split: str | None = None, weight_norm: list[list[float]] | None = None,
                augment: WeightAugment | None = None, probe_features: int = 0,
                view: int | None = 0) -> Inputs:
    """Inputs of ``kind`` from a population (weight kinds) or a dataset (image kinds).

    Args:
        source: population (``gmn``, ``mlp-weights``) or dataset (``mlp``, ``cnn``).
        sample_ids: which samples, in this order (default: all, or those of ``split``).
        weight_norm, augment, probe_features: weight kinds only, see :func:`weight_inputs`.
        view: weight kinds only: which INR of each image a multi-view population gives
            (``0``, the default, is the INR a one-view fit gives), or ``None`` for all its
            views, view-major (view 0 of every sample, then view 1, ...).
    """
    reads = get_kind(kind).reads
    if reads in ("inr-weights", "neural-graphs"):
        pop = catalog.get_population(source)
        if pop.status != "complete":
            raise InvalidInputError(f"population {pop.name!r} is partial: finish it first")
        row_ids = catalog.population_sample_ids(pop.id)
        num_views = population_views(pop.fit_config)
        if view is not None and not 0 <= view < num_views:
            raise InvalidInputError(f"population {pop.name!r} has views 0..{num_views - 1}, "
                                    f"not {view}")
        row_ids = row_ids[: len(row_ids) // num_views]  # view 0; view v is v * n rows on
        dataset_ref: str | int = pop.dataset_id
    else:
        dataset_ref = source
        row_ids = None
    images, labels, splits = catalog.dataset_arrays(dataset_ref)
    available = row_ids if row_ids is not None else np.arange(len(labels))
    if sample_ids is None:
        ids = available if split is None else available[splits[available] == split]
    else:
        ids = np.asarray(sample_ids, dtype=np.int64)
    if row_ids is not None:
        row_of = {int(s): i for i, s in enumerate(row_ids)}
        missing = [int(s) for s in ids if int(s) not in row_of]
        if missing:
            raise InvalidInputError(f"population {pop.name!r} has no INR for sample ids "
                                    f"{missing[:5]}: fit INRs of those samples first")
        rows = np.array([row_of[int(s)] for s in ids], dtype=np.int64)
        chosen = range(num_views) if view is None else [view]
        rows = np.concatenate([rows + v * len(row_ids) for v in chosen])
        ids = np.tile(ids, len(chosen))
        params = torch.from_numpy(catalog.arrays.read_rows(pop.array_key, rows))
        raw = Inputs(TensorDataset(params, torch.from_numpy(labels[ids])), None, ids)
        return weight_inputs(kind, pop.arch, raw, weight_norm, augment, probe_features)
    y = torch.from_numpy(labels[ids])
    x = torch.from_numpy(images[ids].astype(np.float32) / 255.0)
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x.unsqueeze(1)  # [n, C, H, W]
    if reads == "pixels":
        x = x.flatten(1)
    return Inputs(TensorDataset(x, y), None, ids)


def population_views(fit_config: dict[str, Any]) -> int:
    """INRs per image of a population, from its stored fitting config (1 when absent)."""
    return int(fit_config.get("views", 1))

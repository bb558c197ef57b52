"""The four trainable model kinds: how each is built and what it reads.

==============  ==========================  ======================================
kind            input                       model
==============  ==========================  ======================================
``gmn``         INR weights as neural       :class:`~zoo.models.gmn.GraphMetanetwork`
                graphs (a population)
``ngt``         INR weights as neural       :class:`~zoo.models.ngt.RelationalTransformer`
                graphs (a population)       (NG-T)
``mlp-weights`` flattened INR weights       :class:`~zoo.models.mlp.MLPClassifier`
``mlp``         image pixels (a dataset)    :class:`~zoo.models.mlp.MLPClassifier`
``cnn``         images ``[1, H, W]``        :class:`~zoo.models.cnn.SmallCNN`
==============  ==========================  ======================================

A model's ``arch`` dict (stored in the catalog) rebuilds it exactly, so stored
checkpoints can be loaded, evaluated and recorded later. Inputs are addressed
by sample id, so the INR of image *i* and image *i* line up across modalities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from store import Catalog, InvalidInputError, ModelRecord
from zoo.graphs import NeuralGraphSpec, batch_population
from zoo.inr.augment import NG_GNN_AUGMENT, WeightAugment, augment_siren_params
from zoo.inr.batched import siren_neuron_values
from zoo.models.cnn import SmallCNN
from zoo.models.gmn import GMNConfig, GraphMetanetwork
from zoo.models.mlp import MLPClassifier
from zoo.models.ngt import NGTConfig, RelationalTransformer
from zoo.models.siren import SirenConfig
from zoo.train import TrainConfig

__all__ = [
    "DEFAULT_PROBE_FEATURES",
    "GRAPH_KINDS",
    "KINDS",
    "Inputs",
    "build_model",
    "default_arch",
    "default_augment",
    "default_micro_batch",
    "kind_train_config",
    "load_inputs",
    "load_model",
    "model_inputs",
    "normalise_weights",
    "population_views",
    "probe_points",
    "train_recipe",
    "weight_inputs",
    "weight_stats",
]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)

KINDS = ("gmn", "ngt", "mlp-weights", "mlp", "cnn")
#: Probe points of a GMN by default: none. They make GMNs learn far sooner (mnist-5k,
#: per-INR inits: 16 points 38-40 % test in 8 epochs, 64 points 57 % in 6, against 19 % or
#: chance without), but the values of the output neuron and of the last hidden layer at K
#: points are the image at K points: such a GMN partly reads pixels, which blurs exactly
#: what a study of weight-space representations compares. Opt in with ``--probe-features``.
DEFAULT_PROBE_FEATURES = 0
WEIGHT_KINDS = ("gmn", "ngt", "mlp-weights")
#: Kinds that read INRs as neural graphs (the graph metanetworks).
GRAPH_KINDS = ("gmn", "ngt")
#: The GMN a new model gets: NG-GNN as its reference implementation configures it for INR
#: classification (mkofinas/neural-graphs, ``model/pna.yaml`` with ``rev_edge_features`` and
#: dropout 0.2 as its MNIST script runs it), with one measured change: residual connections
#: around each layer (the reference has none), without which a 20-step toy task (classify
#: SIRENs by their output bias) ended at loss 1.36 instead of 0.01. Stored models keep the
#: arch they were built with.
NG_GNN: dict[str, Any] = {
    "hidden": 32, "num_layers": 4, "aggregators": ("mean", "min", "max", "std"),
    "scalers": ("identity", "amplification"), "activation": "silu", "residual": True,
    "receiver": True, "edge_gate": True, "rff_freqs": 128, "rff_sigma": 3.0,
    "edge_hidden": 32, "edge_updates": True, "reverse_features": "transpose",
    "readout": "output", "readout_layers": 2, "dropout": 0.2, "bidirectional": True,
}
#: The NG-T a new ``ngt`` model gets: the reference's ``model/rtransformer.yaml`` (d_node 64,
#: d_edge 32, 4 layers, 8 heads, Fourier features with sigma 1) with its MNIST script's
#: dropout 0.2; see :class:`~zoo.models.ngt.NGTConfig` for the rest.
NG_T: dict[str, Any] = {"dropout": 0.2}
#: Training settings of the weight kinds by default (:class:`~zoo.train.TrainConfig` fields):
#: NG-GNN's ``base.yaml`` (AdamW with AMSGrad, weight decay 5e-4, gradient clipping 10, a
#: linear warm-up) scaled to a zoo of thousands rather than 45,000 training INRs: warm-up
#: over 100 updates instead of 1,000 (2 epochs of mnist-5k at batch 64; 1,000 would be 18).
WEIGHT_RECIPE: dict[str, Any] = {"weight_decay": 5e-4, "grad_clip": 10.0, "amsgrad": True,
                                 "warmup_steps": 100}


def train_recipe(kind: str) -> dict[str, Any]:
    """:class:`~zoo.train.TrainConfig` fields a kind trains with unless told otherwise."""
    return dict(WEIGHT_RECIPE) if kind in WEIGHT_KINDS else {}


def kind_train_config(kind: str, **fields: Any) -> TrainConfig:
    """A :class:`~zoo.train.TrainConfig` with the kind's recipe (:func:`train_recipe`) under
    the given ``fields``; what ``zoo train`` and ``zoo reproduce`` train with."""
    return TrainConfig(**{**train_recipe(kind), **fields})


def default_augment(kind: str) -> WeightAugment | None:
    """The weight-space augmentation a kind trains with by default (weight kinds: NG-GNN's)."""
    return NG_GNN_AUGMENT if kind in WEIGHT_KINDS else None


@dataclass(frozen=True)
class Inputs:
    """Samples for a model kind: ``dataset[i] = (x_i, label_i)``, plus a collate if needed.

    ``sample_ids[i]`` is the dataset sample id of row ``i``.
    """

    dataset: TensorDataset
    collate: Callable[[list[Any]], Any] | None
    sample_ids: np.ndarray


def _siren_spec(arch: dict[str, Any]) -> NeuralGraphSpec:
    siren = SirenConfig(**arch)
    shapes = siren.layer_shapes()
    return NeuralGraphSpec(tuple([shapes[0][1], *(out for out, _ in shapes)]))


def default_arch(kind: str, *, num_classes: int, population_arch: dict[str, Any] | None = None,
                 sample_shape: Sequence[int] = (), hidden: int | None = None,
                 layers: int | None = None, dropout: float | None = None,
                 probe_features: int | None = None) -> dict[str, Any]:
    """The default architecture dict of a kind, sized to its input.

    ``dropout`` (a probability in [0, 1)) is the GMN's dropout after each layer and
    readout block, or the MLP/CNN dropout after each hidden layer; default none.
    ``probe_features`` (GMN only): node features gain each neuron's values at that many
    :func:`probe_points` (the "probe features" of Kofinas et al. 2024); default
    ``DEFAULT_PROBE_FEATURES`` for a GMN, 0 turns them off.
    """
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise InvalidInputError(f"dropout must be in [0, 1), got {dropout}")
    if probe_features is None:
        probe_features = DEFAULT_PROBE_FEATURES if kind in GRAPH_KINDS else 0
    if probe_features and kind not in GRAPH_KINDS:
        raise InvalidInputError(f"probe features are node features of a GMN, not of {kind!r}")
    if probe_features < 0:
        raise InvalidInputError(f"probe features must be >= 0, got {probe_features}")
    arch = _default_arch(kind, num_classes, population_arch, sample_shape, hidden, layers)
    if probe_features:
        arch["probe_features"] = probe_features
        arch[kind]["node_dim"] = 1 + probe_features
    if dropout:
        if kind in GRAPH_KINDS:
            arch[kind]["dropout"] = dropout
        else:
            arch["dropout"] = dropout
    return arch


def _default_arch(kind: str, num_classes: int, population_arch: dict[str, Any] | None,
                  sample_shape: Sequence[int], hidden: int | None, layers: int | None
                  ) -> dict[str, Any]:
    if kind == "gmn":
        assert population_arch is not None
        spec = _siren_spec(population_arch)
        overrides: dict[str, Any] = {}
        if hidden:
            overrides["hidden"] = overrides["edge_hidden"] = hidden
        if layers:
            overrides["num_layers"] = layers
        config = GMNConfig.from_spec(spec, num_classes, **{**NG_GNN, **overrides})
        return {"spec": list(spec.layer_sizes), "gmn": config.to_dict()}
    if kind == "ngt":
        assert population_arch is not None
        spec = _siren_spec(population_arch)
        ngt_over: dict[str, Any] = dict(NG_T)
        if hidden:
            ngt_over["d_node"] = hidden
        if layers:
            ngt_over["n_layers"] = layers
        return {"spec": list(spec.layer_sizes),
                "ngt": NGTConfig.from_spec(spec, num_classes, **ngt_over).to_dict()}
    if kind == "mlp-weights":
        assert population_arch is not None
        width = hidden or 256
        return {"in_features": SirenConfig(**population_arch).n_params,
                "hidden": [width] * (layers or 2), "num_classes": num_classes}
    if kind == "mlp":
        return {"in_features": int(np.prod(sample_shape)),
                "hidden": [hidden or 256] * (layers or 2), "num_classes": num_classes}
    if kind == "cnn":
        channels = [16, 32, 64][: layers or 3]
        return {"in_channels": sample_shape[2] if len(sample_shape) == 3 else 1,
                "channels": channels, "fc_hidden": [hidden or 128], "num_classes": num_classes}
    raise InvalidInputError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")


def default_micro_batch(kind: str, batch_size: int) -> int | None:
    """Samples per forward/backward pass for ``kind`` at ``batch_size`` (``None``: whole batch).

    GMN batches of 64 neural graphs make edge tensors of ~37 MB that stream from memory on
    every elementwise pass; pieces of 16 stay in cache and trained 1.5x faster here with
    the same updates (gradients accumulated). The other kinds are too small to gain.
    """
    if kind in GRAPH_KINDS and batch_size > 16 and batch_size % 16 == 0:
        return 16
    return None


def build_model(kind: str, arch: dict[str, Any]) -> nn.Module:
    """A freshly initialised model of ``kind`` from its architecture dict."""
    if kind == "gmn":
        return GraphMetanetwork(GMNConfig.from_dict(arch["gmn"]))
    if kind == "ngt":
        return RelationalTransformer(NGTConfig.from_dict(arch["ngt"]))
    if kind in ("mlp-weights", "mlp"):
        return MLPClassifier(arch["in_features"], tuple(arch["hidden"]), arch["num_classes"],
                             arch.get("dropout", 0.0))
    if kind == "cnn":
        return SmallCNN(arch["in_channels"], arch["num_classes"], tuple(arch["channels"]),
                        tuple(arch["fc_hidden"]), dropout=arch.get("dropout", 0.0))
    raise InvalidInputError(f"model kind {kind!r} cannot be built here: use one of "
                            f"{', '.join(KINDS)}")


def load_model(catalog: Catalog, model_id: int) -> tuple[ModelRecord, nn.Module]:
    """A stored model rebuilt from its arch and checkpoint, in eval mode."""
    from safetensors.torch import load as st_load

    record = catalog.get_model(model_id)
    model = build_model(record.kind, record.arch)
    model.load_state_dict(st_load(catalog.checkpoint_bytes(model_id)))
    return record, model.eval()


def model_inputs(catalog: Catalog, record: ModelRecord,
                 sample_ids: Sequence[int] | np.ndarray | None = None,
                 split: str | None = None) -> Inputs:
    """The inputs a stored model reads, prepared as when it was trained: its population
    or dataset, its weight standardisation and probe features (from its arch)."""
    if record.kind in WEIGHT_KINDS:
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
    for w, b in _layer_slices(population_arch):
        ws, bs = params[:, w], params[:, b]
        stats.append([float(ws.mean()), float(ws.std()) or 1.0,
                      float(bs.mean()), float(bs.std()) or 1.0])
    return stats


def _layer_slices(population_arch: dict[str, Any]) -> list[tuple[slice, slice]]:
    out, start = [], 0
    for rows, cols in SirenConfig(**population_arch).layer_shapes():
        out.append((slice(start, start + rows * cols),
                    slice(start + rows * cols, start + rows * cols + rows)))
        start += rows * cols + rows
    return out


def normalise_weights(params: ArrayT, population_arch: dict[str, Any],
                      stats: list[list[float]]) -> ArrayT:
    """Standardise each layer's weights and biases with ``weight_stats`` (float32 copy).

    Works on NumPy arrays and torch tensors alike. Shapes: ``[n, P] -> [n, P]``.
    """
    out: Any = (params.to(torch.float32, copy=True) if isinstance(params, Tensor)
                else params.astype(np.float32, copy=True))
    for (w, b), (wm, wsd, bm, bsd) in zip(_layer_slices(population_arch), stats, strict=True):
        out[:, w] = (out[:, w] - wm) / wsd
        out[:, b] = (out[:, b] - bm) / bsd
    return out


Prepare = Callable[[Tensor], tuple[Tensor, Tensor | None]]


def _graph_collate(spec: NeuralGraphSpec | None, prepare: Prepare | None = None
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
    spec = _siren_spec(population_arch) if kind in GRAPH_KINDS else None
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
                      _graph_collate(spec, prepare), raw.sample_ids)
    tensors = [standardise(params)]
    if points is not None:
        with torch.no_grad():
            tensors.append(torch.cat([siren_neuron_values(chunk, points, siren)
                                      for chunk in params.split(1024)]))
    collate = _graph_collate(spec) if spec is not None else None
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
    if kind in WEIGHT_KINDS:
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
    if kind in WEIGHT_KINDS:
        assert row_ids is not None
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
    if kind == "mlp":
        x = x.flatten(1)
    return Inputs(TensorDataset(x, y), None, ids)


def population_views(fit_config: dict[str, Any]) -> int:
    """INRs per image of a population, from its stored fitting config (1 when absent)."""
    return int(fit_config.get("views", 1))

"""The trainable model kinds: how each is built and trained (what each reads:
:mod:`zoo.inputs`).

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

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from store import Catalog, InvalidInputError, ModelRecord
from zoo.graphs import NeuralGraphSpec
from zoo.inr.augment import NG_GNN_AUGMENT, WeightAugment
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
    "NG_GNN",
    "NG_T",
    "WEIGHT_KINDS",
    "WEIGHT_RECIPE",
    "build_model",
    "default_arch",
    "default_augment",
    "default_micro_batch",
    "kind_train_config",
    "load_model",
    "siren_spec",
    "train_recipe",
]

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


def siren_spec(arch: dict[str, Any]) -> NeuralGraphSpec:
    """The neural-graph layout of INRs with the SIREN architecture dict ``arch``."""
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
        spec = siren_spec(population_arch)
        overrides: dict[str, Any] = {}
        if hidden:
            overrides["hidden"] = overrides["edge_hidden"] = hidden
        if layers:
            overrides["num_layers"] = layers
        config = GMNConfig.from_spec(spec, num_classes, **{**NG_GNN, **overrides})
        return {"spec": list(spec.layer_sizes), "gmn": config.to_dict()}
    if kind == "ngt":
        assert population_arch is not None
        spec = siren_spec(population_arch)
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

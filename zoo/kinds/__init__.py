"""The trainable model kinds: a registry of :class:`KindSpec` (what each reads, how it is
built and trained; what each reads is loaded by :mod:`zoo.inputs`).

==============  ==========================  ======================================
kind            reads                       model
==============  ==========================  ======================================
``gmn``         ``neural-graphs``: INR      :class:`~zoo.models.gmn.GraphMetanetwork`
                weights of a population     (NG-GNN)
``ngt``         ``neural-graphs``           :class:`~zoo.models.ngt.RelationalTransformer`
                                            (NG-T)
``mlp-weights`` ``inr-weights``: flattened  :class:`~zoo.models.mlp.MLPClassifier`
``mlp``         ``pixels`` of a dataset     :class:`~zoo.models.mlp.MLPClassifier`
``cnn``         ``images`` ``[C, H, W]``    :class:`~zoo.models.cnn.SmallCNN`
==============  ==========================  ======================================

Adding a kind is one module that builds a :class:`KindSpec` and calls
:func:`register_kind` (or, from another package, an entry point in the ``zoo.kinds``
group; see the README's "Extending the zoo"). A model's ``arch`` dict (stored in the
catalog) rebuilds it exactly, so stored checkpoints can be loaded, evaluated and recorded
later. Inputs are addressed by sample id, so the INR of image *i* and image *i* line up
across modalities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from store import Catalog, InvalidInputError, ModelRecord
from zoo.inr.augment import WeightAugment

# isort: off
# The built-ins register in this order (the order of `zoo train`'s choices and of KINDS).
from zoo.kinds import _gmn, _ngt, _mlp, _cnn  # noqa: F401
# isort: on
from zoo.kinds._gmn import NG_GNN
from zoo.kinds._ngt import NG_T
from zoo.kinds._registry import (
    ENTRY_POINT_GROUP,
    READS,
    ArchRequest,
    KindSpec,
    get_kind,
    kind_names,
    load_plugins,
    register_kind,
    unregister_kind,
)
from zoo.kinds._weights import WEIGHT_RECIPE, siren_spec
from zoo.train import TrainConfig

__all__ = [
    "DEFAULT_PROBE_FEATURES",
    "ENTRY_POINT_GROUP",
    "GRAPH_KINDS",
    "KINDS",
    "NG_GNN",
    "NG_T",
    "READS",
    "WEIGHT_KINDS",
    "WEIGHT_RECIPE",
    "ArchRequest",
    "KindSpec",
    "build_model",
    "default_arch",
    "default_augment",
    "default_micro_batch",
    "get_kind",
    "kind_names",
    "kind_train_config",
    "load_model",
    "load_plugins",
    "register_kind",
    "siren_spec",
    "train_recipe",
    "unregister_kind",
]

#: Probe points of a GMN by default: none. They make GMNs learn far sooner (mnist-5k,
#: per-INR inits: 16 points 38-40 % test in 8 epochs, 64 points 57 % in 6, against 19 % or
#: chance without), but the values of the output neuron and of the last hidden layer at K
#: points are the image at K points: such a GMN partly reads pixels, which blurs exactly
#: what a study of weight-space representations compares. Opt in with ``--probe-features``.
DEFAULT_PROBE_FEATURES = 0
#: Every kind known when :mod:`zoo.kinds` was imported (built-ins, then plugins); a kind
#: registered later is in :func:`kind_names`.
KINDS: tuple[str, ...] = kind_names()
#: Kinds that read INR weights (a population) rather than images.
WEIGHT_KINDS: tuple[str, ...] = kind_names(reads=("inr-weights", "neural-graphs"))
#: Kinds that read INRs as neural graphs (the graph metanetworks).
GRAPH_KINDS: tuple[str, ...] = kind_names(reads=("neural-graphs",))


def train_recipe(kind: str) -> dict[str, Any]:
    """:class:`~zoo.train.TrainConfig` fields a kind trains with unless told otherwise."""
    return dict(get_kind(kind).recipe)


def kind_train_config(kind: str, **fields: Any) -> TrainConfig:
    """A :class:`~zoo.train.TrainConfig` with the kind's recipe (:func:`train_recipe`) under
    the given ``fields``; what ``zoo train`` and ``zoo reproduce`` train with."""
    return TrainConfig(**{**train_recipe(kind), **fields})


def default_augment(kind: str) -> WeightAugment | None:
    """The weight-space augmentation a kind trains with by default (weight kinds: NG-GNN's)."""
    return get_kind(kind).augment


def default_arch(kind: str, *, num_classes: int, population_arch: dict[str, Any] | None = None,
                 sample_shape: Sequence[int] = (), hidden: int | None = None,
                 layers: int | None = None, dropout: float | None = None,
                 probe_features: int | None = None) -> dict[str, Any]:
    """The default architecture dict of a kind, sized to its input.

    ``dropout`` (a probability in [0, 1)) is the GMN's dropout after each layer and
    readout block, or the MLP/CNN dropout after each hidden layer; default the kind's.
    ``probe_features`` (neural-graph kinds only): node features gain each neuron's values
    at that many :func:`~zoo.inputs.probe_points` (the "probe features" of Kofinas et al.
    2024); default ``DEFAULT_PROBE_FEATURES`` for those kinds, 0 turns them off.
    """
    spec = get_kind(kind)
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise InvalidInputError(f"dropout must be in [0, 1), got {dropout}")
    if probe_features is None:
        probe_features = DEFAULT_PROBE_FEATURES if spec.probe_features else 0
    if probe_features and not spec.probe_features:
        raise InvalidInputError(f"probe features are node features of a GMN, not of {kind!r}")
    if probe_features < 0:
        raise InvalidInputError(f"probe features must be >= 0, got {probe_features}")
    if spec.reads_weights and population_arch is None:
        raise InvalidInputError(f"kind {kind!r} reads INR weights: give its population")
    return spec.default_arch(ArchRequest(
        num_classes=num_classes, population_arch=population_arch,
        sample_shape=tuple(int(s) for s in sample_shape), hidden=hidden, layers=layers,
        dropout=dropout, probe_features=probe_features))


def default_micro_batch(kind: str, batch_size: int) -> int | None:
    """Samples per forward/backward pass for ``kind`` at ``batch_size`` (``None``: whole
    batch; see :attr:`KindSpec.micro_batch`)."""
    return get_kind(kind).micro_batch(batch_size)


def build_model(kind: str, arch: dict[str, Any]) -> nn.Module:
    """A freshly initialised model of ``kind`` from its architecture dict."""
    return get_kind(kind).build(arch)


def load_model(catalog: Catalog, model_id: int) -> tuple[ModelRecord, nn.Module]:
    """A stored model rebuilt from its arch and checkpoint, in eval mode."""
    from safetensors.torch import load as st_load

    record = catalog.get_model(model_id)
    model = build_model(record.kind, record.arch)
    model.load_state_dict(st_load(catalog.checkpoint_bytes(model_id)))
    return record, model.eval()

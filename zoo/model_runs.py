"""Training, evaluating and recording stored models: the library behind `zoo train/eval/record`.

Each function reads its inputs from the catalog by sample id, and writes back
what it produced: a checkpoint with lineage and metrics, evaluation metrics, or
activations registered per layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import default_collate

from store import (
    ActivationRecord,
    Catalog,
    DuplicateError,
    InvalidInputError,
    MetricRecord,
    ModelRecord,
)
from zoo.checkpoints import state_dict_to_safetensors
from zoo.identity import TRAINING_CODE_VERSION
from zoo.inputs import (
    Inputs,
    load_inputs,
    model_inputs,
    population_views,
    weight_inputs,
    weight_stats,
)
from zoo.inr.augment import WeightAugment
from zoo.kinds import (
    build_model,
    default_arch,
    default_micro_batch,
    get_kind,
    load_model,
)
from zoo.train import EpochMetrics, TrainConfig, evaluate, record_activations, train_classifier
from zoo.train.catalog_sink import CatalogSink

__all__ = ["EvalSummary", "evaluate_model", "record_model", "train_model"]


def _source_of(catalog: Catalog, kind: str, population: str | None, dataset: str | None
               ) -> tuple[str | int, int, dict[str, Any]]:
    """``(source ref, dataset id, lineage)`` of a training run."""
    if get_kind(kind).reads_weights:
        if population is None or dataset is not None:
            raise InvalidInputError(f"{kind} trains on INR weights: give --population "
                                    "(see `zoo inr ls`)")
        pop = catalog.get_population(population)
        return pop.id, pop.dataset_id, {"population": pop.name, "population_id": pop.id}
    if dataset is None or population is not None:
        raise InvalidInputError(f"{kind} trains on images: give --dataset (see `zoo data ls`)")
    ds = catalog.get_dataset(dataset)
    return ds.id, ds.id, {"dataset": ds.name}


def train_model(
    catalog: Catalog,
    kind: str,
    config: TrainConfig,
    *,
    population: str | None = None,
    dataset: str | None = None,
    hidden: int | None = None,
    layers: int | None = None,
    dropout: float | None = None,
    probe_features: int | None = None,
    tags: Sequence[str] = (),
    augment: WeightAugment | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> ModelRecord:
    """Train a classifier of ``kind``, pick the best validation epoch, register it.

    The registered model carries its checkpoint (safetensors), its architecture,
    the training config with both seeds, its source population or dataset, the
    per-epoch metrics and ``test_acc``/``test_loss`` of the selected weights.
    ``augment`` (weight kinds only) warps the training INRs randomly every epoch
    (:mod:`zoo.inr.augment`); validation and test INRs are never warped.
    ``probe_features`` (GMN only; default :data:`~zoo.kinds.DEFAULT_PROBE_FEATURES`, none)
    gives every node its neuron's values at that many probe points
    (:func:`~zoo.inputs.weight_inputs`); it is stored in the arch. Without
    ``config.micro_batch`` the kind's :func:`~zoo.kinds.default_micro_batch` is used (and
    stored with the config).
    """
    spec = get_kind(kind)
    if augment is not None and not spec.reads_weights:
        raise InvalidInputError(f"weight-space augmentation applies to kinds that read INR "
                                f"weights, not to {kind!r} (it reads {spec.reads})")
    if config.micro_batch is None:
        config = dataclasses.replace(config,
                                     micro_batch=default_micro_batch(kind, config.batch_size))
    source, dataset_id, lineage = _source_of(catalog, kind, population, dataset)
    ds = catalog.get_dataset(dataset_id)
    pop_arch = catalog.get_population(source).arch if spec.reads_weights else None
    arch = default_arch(kind, num_classes=ds.num_classes, population_arch=pop_arch,
                        sample_shape=ds.sample_shape, hidden=hidden, layers=layers,
                        dropout=dropout, probe_features=probe_features)
    norm, probes = None, arch.get("probe_features", 0)
    train = load_inputs(catalog, kind, source, split="train", view=None)  # every view
    if spec.reads_weights:  # standardise INR weights per layer with training-set statistics
        assert pop_arch is not None
        norm = weight_stats(train.dataset.tensors[0].numpy(), pop_arch)
        arch["weight_norm"] = norm
        train = weight_inputs(kind, pop_arch, train, norm, augment, probes)
    val, test = (load_inputs(catalog, kind, source, split=s, weight_norm=norm,
                             probe_features=probes) for s in ("val", "test"))
    if len(train.sample_ids) == 0 or len(val.sample_ids) == 0:
        raise InvalidInputError(f"{lineage}: needs samples in both the train and val splits")
    result = train_classifier(lambda: build_model(kind, arch), train.dataset, val.dataset,
                              config, collate=train.collate,
                              val_collate=val.collate or default_collate,
                              on_epoch=on_epoch, progress=progress)
    model = build_model(kind, arch)
    model.load_state_dict(result.best_state)
    metrics = [MetricRecord(0, name, float(getattr(m, name)), step=m.epoch, split=split)
               for m in result.history
               for name, split in (("train_loss", "train"), ("train_acc", "train"),
                                   ("val_loss", "val"), ("val_acc", "val"))]
    best = result.history[result.best_epoch - 1]
    metrics += [MetricRecord(0, "best_val_acc", best.val_acc, step=best.epoch, split="val"),
                MetricRecord(0, "train_seconds", result.train_seconds)]
    if len(test.sample_ids):
        ev = evaluate(model, test.dataset, config.micro_batch or config.batch_size, test.collate)
        metrics += [MetricRecord(0, "test_acc", ev.accuracy, split="test"),
                    MetricRecord(0, "test_loss", ev.loss, split="test")]
        views = population_views(catalog.get_population(source).fit_config) if (
            spec.reads_weights) else 1
        if views > 1:
            every = load_inputs(catalog, kind, source, split="test", weight_norm=norm,
                                probe_features=probes, view=None)
            metrics.append(MetricRecord(0, "test_acc_views", _view_mean_accuracy(
                model, every, views, config.micro_batch or config.batch_size), split="test"))
    try:
        return catalog.add_model(
            kind, checkpoint=state_dict_to_safetensors(result.best_state), arch=arch,
            config={"train": config.to_dict(), **lineage, "best_epoch": result.best_epoch,
                    "code_version": TRAINING_CODE_VERSION,
                    "augment": augment.to_dict() if augment is not None else None},
            dataset=dataset_id, seed=config.init_seed, tags=tags, metrics=metrics,
            population_id=lineage.get("population_id"),
        )
    except DuplicateError as exc:  # e.g. a longer run whose best epoch an earlier run kept
        raise DuplicateError(
            f"training kept epoch {result.best_epoch}, whose weights are already registered "
            f"as model {exc.existing_id} (same seeds, data and best epoch): nothing new was "
            f"stored; see `zoo show {exc.existing_id}`", exc.existing_id) from exc


def _view_mean_accuracy(model: Any, inputs: Inputs, views: int, batch_size: int) -> float:
    """Accuracy of the logits averaged over the ``views`` INRs of each image (``inputs``
    view-major, as :func:`~zoo.inputs.load_inputs` gives them with ``view=None``)."""
    ev = evaluate(model, inputs.dataset, batch_size, inputs.collate)
    assert ev.logits is not None
    mean = ev.logits.reshape(views, -1, ev.logits.shape[1]).mean(axis=0)
    labels = inputs.dataset.tensors[-1].numpy()[: mean.shape[0]]
    return float((mean.argmax(axis=1) == labels).mean())


@dataclass(frozen=True)
class EvalSummary:
    """Accuracy, mean loss and confusion matrix ``[C, C]`` (rows true) of one evaluation."""

    model_id: int
    split: str
    n: int
    accuracy: float
    loss: float
    confusion: np.ndarray


def evaluate_model(catalog: Catalog, model_id: int, split: str = "test",
                   batch_size: int = 256, store: bool = True) -> EvalSummary:
    """Evaluate a stored model on a dataset split; store ``<split>_acc``/``_loss`` metrics.

    ``batch_size`` samples are evaluated at a time (GMNs: pieces of the kind's micro-batch,
    which is faster; results do not depend on it)."""
    record, model = load_model(catalog, model_id)
    inputs = model_inputs(catalog, record, split=split)
    if len(inputs.sample_ids) == 0:
        raise InvalidInputError(f"the {split!r} split has no samples")
    pieces = default_micro_batch(record.kind, batch_size) or batch_size
    ev = evaluate(model, inputs.dataset, pieces, inputs.collate)
    if store:
        catalog.log_metrics(model_id, [
            MetricRecord(model_id, f"{split}_acc", ev.accuracy, split=split),
            MetricRecord(model_id, f"{split}_loss", ev.loss, split=split)])
    return EvalSummary(model_id, split, len(inputs.sample_ids), ev.accuracy, ev.loss,
                       ev.confusion)


def record_model(catalog: Catalog, model_id: int, probe: str | int,
                 layers: Sequence[str] | None = None, *, batch_size: int = 256,
                 replace: bool = False, progress: bool = True) -> list[ActivationRecord]:
    """Record every representation layer (or ``layers``) of a model on a probe set.

    The model's own classification head is recorded as ``logits`` and its argmax
    as ``predictions``; arrays stream to Zarr and are registered together at the end.
    """
    record, model = load_model(catalog, model_id)
    ids = catalog.probe_sample_ids(probe)
    inputs = model_inputs(catalog, record, sample_ids=ids)
    names = list(layers) if layers else get_kind(record.kind).layers(model)[:-1]
    # one Zarr chunk per batch: each streamed block then writes whole chunks only
    sink = CatalogSink(catalog, model_id, probe, chunk_rows=batch_size, replace=replace)
    try:
        record_activations(model, inputs.dataset, names, sink, batch_size=batch_size,
                           collate=inputs.collate, progress=progress)
        return sink.commit()
    except BaseException:
        sink.abort()
        raise

"""When two trainings are the same: the one owner of that fact.

A training is identified by its kind, initialisation seed, source (population or
dataset, by name), its training settings (every :class:`~zoo.train.TrainConfig` field
but those that change only rounding and speed) with its weight-space augmentation, and
its architecture (without the training-set weight statistics, which follow from the
rest). ``zoo train``, ``zoo reproduce`` and ``zoo quickstart`` look a training up with
:func:`find_trained` *before* any work, so running the same command twice trains once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from store import Catalog, ModelRecord
from zoo.inr.augment import WeightAugment
from zoo.kinds import default_arch, get_kind
from zoo.train import TrainConfig

__all__ = [
    "IGNORED_SETTINGS",
    "TRAINING_CODE_VERSION",
    "TrainingKey",
    "find_trained",
    "stored_key",
    "training_key",
]

#: Training settings that change rounding and speed only, never which model is trained.
IGNORED_SETTINGS = ("micro_batch", "device")
#: Version of the training code's semantics, stored with every trained model: bump it when
#: the same settings would train a different model (a changed loop, init or data order), so
#: a rerun trains anew instead of finding the older model. Models stored before versions
#: were recorded count as version "1".
TRAINING_CODE_VERSION = "1"


def _plain(obj: Any) -> Any:
    """``obj`` as JSON would give it back (tuples as lists, sorted keys)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=list))


@dataclass(frozen=True)
class TrainingKey:
    """What makes two trainings the same model (see the module docstring).

    ``source`` is ``("population", name)`` or ``("dataset", name)``; ``train`` and
    ``arch`` are plain JSON dicts (``train`` includes ``augment``).
    """

    kind: str
    seed: int | None
    source: tuple[str, str]
    train: dict[str, Any]
    arch: dict[str, Any]
    code_version: str = TRAINING_CODE_VERSION

    def digest(self) -> str:
        """16 hex digits of sha256 over the settings, the architecture and (from version 2
        on; version 1 digests are those stored before versions were recorded) the training
        code version."""
        parts: list[Any] = [self.train, self.arch]
        if self.code_version != "1":
            parts.append(self.code_version)
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def training_key(catalog: Catalog, kind: str, config: TrainConfig, *,
                 population: str | int | None = None, dataset: str | int | None = None,
                 hidden: int | None = None, layers: int | None = None,
                 dropout: float | None = None, probe_features: int | None = None,
                 augment: WeightAugment | None = None) -> TrainingKey:
    """The key of the model :func:`zoo.model_runs.train_model` would train with these
    arguments (the same arguments), read from the catalog without training anything."""
    if get_kind(kind).reads_weights and population is not None:
        pop = catalog.get_population(population)
        source, ds, pop_arch = ("population", pop.name), catalog.get_dataset(pop.dataset_id), \
            pop.arch
    else:
        ds = catalog.get_dataset(dataset if dataset is not None else "")
        source, pop_arch = ("dataset", ds.name), None
    arch = default_arch(kind, num_classes=ds.num_classes, population_arch=pop_arch,
                        sample_shape=ds.sample_shape, hidden=hidden, layers=layers,
                        dropout=dropout, probe_features=probe_features)
    train = {k: v for k, v in config.to_dict().items() if k not in IGNORED_SETTINGS}
    train["augment"] = augment.to_dict() if augment is not None else None
    return TrainingKey(kind, config.init_seed, source, _plain(train), _plain(arch))


def stored_key(model: ModelRecord) -> TrainingKey | None:
    """The key of a stored trained model (``None`` for models no training made)."""
    source = next(((k, model.config[k]) for k in ("population", "dataset")
                   if isinstance(model.config.get(k), str)), None)
    if source is None or "train" not in model.config:
        return None
    train = {k: v for k, v in model.config["train"].items() if k not in IGNORED_SETTINGS}
    train["augment"] = model.config.get("augment")
    arch = {k: v for k, v in model.arch.items() if k != "weight_norm"}
    return TrainingKey(model.kind, model.seed, source, _plain(train), _plain(arch),
                       str(model.config.get("code_version", "1")))


def find_trained(catalog: Catalog, key: TrainingKey) -> ModelRecord | None:
    """The oldest stored model trained as ``key`` says, or ``None``."""
    for model in catalog.list_models(kind=key.kind):
        if stored_key(model) == key:
            return model
    return None

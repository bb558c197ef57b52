"""Plain frozen records handed out by the catalog (never ORM rows).

Each record validates itself on construction and round-trips through
``to_dict``/``from_dict`` (JSON-safe values only), so it can travel to the CLI,
to JSON output and into Zarr attributes unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from store.errors import InvalidInputError
from store.keys import FIT_METRICS, ArrayKey
from store.validation import (  # re-exported: the record module's checks
    MODEL_KINDS,
    check_json,
    check_kind,
    check_label,
)

__all__ = [
    "MODEL_KINDS",
    "VERDICTS",
    "ActivationRecord",
    "DatasetRecord",
    "EnsembleRecord",
    "FindingRecord",
    "MetricRecord",
    "ModelRecord",
    "PopulationRecord",
    "PredictionPairRecord",
    "ProbeSetRecord",
    "SimilarityRecord",
    "StudyRecord",
    "check_json",
    "check_kind",
    "check_label",
]

def _check_name(value: str, what: str) -> None:
    check_label(value, what)


class _Record:
    """Shared ``to_dict``/``from_dict``/``from_row`` for the record dataclasses.

    What converts is read from the fields' declared types: a ``tuple[...]`` field comes
    back from JSON (a list) or a database row (a JSON list) as a tuple, a ``dict[...]``
    field as a fresh dict, the ``_datetime_fields`` from ISO 8601 strings; so
    ``from_dict(r.to_dict()) == r`` for every record.
    """

    _datetime_fields: ClassVar[tuple[str, ...]] = ("created_at",)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-safe dict (datetimes as ISO 8601 strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        """``value`` as field ``name`` holds it (see the class docstring)."""
        kind = str(cls.__dataclass_fields__[name].type)  # type: ignore[attr-defined]
        if isinstance(value, list) and kind.startswith("tuple"):
            return tuple(value)
        if isinstance(value, dict) and kind.startswith("dict"):
            return dict(value)
        if isinstance(value, str) and name in cls._datetime_fields:
            return dt.datetime.fromisoformat(value)
        return value

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a record from ``to_dict`` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise InvalidInputError(f"unknown fields for {cls.__name__}: {sorted(unknown)}")
        return cls(**{key: cls._convert(key, value) for key, value in data.items()})

    @classmethod
    def from_row(cls, row: Any, **given: Any) -> Self:
        """Build a record from an object holding its fields as attributes (an ORM row);
        ``given`` supplies fields the row lacks (a study's model ids, ``cached``)."""
        values = {f.name: cls._convert(f.name, getattr(row, f.name))
                  for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                  if f.name not in given}
        return cls(**values, **given)


@dataclass(frozen=True)
class DatasetRecord(_Record):
    """A registered dataset: images, labels and a split per sample, stored as arrays.

    ``sample_shape`` is the shape of one sample, e.g. ``(28, 28)``; sample ids are
    the row numbers ``0..n_samples-1`` and never change once registered.
    """

    id: int
    name: str
    source: str
    n_samples: int
    num_classes: int
    sample_shape: tuple[int, ...]
    array_key: str
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_name(self.name, "dataset name")
        if self.n_samples < 0 or self.num_classes < 0:
            raise InvalidInputError("dataset counts must be non-negative")


@dataclass(frozen=True)
class PopulationRecord(_Record):
    """A homogeneous set of INRs sharing one weight array ``[n_inrs, n_params]``.

    ``status`` is ``complete`` once every row is fitted, else ``partial`` with
    ``rows_done`` rows (a prefix) stored.
    """

    id: int
    name: str
    dataset_id: int
    arch: dict[str, Any]
    fit_config: dict[str, Any]
    n_inrs: int
    n_params: int
    array_key: str
    status: str
    rows_done: int
    sha256: str | None
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_name(self.name, "population name")
        if self.status not in ("partial", "complete"):
            raise InvalidInputError(f"population status must be partial|complete: {self.status}")

    @property
    def fit_metrics_key(self) -> str:
        """Key of the ``(mse, psnr)`` array ``[n_inrs, 2]`` stored beside the parameters."""
        return str(ArrayKey.parse(self.array_key).child(FIT_METRICS))


@dataclass(frozen=True)
class ModelRecord(_Record):
    """One stored model of any kind, with its lineage and checksum.

    INRs point at a ``population_id`` and ``population_row`` (their weights) and at
    the ``sample_id`` of the image they represent; trained classifiers point at a
    safetensors ``checkpoint_key``. ``sha256`` identifies the content.
    """

    id: int
    kind: str
    name: str | None
    dataset_id: int | None
    population_id: int | None
    population_row: int | None
    sample_id: int | None
    seed: int | None
    arch: dict[str, Any]
    config: dict[str, Any]
    checkpoint_key: str | None
    sha256: str | None
    parent_id: int | None
    status: str
    created_at: dt.datetime
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_kind(self.kind)


@dataclass(frozen=True)
class MetricRecord(_Record):
    """A scalar measured on a model, e.g. ``val_acc`` at ``step`` (epoch)."""

    model_id: int
    name: str
    value: float
    step: int | None = None
    split: str | None = None

    _datetime_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        check_label(self.name, "metric name", 100)
        if not math.isfinite(self.value):  # SQLite would store NaN as NULL, PostgreSQL as NaN
            raise InvalidInputError(f"metric {self.name!r} is {self.value}: metrics must be "
                                    "finite numbers")


@dataclass(frozen=True)
class ProbeSetRecord(_Record):
    """An ordered list of sample ids of one dataset; aligns inputs across modalities."""

    id: int
    name: str
    dataset_id: int | None
    n_samples: int
    ids_sha256: str
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_name(self.name, "probe set name")


@dataclass(frozen=True)
class ActivationRecord(_Record):
    """One layer's activations of one model on one probe set: ``[n_samples, *features]``."""

    id: int
    model_id: int
    layer: str
    probe_set_id: int
    shape: tuple[int, ...]
    dtype: str
    array_key: str
    sha256: str
    created_at: dt.datetime


@dataclass(frozen=True)
class SimilarityRecord(_Record):
    """A cached similarity value between two (model, layer) on one probe set."""

    model_a_id: int
    layer_a: str
    model_b_id: int
    layer_b: str
    probe_set_id: int
    measure: str
    estimator: str
    params: str
    code_version: str
    value: float
    n: int
    cached: bool = False

    _datetime_fields: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class PredictionPairRecord(_Record):
    """How two models' predictions relate on one probe set (``model_a_id < model_b_id``).

    Fractions of the ``n`` probe samples: ``agreement`` (same class predicted),
    ``both_correct``, ``only_a_correct``, ``only_b_correct``, ``neither_correct`` (these
    four sum to 1); ``kappa`` is Cohen's kappa of the two prediction vectors.
    """

    model_a_id: int
    model_b_id: int
    probe_set_id: int
    code_version: str
    n: int
    acc_a: float
    acc_b: float
    agreement: float
    kappa: float
    both_correct: float
    only_a_correct: float
    only_b_correct: float
    neither_correct: float

    _datetime_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.model_a_id >= self.model_b_id:
            raise InvalidInputError("a prediction pair is stored once, with model_a_id < "
                                    f"model_b_id (got {self.model_a_id}, {self.model_b_id})")


@dataclass(frozen=True)
class EnsembleRecord(_Record):
    """Accuracy on a probe set of the two-model ensemble ``method`` (``mean_logits``).

    ``gain_best`` = ``accuracy - max(acc_a, acc_b)``; ``gain_mean`` = ``accuracy -
    (acc_a + acc_b) / 2``. Stored once per pair, ``model_a_id < model_b_id``.
    """

    model_a_id: int
    model_b_id: int
    probe_set_id: int
    method: str
    code_version: str
    n: int
    acc_a: float
    acc_b: float
    accuracy: float
    gain_best: float
    gain_mean: float

    _datetime_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.model_a_id >= self.model_b_id:
            raise InvalidInputError("an ensemble pair is stored once, with model_a_id < "
                                    f"model_b_id (got {self.model_a_id}, {self.model_b_id})")


@dataclass(frozen=True)
class StudyRecord(_Record):
    """A named study: its profile (JSON), probe set, INR population and member models."""

    id: int
    name: str
    profile: dict[str, Any]
    probe_set_id: int
    population_id: int | None
    model_ids: tuple[int, ...]
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_name(self.name, "study name")


#: What a finding's verdict may be.
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


@dataclass(frozen=True)
class FindingRecord(_Record):
    """One judged finding of a study: two compared quantities, their difference with a
    bootstrap confidence interval ``[ci_low, ci_high]`` and the verdict with its reason."""

    study_id: int
    finding: int
    name: str
    label_a: str
    value_a: float
    label_b: str
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    n_boot: int
    verdict: str
    reason: str

    _datetime_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidInputError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

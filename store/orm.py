"""SQLAlchemy 2 ORM rows of the catalog. They never leave ``store``: each has ``to_record``."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.records import (
    ActivationRecord,
    DatasetRecord,
    ModelRecord,
    PopulationRecord,
    ProbeSetRecord,
    SimilarityRecord,
    StudyRecord,
)

__all__ = [
    "Base",
    "SqlActivation",
    "SqlDataset",
    "SqlEnsemble",
    "SqlFinding",
    "SqlMetric",
    "SqlModel",
    "SqlPopulation",
    "SqlPredictionPair",
    "SqlProbeSet",
    "SqlSimilarity",
    "SqlStudy",
    "SqlStudyModel",
    "SqlTag",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint by convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[int]: JSON}


class SqlDataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    n_samples: Mapped[int] = mapped_column(Integer)
    num_classes: Mapped[int] = mapped_column(Integer)
    sample_shape: Mapped[list[int]] = mapped_column(JSON)
    array_key: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self) -> DatasetRecord:
        return DatasetRecord.from_row(self)


class SqlPopulation(Base):
    __tablename__ = "populations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    arch: Mapped[dict[str, Any]] = mapped_column(JSON)
    fit_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_inrs: Mapped[int] = mapped_column(Integer)
    n_params: Mapped[int] = mapped_column(Integer)
    array_key: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="partial")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self) -> PopulationRecord:
        return PopulationRecord.from_row(self)


class SqlModel(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("population_id", "population_row"),
        Index("ix_models_kind_dataset", "kind", "dataset_id"),
        Index("ix_models_name", "name", unique=True),
        {"sqlite_autoincrement": True},  # an id is never handed out twice (migration 0004)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    population_id: Mapped[int | None] = mapped_column(ForeignKey("populations.id"))
    population_row: Mapped[int | None] = mapped_column(Integer)
    sample_id: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    arch: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    checkpoint_key: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    tags: Mapped[list[SqlTag]] = relationship(
        back_populates="model", cascade="all, delete-orphan", lazy="selectin"
    )

    def to_record(self) -> ModelRecord:
        return ModelRecord.from_row(self, tags=tuple(sorted(t.tag for t in self.tags)))


class SqlTag(Base):
    __tablename__ = "tags"
    # `zoo ls --tag T` starts from the tag (the primary key starts from the model)
    __table_args__ = (Index("ix_tags_tag", "tag", "model_id"),)

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    model: Mapped[SqlModel] = relationship(back_populates="tags")


class SqlMetric(Base):
    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int | None] = mapped_column(Integer)
    split: Mapped[str | None] = mapped_column(String(40))


class SqlProbeSet(Base):
    __tablename__ = "probe_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    n_samples: Mapped[int] = mapped_column(Integer)
    sample_ids: Mapped[list[int]] = mapped_column(JSON)
    ids_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self) -> ProbeSetRecord:
        return ProbeSetRecord.from_row(self)


class SqlActivation(Base):
    __tablename__ = "activations"
    __table_args__ = (UniqueConstraint("model_id", "layer", "probe_set_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    layer: Mapped[str] = mapped_column(String(200))
    probe_set_id: Mapped[int] = mapped_column(ForeignKey("probe_sets.id"))
    shape: Mapped[list[int]] = mapped_column(JSON)
    dtype: Mapped[str] = mapped_column(String(20))
    array_key: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self) -> ActivationRecord:
        return ActivationRecord.from_row(self)


class SqlSimilarity(Base):
    __tablename__ = "similarities"
    __table_args__ = (
        UniqueConstraint(
            "model_a_id",
            "layer_a",
            "model_b_id",
            "layer_b",
            "probe_set_id",
            "measure",
            "estimator",
            "params",
            "code_version",
            name="uq_similarities_cache_key",
        ),
        # "most similar to X" reads both sides; the cache key's index serves model_a_id
        Index("ix_similarities_model_b", "model_b_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    layer_a: Mapped[str] = mapped_column(String(200))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    layer_b: Mapped[str] = mapped_column(String(200))
    probe_set_id: Mapped[int] = mapped_column(ForeignKey("probe_sets.id"))
    measure: Mapped[str] = mapped_column(String(40))
    estimator: Mapped[str] = mapped_column(String(40))
    params: Mapped[str] = mapped_column(Text)
    code_version: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self, cached: bool = False) -> SimilarityRecord:
        return SimilarityRecord.from_row(self, cached=cached)


class SqlPredictionPair(Base):
    """Agreement of two models' predictions on a probe set (``PredictionPairRecord``)."""

    __tablename__ = "prediction_agreements"
    __table_args__ = (UniqueConstraint("model_a_id", "model_b_id", "probe_set_id",
                                       "code_version", name="uq_prediction_agreements_key"),
                      Index("ix_prediction_agreements_model_b", "model_b_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    probe_set_id: Mapped[int] = mapped_column(ForeignKey("probe_sets.id"))
    code_version: Mapped[str] = mapped_column(String(40))
    n: Mapped[int] = mapped_column(Integer)
    acc_a: Mapped[float] = mapped_column(Float)
    acc_b: Mapped[float] = mapped_column(Float)
    agreement: Mapped[float] = mapped_column(Float)
    kappa: Mapped[float] = mapped_column(Float)
    both_correct: Mapped[float] = mapped_column(Float)
    only_a_correct: Mapped[float] = mapped_column(Float)
    only_b_correct: Mapped[float] = mapped_column(Float)
    neither_correct: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class SqlEnsemble(Base):
    """Accuracy of a two-model ensemble on a probe set (``EnsembleRecord``)."""

    __tablename__ = "ensembles"
    __table_args__ = (UniqueConstraint("model_a_id", "model_b_id", "probe_set_id", "method",
                                       "code_version", name="uq_ensembles_key"),
                      Index("ix_ensembles_model_b", "model_b_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    probe_set_id: Mapped[int] = mapped_column(ForeignKey("probe_sets.id"))
    method: Mapped[str] = mapped_column(String(40))
    code_version: Mapped[str] = mapped_column(String(40))
    n: Mapped[int] = mapped_column(Integer)
    acc_a: Mapped[float] = mapped_column(Float)
    acc_b: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    gain_best: Mapped[float] = mapped_column(Float)
    gain_mean: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class SqlStudy(Base):
    """A named study (``zoo reproduce``): its profile, probe set and population."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    probe_set_id: Mapped[int] = mapped_column(ForeignKey("probe_sets.id"))
    population_id: Mapped[int | None] = mapped_column(ForeignKey("populations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    def to_record(self, model_ids: tuple[int, ...]) -> StudyRecord:
        return StudyRecord.from_row(self, model_ids=model_ids)


class SqlStudyModel(Base):
    """A model of a study, filling one ``slot`` (kind, seed, source, training settings)."""

    __tablename__ = "study_models"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"),
                                          primary_key=True)
    slot: Mapped[str] = mapped_column(String(200), index=True)


class SqlFinding(Base):
    """A judged finding of a study (``FindingRecord``)."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("study_id", "finding"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    finding: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    label_a: Mapped[str] = mapped_column(String(200))
    value_a: Mapped[float | None] = mapped_column(Float)
    label_b: Mapped[str] = mapped_column(String(200))
    value_b: Mapped[float | None] = mapped_column(Float)
    difference: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n_boot: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

"""Datasets, INR populations and probe sets."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store._base import CatalogBase
from store.arrays import ArrayWriter
from store.errors import DuplicateError, InvalidInputError
from store.keys import DATASET_PARTS, PARAMS, ArrayKey
from store.orm import SqlDataset, SqlMetric, SqlModel, SqlPopulation, SqlProbeSet
from store.records import DatasetRecord, PopulationRecord, ProbeSetRecord, check_label

__all__ = ["DataMixin", "sample_ids_sha256"]

SPLITS = ("train", "val", "test")


def sample_ids_sha256(sample_ids: Sequence[int]) -> str:
    """Fingerprint of an ordered list of sample ids (order matters)."""
    return hashlib.sha256(np.asarray(sample_ids, dtype="<i8").tobytes()).hexdigest()


class DataMixin(CatalogBase):
    """Datasets (images, labels, splits), INR populations and probe sets."""

    # -- datasets ---------------------------------------------------------------
    def add_dataset(
        self,
        name: str,
        *,
        source: str,
        images: npt.ArrayLike,
        labels: npt.ArrayLike,
        splits: npt.ArrayLike,
        num_classes: int,
    ) -> DatasetRecord:
        """Store a dataset's arrays, then register it; sample id = row number.

        Args:
            images: ``[n, *sample_shape]`` (e.g. uint8 ``[n, 28, 28]``).
            labels: ``[n]`` integer class labels.
            splits: ``[n]`` strings, each ``train``, ``val`` or ``test``.
        """
        check_label(name, "dataset name")
        images_a, labels_a = np.asarray(images), np.asarray(labels).astype(np.int64)
        split_a = np.asarray(splits).astype(str)
        n = images_a.shape[0]
        if labels_a.shape != (n,) or split_a.shape != (n,):
            raise InvalidInputError(
                f"dataset {name!r}: {n} images but labels {labels_a.shape} "
                f"and splits {split_a.shape}"
            )
        if not set(np.unique(split_a)) <= set(SPLITS):
            raise InvalidInputError(f"dataset {name!r}: splits must be one of {SPLITS}")
        with self._session() as s:
            if s.scalar(select(SqlDataset.id).where(SqlDataset.name == name)) is not None:
                raise DuplicateError(f"a dataset named {name!r} is already registered")
        group = ArrayKey.new("datasets")
        key = str(group)
        codes = np.array([SPLITS.index(x) for x in split_a], np.int8)
        values_of: tuple[np.ndarray, ...] = (images_a, labels_a, codes)
        for part, values in zip(DATASET_PARTS, values_of, strict=True):
            self.arrays.write(str(group.child(part)), values)

        def _insert(s: Session) -> DatasetRecord:
            row = SqlDataset(name=name, source=source, n_samples=n, num_classes=num_classes,
                             sample_shape=list(images_a.shape[1:]), array_key=key)
            s.add(row)
            s.flush()
            return row.to_record()

        try:
            return self._write(_insert,
                               on_duplicate=f"a dataset named {name!r} is already registered")
        except (IntegrityError, DuplicateError):  # no row points at the arrays
            self.arrays.delete(key)
            raise

    def get_dataset(self, ref: str | int) -> DatasetRecord:
        """A dataset by name or id."""
        with self._session() as s:
            return self._dataset_row(s, ref).to_record()

    def list_datasets(self) -> list[DatasetRecord]:
        """Every registered dataset."""
        with self._session() as s:
            return [r.to_record() for r in s.scalars(select(SqlDataset).order_by(SqlDataset.id))]

    def dataset_arrays(self, ref: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(images [n, ...], labels [n] int64, splits [n] str)`` of a dataset."""
        record = self.get_dataset(ref)
        group = ArrayKey.parse(record.array_key)
        images, labels, codes = (self.arrays.read(str(group.child(p))) for p in DATASET_PARTS)
        return images, labels, np.array(SPLITS)[codes]

    # -- populations --------------------------------------------------------------
    def create_population(
        self,
        name: str,
        *,
        dataset: str | int,
        arch: dict[str, Any],
        fit_config: dict[str, Any],
        n_inrs: int,
        n_params: int,
        chunk_rows: int = 256,
    ) -> tuple[PopulationRecord, ArrayWriter]:
        """Create an empty ``[n_inrs, n_params]`` float32 array, then a ``partial`` row.

        The array lives at ``populations/<uuid>/params``; callers may keep other
        per-INR arrays beside it under the same prefix. Fill the array through the
        returned writer, calling ``population_progress`` after each block, and
        ``complete_population`` at the end.
        """
        check_label(name, "population name")
        params = ArrayKey.new("populations", PARAMS)
        key = str(params)
        writer = self.arrays.create(key, (n_inrs, n_params), np.float32, chunk_rows=chunk_rows)

        def _insert(s: Session) -> PopulationRecord:
            ds = self._dataset_row(s, dataset)
            row = SqlPopulation(name=name, dataset_id=ds.id, arch=arch, fit_config=fit_config,
                                n_inrs=n_inrs, n_params=n_params, array_key=key,
                                status="partial", rows_done=0)
            s.add(row)
            s.flush()
            return row.to_record()

        try:
            return self._write(
                _insert, on_duplicate=f"a population named {name!r} already exists"), writer
        except BaseException:
            self.arrays.delete(str(params.root))
            raise

    def resume_population(self, ref: str | int) -> tuple[PopulationRecord, ArrayWriter]:
        """A writer over a ``partial`` population's existing array, to continue filling it."""
        record = self.get_population(ref)
        if record.status != "partial":
            raise DuplicateError(f"population {record.name!r} is already complete")
        return record, ArrayWriter(self.arrays.open(record.array_key, mode="r+"), record.array_key)

    def delete_population(self, ref: str | int) -> PopulationRecord:
        """Remove a population, its INR models (with their metrics) and its arrays."""

        def _do(s: Session) -> PopulationRecord:
            row = self._population_row(s, ref)
            record = row.to_record()
            users = list(s.scalars(select(SqlModel.id).where(
                SqlModel.population_id == row.id, SqlModel.kind != "inr")))
            if users:
                raise InvalidInputError(f"models {users[:5]} were trained on population "
                                        f"{row.name!r}: remove them first")
            for model in s.scalars(select(SqlModel).where(SqlModel.population_id == row.id)):
                s.delete(model)
            s.flush()
            s.delete(row)
            return record

        record = self._write(_do)
        self.arrays.delete(str(ArrayKey.parse(record.array_key).root))
        return record

    def population_progress(self, ref: str | int, rows_done: int) -> None:
        """Record that the first ``rows_done`` rows of a partial population are stored."""

        def _do(s: Session) -> None:
            self._population_row(s, ref).rows_done = int(rows_done)

        self._write(_do)

    def complete_population(
        self,
        ref: str | int,
        *,
        sha256: str,
        sample_ids: Sequence[int],
        seed: int | None = None,
        metrics: dict[str, Sequence[float]] | None = None,
        views: Sequence[int] | None = None,
    ) -> PopulationRecord:
        """Mark a population complete and register each row as an ``inr`` model.

        Row ``i`` of the array is the INR of sample ``sample_ids[i]``; ``metrics``
        maps a metric name to one value per row (e.g. ``psnr``); ``views`` gives each
        row's view number (several INRs of one image), kept in the model's config as
        ``view``. Everything is inserted in one transaction with the status change.
        """
        if views is not None and len(views) != len(sample_ids):
            raise InvalidInputError(f"{len(views)} views for {len(sample_ids)} INRs")
        per_row = {k: [float(v) for v in vals] for k, vals in (metrics or {}).items()}
        for k, vals in per_row.items():
            if len(vals) != len(sample_ids):
                raise InvalidInputError(f"metric {k!r} has {len(vals)} values for "
                                        f"{len(sample_ids)} INRs")

        def _do(s: Session) -> PopulationRecord:
            row = self._population_row(s, ref)
            if len(sample_ids) != row.n_inrs:
                raise InvalidInputError(
                    f"{len(sample_ids)} sample ids for a population of {row.n_inrs} INRs"
                )
            if row.status == "complete":
                raise DuplicateError(f"population {row.name!r} is already complete")
            row.status, row.rows_done, row.sha256 = "complete", row.n_inrs, sha256
            models = [SqlModel(kind="inr", name=f"inr#{i}@{row.name}",
                               dataset_id=row.dataset_id, population_id=row.id,
                               population_row=i, sample_id=int(sid), seed=seed,
                               arch=row.arch, status="ready",
                               config={} if views is None else {"view": int(views[i])})
                      for i, sid in enumerate(sample_ids)]
            s.add_all(models)
            s.flush()
            s.add_all(SqlMetric(model_id=m.id, name=k, value=vals[i])
                      for k, vals in per_row.items() for i, m in enumerate(models))
            return row.to_record()

        return self._write(_do)

    def get_population(self, ref: str | int) -> PopulationRecord:
        """A population by name or id."""
        with self._session() as s:
            return self._population_row(s, ref).to_record()

    def find_population(self, name: str) -> PopulationRecord | None:
        """The population with this name, or ``None``."""
        with self._session() as s:
            row = s.scalar(select(SqlPopulation).where(SqlPopulation.name == name))
            return row.to_record() if row else None

    def list_populations(self) -> list[PopulationRecord]:
        """Every population, complete or partial."""
        with self._session() as s:
            q = select(SqlPopulation).order_by(SqlPopulation.id)
            return [r.to_record() for r in s.scalars(q)]

    def population_sample_ids(self, ref: str | int) -> np.ndarray:
        """``[n_inrs]`` sample ids of a complete population's rows, in row order."""
        with self._session() as s:
            pop = self._population_row(s, ref)
            q = (select(SqlModel.sample_id)
                 .where(SqlModel.population_id == pop.id, SqlModel.kind == "inr")
                 .order_by(SqlModel.population_row))
            return np.asarray(list(s.scalars(q)), dtype=np.int64)

    # -- probe sets ---------------------------------------------------------------
    def create_probe_set(
        self, name: str, sample_ids: Sequence[int], dataset: str | int | None = None
    ) -> ProbeSetRecord:
        """Register an ordered list of sample ids under a name."""
        check_label(name, "probe set name")
        ids = [int(i) for i in sample_ids]
        if not ids:
            raise InvalidInputError(f"probe set {name!r} has no sample ids")
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"probe set {name!r} repeats sample ids")

        def _do(s: Session) -> ProbeSetRecord:
            dataset_id = None
            if dataset is not None:
                ds = self._dataset_row(s, dataset)
                bad = [i for i in ids if not 0 <= i < ds.n_samples]
                if bad:
                    raise InvalidInputError(
                        f"sample ids {bad[:5]} are outside dataset {ds.name!r} "
                        f"(0..{ds.n_samples - 1})"
                    )
                dataset_id = ds.id
            row = SqlProbeSet(name=name, dataset_id=dataset_id, n_samples=len(ids),
                              sample_ids=ids, ids_sha256=sample_ids_sha256(ids))
            s.add(row)
            s.flush()
            return row.to_record()

        return self._write(_do, on_duplicate=f"a probe set named {name!r} already exists")

    def get_probe_set(self, ref: str | int) -> ProbeSetRecord:
        """A probe set by name or id."""
        with self._session() as s:
            return self._probe_row(s, ref).to_record()

    def probe_sample_ids(self, ref: str | int) -> list[int]:
        """The ordered sample ids of a probe set."""
        with self._session() as s:
            return list(self._probe_row(s, ref).sample_ids)

    def list_probe_sets(self) -> list[ProbeSetRecord]:
        """Every probe set."""
        with self._session() as s:
            return [r.to_record() for r in s.scalars(select(SqlProbeSet).order_by(SqlProbeSet.id))]


"""Recorded activations and the similarity cache."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store._base import CatalogBase
from store._db import retry_locked
from store.arrays import ArrayWriter
from store.errors import CorruptArrayError, DuplicateError, InvalidInputError, NotFoundError
from store.orm import SqlActivation, SqlSimilarity
from store.records import ActivationRecord, SimilarityRecord, check_label

__all__ = ["SIMILARITY_SOURCE_KEYS", "ActivationsMixin", "SimilarityKey", "check_activations"]

KEY_COLUMNS = ("model_a_id", "layer_a", "model_b_id", "layer_b", "probe_set_id", "measure",
               "estimator", "params", "code_version")
#: Keys of a cached similarity's ``params`` holding the sha256 of the activation arrays of
#: (model_a, layer_a) and (model_b, layer_b) it was computed from (`zoo check` verifies them).
SIMILARITY_SOURCE_KEYS = ("sha256_a", "sha256_b")
#: (model_a, layer_a, model_b, layer_b, probe_set_id, measure, estimator, params, code_version)
SimilarityKey = tuple[int, str, int, str, int, str, str, str, str]
#: Rows per statement of ``put_similarities`` (12 bound values a row: 2,400 per statement,
#: under SQLite's 32,766 and PostgreSQL's 65,535 parameters).
PUT_BATCH = 200


def check_activations(arr: np.ndarray, n_samples: int, probe_name: str) -> None:
    """Raise ``InvalidInputError`` unless ``arr`` can be a layer's activations on a probe set.

    Activations are ``[n_samples, *features]`` with at least one feature, or ``[n_samples]``
    (one value a sample, as recorded ``predictions`` are), real and finite, and not every
    sample the same (CKA and its kin divide by the spread of the samples: a constant layer
    has none). Checked before anything is written.

    Args:
        arr: the activations, ``[n, *features]``.
        n_samples: how many samples the probe set has (``n`` must equal it).
        probe_name: the probe set's name, for the message.
    """
    if arr.ndim < 1:
        raise InvalidInputError(
            "activations must be [samples, features...] or [samples], got a scalar")
    if arr.shape[0] != n_samples:
        raise InvalidInputError(f"activations have {arr.shape[0]} rows but probe set "
                                f"{probe_name!r} has {n_samples} samples")
    if arr.ndim > 1 and int(np.prod(arr.shape[1:])) < 1:
        raise InvalidInputError(f"activations of shape {arr.shape} have no features")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number)
                                    or arr.dtype == np.bool_):
        raise InvalidInputError(f"activations must be real numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(f"activations hold {bad} NaN or infinite values: only finite "
                                "numbers can be compared")
    if arr.shape[0] < 2 or bool((arr == arr[:1]).all()):
        raise InvalidInputError("activations are the same for every sample (a constant layer): "
                                "similarities of it are undefined")


class ActivationsMixin(CatalogBase):
    """Activations of a (model, layer, probe set) in Zarr, and cached similarity values."""

    def begin_activation(
        self,
        model_id: int,
        layer: str,
        probe: str | int,
        feature_shape: tuple[int, ...],
        dtype: npt.DTypeLike = np.float32,
        chunk_rows: int | None = None,
        replace: bool = False,
    ) -> ArrayWriter:
        """Create the array ``[n_probe, *feature_shape]`` for one layer; nothing registered yet.

        Fill it through the writer, then call ``register_activation`` (or delete
        ``writer.key`` to abandon it). Until registered it is an orphan to `zoo check`.
        """
        check_label(layer, "layer name")
        self._require_model(model_id)
        probe_rec = self._probe(probe)
        if not replace and self.find_activation(model_id, layer, probe_rec.id) is not None:
            raise DuplicateError(
                f"model {model_id} already has activations for layer {layer!r} on probe set "
                f"{probe_rec.name!r}: pass --replace to overwrite"
            )
        shape = (probe_rec.n_samples, *feature_shape)
        return self.arrays.create(self.arrays.new_key("activations"), shape, dtype, chunk_rows,
                                  attrs={"model_id": model_id, "layer": layer,
                                         "probe_set": probe_rec.name})

    def register_activation(
        self, model_id: int, layer: str, probe: str | int, writer: ArrayWriter,
        replace: bool = False,
    ) -> ActivationRecord:
        """Register a completely written array as (model, layer, probe)'s activations."""
        return self.register_activations(model_id, probe, {layer: writer}, replace)[0]

    @contextmanager
    def writing_activation(
        self,
        model_id: int,
        layer: str,
        probe: str | int,
        feature_shape: tuple[int, ...],
        dtype: npt.DTypeLike = np.float32,
        chunk_rows: int | None = None,
        replace: bool = False,
    ) -> Iterator[ArrayWriter]:
        """Stream one layer's activations into a new array; register it on clean exit.

        Yields a writer for ``[n_probe, *feature_shape]``. The row is committed only
        after every block is written; on error the partial array is deleted.
        """
        writer = self.begin_activation(model_id, layer, probe, feature_shape, dtype, chunk_rows,
                                       replace)
        try:
            yield writer
            self.register_activation(model_id, layer, probe, writer, replace)
        except BaseException:
            self.arrays.delete(writer.key)
            raise

    def add_activation(
        self, model_id: int, layer: str, probe: str | int, data: npt.ArrayLike,
        replace: bool = False,
    ) -> ActivationRecord:
        """Store an in-memory activation array ``[n_probe, ...]`` for (model, layer, probe)."""
        arr = np.asarray(data)
        probe_rec = self._probe(probe)
        check_activations(arr, probe_rec.n_samples, probe_rec.name)
        with self.writing_activation(model_id, layer, probe_rec.id, arr.shape[1:], arr.dtype,
                                     replace=replace) as w:
            rows = w.array.chunks[0]
            for start in range(0, arr.shape[0], rows):
                w.write(start, arr[start : start + rows])
        return self.get_activation(model_id, layer, probe_rec.id)

    def register_activations(
        self, model_id: int, probe: str | int, writers: dict[str, ArrayWriter],
        replace: bool = False,
    ) -> list[ActivationRecord]:
        """Register several completely written layers in ONE transaction (all or none).

        With ``replace``, existing activations of those layers are swapped out and the
        similarities cached from them dropped; their arrays are deleted afterwards.
        """
        probe_id = self._probe(probe).id
        shas = {layer: w.close() for layer, w in writers.items()}
        old_keys: list[str] = []

        def _do(s: Session) -> None:
            old_keys.clear()  # this attempt's, should an earlier one have been rolled back
            for layer, writer in writers.items():
                if not self._whole(writer.key):
                    raise CorruptArrayError(
                        f"the array written for layer {layer!r} ({writer.key}) was removed "
                        "before it was registered (a concurrent `zoo check --fix`?): "
                        "record or import it again")
                old = s.scalar(select(SqlActivation).where(
                    SqlActivation.model_id == model_id, SqlActivation.layer == layer,
                    SqlActivation.probe_set_id == probe_id))
                if old is not None:
                    if not replace:
                        raise DuplicateError(
                            f"activations for layer {layer!r} already stored")
                    old_keys.append(old.array_key)
                    s.delete(old)
                    sim = SqlSimilarity
                    s.execute(delete(sim).where(  # cached values are stale now
                        sim.probe_set_id == probe_id,
                        or_((sim.model_a_id == model_id) & (sim.layer_a == layer),
                            (sim.model_b_id == model_id) & (sim.layer_b == layer))))
                    s.flush()
                s.add(SqlActivation(model_id=model_id, layer=layer, probe_set_id=probe_id,
                                    shape=list(writer.array.shape),
                                    dtype=str(writer.array.dtype), array_key=writer.key,
                                    sha256=shas[layer]))

        self._write(_do, lock_files=True,
                    on_duplicate="activations for these layers are already stored")
        for key in old_keys:
            self.arrays.delete(key)
        return [self.get_activation(model_id, layer, probe_id) for layer in writers]

    def _whole(self, key: str) -> bool:
        """Whether the array at ``key`` exists with every chunk."""
        try:
            return self.arrays.missing_chunks(key) == 0
        except NotFoundError:
            return False

    def find_activation(
        self, model_id: int, layer: str, probe: str | int
    ) -> ActivationRecord | None:
        """The activation record of (model, layer, probe set), or ``None``."""
        probe_id = self._probe(probe).id
        with self._session() as s:
            row = s.scalar(select(SqlActivation).where(
                SqlActivation.model_id == model_id, SqlActivation.layer == layer,
                SqlActivation.probe_set_id == probe_id))
            return row.to_record() if row else None

    def get_activation(self, model_id: int, layer: str, probe: str | int) -> ActivationRecord:
        """Like ``find_activation`` but raises ``NotFoundError`` naming what is stored."""
        found = self.find_activation(model_id, layer, probe)
        if found is None:
            have = sorted({a.layer for a in self.list_activations(model_id)})
            raise NotFoundError(
                f"model {model_id} has no activations for layer {layer!r} on probe set "
                f"{probe!r} (stored layers: {', '.join(have) or 'none'}): run `zoo record` "
                "(a trained model) or `zoo activations import` (any model, INRs too)"
            )
        return found

    def list_activations(
        self, model_id: int | None = None, probe: str | int | None = None
    ) -> list[ActivationRecord]:
        """Activation records, optionally of one model and/or probe set, in layer order stored."""
        with self._session() as s:
            q = select(SqlActivation).order_by(SqlActivation.model_id, SqlActivation.id)
            if model_id is not None:
                q = q.where(SqlActivation.model_id == model_id)
            if probe is not None:
                q = q.where(SqlActivation.probe_set_id == self._probe_row(s, probe).id)
            return [r.to_record() for r in s.scalars(q)]

    # -- similarity cache ---------------------------------------------------------
    def get_similarities(
        self, keys: Sequence[SimilarityKey]
    ) -> dict[SimilarityKey, SimilarityRecord]:
        """Cached values for the given keys (missing keys are absent from the result)."""
        out: dict[SimilarityKey, SimilarityRecord] = {}
        cols = (SqlSimilarity.model_a_id, SqlSimilarity.layer_a, SqlSimilarity.model_b_id,
                SqlSimilarity.layer_b, SqlSimilarity.probe_set_id, SqlSimilarity.measure,
                SqlSimilarity.estimator, SqlSimilarity.params, SqlSimilarity.code_version)
        with self._session() as s:
            for start in range(0, len(keys), 200):
                batch = list(keys[start : start + 200])
                for row in s.scalars(select(SqlSimilarity).where(tuple_(*cols).in_(batch))):
                    key: SimilarityKey = (row.model_a_id, row.layer_a, row.model_b_id, row.layer_b,
                                          row.probe_set_id, row.measure, row.estimator,
                                          row.params, row.code_version)
                    out[key] = row.to_record(cached=True)
        return out

    def put_similarities(self, records: Iterable[SimilarityRecord], replace: bool = False) -> int:
        """Insert similarity values; keys already cached (e.g. by a concurrent query) are kept.

        With ``replace`` an existing row with the same key is overwritten instead.
        All rows go in ONE write transaction: with ``replace`` one ``DELETE ... WHERE
        (key columns) IN (...)`` per ``PUT_BATCH`` keys, then one multi-row ``INSERT ... ON
        CONFLICT DO NOTHING RETURNING id`` per ``PUT_BATCH`` rows, so a key a concurrent
        writer cached first is skipped, not an error. A key given twice is written once
        (the first record wins). Returns how many rows were written.
        """
        unique: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in records:
            row = {k: v for k, v in r.to_dict().items() if k != "cached"}
            unique.setdefault(tuple(row[c] for c in KEY_COLUMNS), row)
        if not unique:
            return 0
        keys, rows = list(unique), list(unique.values())
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        key_cols = tuple_(*(getattr(SqlSimilarity, c) for c in KEY_COLUMNS))
        stmt = insert(SqlSimilarity).on_conflict_do_nothing().returning(SqlSimilarity.id)

        def _do() -> int:
            written = 0
            with self._session(write=True) as s:
                for start in range(0, len(rows), PUT_BATCH):
                    if replace:
                        s.execute(delete(SqlSimilarity).where(
                            key_cols.in_(keys[start : start + PUT_BATCH])))
                    # executemany through SQLAlchemy's "insertmanyvalues": multi-row
                    # INSERTs from one cached compiled statement; RETURNING yields a row
                    # for each inserted key and none for a conflicting one
                    written += len(s.connection().execute(stmt, rows[start : start + PUT_BATCH])
                                   .all())
            return written

        try:
            return retry_locked(_do)
        except IntegrityError as exc:  # a model or probe set was removed meanwhile
            raise NotFoundError("a model or probe set was removed while its similarities were "
                                "computed: see `zoo ls`, then run the query again") from exc

"""Models, tags, metrics and lineage: the catalog's model registry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store._base import CatalogBase
from store.arrays import bytes_sha256
from store.errors import DuplicateError, InvalidInputError, NotFoundError
from store.orm import SqlActivation, SqlMetric, SqlModel, SqlTag
from store.records import MetricRecord, ModelRecord, check_json, check_kind

__all__ = ["ModelsMixin"]


def _check_tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or len(tag) > 100 or any(c.isspace() for c in tag):
        raise InvalidInputError(f"invalid tag {tag!r}: tags are 1-100 characters, no spaces")
    return tag


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or name.isdigit() or any(c.isspace() for c in name):
        raise InvalidInputError(f"invalid model name {name!r}: 1-200 characters, no spaces, "
                                "not only digits (those are ids)")
    return name


def _metric_rows(model_id: int, metrics: Sequence[MetricRecord]) -> list[SqlMetric]:
    return [SqlMetric(model_id=model_id, name=m.name, value=float(m.value), step=m.step,
                      split=m.split) for m in metrics]


def _base_name(kind: str, seed: int | None, source: str | None) -> str:
    """``gmn-s0@mnist-5k/siren-w32-d3/s0``: kind, seed, then what it was trained on."""
    return kind + (f"-s{seed}" if seed is not None else "") + (f"@{source}" if source else "")


class ModelsMixin(CatalogBase):
    """Registering, listing, tagging and removing models."""

    def add_model(
        self,
        kind: str,
        *,
        checkpoint: bytes | None = None,
        arch: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        dataset: str | int | None = None,
        seed: int | None = None,
        parent_id: int | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        metrics: Sequence[MetricRecord] = (),
        population_id: int | None = None,
        population_row: int | None = None,
        sample_id: int | None = None,
    ) -> ModelRecord:
        """Register one model; its checkpoint bytes (safetensors) are stored first.

        The checkpoint file lands content-addressed in the array store before the
        row is committed, so no row ever points at a missing file. Registering the
        same checkpoint content twice raises ``DuplicateError`` naming the first.
        """
        check_kind(kind)
        clean_tags = sorted({_check_tag(t) for t in tags})
        check_json(arch or {}, "arch")
        check_json(config or {}, "config")
        sha = bytes_sha256(checkpoint) if checkpoint is not None else None
        if sha is not None and (taken := self._checkpoint_taken(sha)) is not None:
            raise taken
        name = _check_name(name) if name is not None else None
        with self._session() as s:  # check references before any bytes are written
            self._check_references(s, dataset, parent_id, name)
        key = self.arrays.put_file(checkpoint, suffix=".safetensors") if checkpoint else None

        def _insert(s: Session) -> ModelRecord:
            if key is not None and checkpoint is not None and not self.arrays.exists(key):
                self.arrays.put_file(checkpoint, suffix=".safetensors")  # removed meanwhile
            dataset_id = self._check_references(s, dataset, parent_id, name)
            given = name if name is not None else self._free_name(
                s, _base_name(kind, seed, self._source_name(s, population_id, dataset_id)))
            row = SqlModel(
                kind=kind, name=given, dataset_id=dataset_id, seed=seed,
                arch=arch or {}, config=config or {}, checkpoint_key=key, sha256=sha,
                parent_id=parent_id, population_id=population_id,
                population_row=population_row, sample_id=sample_id, status="ready",
            )
            row.tags = [SqlTag(tag=t) for t in clean_tags]
            s.add(row)
            s.flush()
            s.add_all(_metric_rows(row.id, metrics))
            return row.to_record()

        def duplicate(exc: IntegrityError) -> DuplicateError:
            # a concurrent writer registered the same bytes (its row owns the file) or name
            taken = self._checkpoint_taken(sha) if sha is not None else None
            return taken or DuplicateError("a model with this name was registered meanwhile "
                                           f"({str(exc.orig).splitlines()[0]})")

        try:
            return self._write(_insert, lock_files=True, on_duplicate=duplicate)
        except BaseException:  # no row holds the file this call stored: remove it
            if key is not None and sha is not None and self.find_by_sha256(sha) is None:
                self.arrays.delete(key)
            raise

    def _checkpoint_taken(self, sha: str) -> DuplicateError | None:
        """The error for registering content that model ``first`` already holds, if any."""
        first = self.find_by_sha256(sha)
        if first is None:
            return None
        return DuplicateError(f"this checkpoint is already registered as model {first}", first)

    def _check_references(self, session: Session, dataset: str | int | None,
                          parent_id: int | None, name: str | None) -> int | None:
        """Raise unless the dataset and parent exist and the name is free; the dataset id."""
        dataset_id = self._dataset_row(session, dataset).id if dataset is not None else None
        if parent_id is not None:
            self._model_row(session, parent_id)
        if name is not None:
            self._name_free(session, name)
        return dataset_id

    @staticmethod
    def _name_free(session: Session, name: str) -> None:
        holder = session.scalar(select(SqlModel.id).where(SqlModel.name == name))
        if holder is not None:
            raise DuplicateError(f"the name {name!r} is taken by model {holder}", holder)

    @staticmethod
    def _free_name(session: Session, base: str) -> str:
        """``base``, or ``base`` with ``#2``, ``#3``, ... before the ``@`` if that is taken."""
        head, at, source = base.partition("@")
        taken = set(session.scalars(select(SqlModel.name).where(
            SqlModel.name.like(f"{head}%{at}{source}"))))
        n = 1
        while (name := base if n == 1 else f"{head}#{n}{at}{source}") in taken:
            n += 1
        return name

    def _source_name(self, session: Session, population_id: int | None,
                     dataset_id: int | None) -> str | None:
        if population_id is not None:
            return self._population_row(session, population_id).name
        if dataset_id is not None:
            return self._dataset_row(session, dataset_id).name
        return None

    def resolve_model(self, ref: str | int) -> int:
        """The id of the model ``ref`` names: an id, a name (``gmn-s0@mnist-5k/...``), or
        ``KIND:SEED`` when exactly one trained model has that kind and seed."""
        with self._session() as s:
            if isinstance(ref, int) or ref.strip().isdigit():
                return self._model_row(s, int(ref)).id
            found = s.scalar(select(SqlModel.id).where(SqlModel.name == ref.strip()))
            if found is not None:
                return int(found)
            kind, colon, seed = ref.strip().partition(":")
            if colon and seed.isdigit():
                rows = s.execute(select(SqlModel.id, SqlModel.name).where(
                    SqlModel.kind == kind, SqlModel.seed == int(seed)).order_by(SqlModel.id)
                    .limit(6)).all()
                if len(rows) == 1:
                    return int(rows[0][0])
                if rows:
                    names = ", ".join(str(r[1]) for r in rows[:5])
                    raise InvalidInputError(f"{ref!r} names {len(rows)}+ models ({names}): "
                                            "give one of their names or ids")
        raise NotFoundError(f"no model {ref!r} (give an id, a name or KIND:SEED): see `zoo ls`")

    def find_by_sha256(self, sha256: str) -> int | None:
        """Id of the model whose content has this sha256, if any."""
        with self._session() as s:
            return s.scalar(select(SqlModel.id).where(SqlModel.sha256 == sha256))

    def get_model(self, model_id: int) -> ModelRecord:
        """The model with this id; ``NotFoundError`` if there is none."""
        with self._session() as s:
            return self._model_row(s, model_id).to_record()

    def list_models(
        self,
        *,
        kind: str | None = None,
        dataset: str | int | None = None,
        tag: str | None = None,
        population: str | int | None = None,
        ids: Iterable[int] | None = None,
        include_inrs: bool = True,
        limit: int | None = None,
    ) -> list[ModelRecord]:
        """Models matching every given filter, oldest first."""
        with self._session() as s:
            q = select(SqlModel).order_by(SqlModel.id)
            if kind is not None:
                q = q.where(SqlModel.kind == kind)
            elif not include_inrs:
                q = q.where(SqlModel.kind != "inr")
            if dataset is not None:
                q = q.where(SqlModel.dataset_id == self._dataset_row(s, dataset).id)
            if population is not None:  # the INRs of a population
                q = q.where(SqlModel.population_id == self._population_row(s, population).id,
                            SqlModel.kind == "inr")
            if tag is not None:
                q = q.where(SqlModel.tags.any(SqlTag.tag == tag))
            if ids is not None:
                q = q.where(SqlModel.id.in_(list(ids)))
            if limit is not None:
                q = q.limit(limit)
            return [r.to_record() for r in s.scalars(q)]

    def count_models(self, kind: str | None = None) -> int:
        """How many models (of one kind) the catalog holds."""
        with self._session() as s:
            q = select(func.count()).select_from(SqlModel)
            if kind is not None:
                q = q.where(SqlModel.kind == kind)
            return int(s.scalar(q) or 0)

    def tag(self, model_id: int, *tags: str) -> ModelRecord:
        """Add tags to a model (adding an existing tag is a no-op)."""
        clean = {_check_tag(t) for t in tags}

        def _do(s: Session) -> ModelRecord:
            row = self._model_row(s, model_id)
            have = {t.tag for t in row.tags}
            row.tags.extend(SqlTag(tag=t) for t in sorted(clean - have))
            s.flush()
            return row.to_record()

        return self._write(_do)

    def untag(self, model_id: int, *tags: str) -> ModelRecord:
        """Remove tags from a model (removing an absent tag is a no-op)."""

        def _do(s: Session) -> ModelRecord:
            row = self._model_row(s, model_id)
            row.tags = [t for t in row.tags if t.tag not in set(tags)]
            s.flush()
            return row.to_record()

        return self._write(_do)

    def remove_model(self, model_id: int) -> ModelRecord:
        """Delete a model, its metrics, tags, activations and cached similarities.

        The rows go first (one transaction); the files they pointed at are deleted
        after, so an interruption leaves at worst orphans that `zoo check --fix` removes.
        """

        def _do(s: Session) -> tuple[ModelRecord, list[str]]:
            row = self._model_row(s, model_id)
            if s.scalar(select(func.count()).where(SqlModel.parent_id == model_id)):
                raise InvalidInputError(
                    f"model {model_id} is the parent of other models: remove those first"
                )
            if row.kind == "inr" and row.population_id is not None:
                raise InvalidInputError(
                    f"model {model_id} is an INR of population {row.population_id}: "
                    "INRs are removed with their population"
                )
            record = row.to_record()
            keys = list(s.scalars(select(SqlActivation.array_key)
                                  .where(SqlActivation.model_id == model_id)))
            s.execute(delete(SqlActivation).where(SqlActivation.model_id == model_id))
            s.delete(row)
            return record, keys

        record, keys = self._write(_do)
        for key in keys:
            self.arrays.delete(key)
        if record.checkpoint_key:
            self._delete_unreferenced_checkpoint(record.checkpoint_key)
        return record

    def _delete_unreferenced_checkpoint(self, key: str) -> None:
        """Delete a content-addressed checkpoint file unless a row (registered meanwhile)
        points at it; under the files lock, so a concurrent registration either sees
        the file gone (and stores it again) or its row keeps the file."""

        def _do(s: Session) -> None:
            if s.scalar(select(func.count()).where(SqlModel.checkpoint_key == key)) == 0:
                self.arrays.delete(key)

        self._write(_do, lock_files=True)

    def log_metrics(self, model_id: int, metrics: Sequence[MetricRecord]) -> None:
        """Store metrics of a model in one transaction."""

        def _do(s: Session) -> None:
            self._model_row(s, model_id)
            s.add_all(_metric_rows(model_id, metrics))

        self._write(_do)

    def get_metrics(self, model_id: int) -> list[MetricRecord]:
        """All metrics of a model, in the order they were stored."""
        with self._session() as s:
            self._model_row(s, model_id)
            rows = s.scalars(select(SqlMetric).where(SqlMetric.model_id == model_id)
                             .order_by(SqlMetric.id))
            return [MetricRecord(model_id=m.model_id, name=m.name, value=m.value,
                                 step=m.step, split=m.split) for m in rows]

    def lineage(self, model_id: int) -> list[ModelRecord]:
        """The model and its ancestors through ``parent_id``, nearest first."""
        chain: list[ModelRecord] = []
        seen: set[int] = set()
        current: int | None = model_id
        while current is not None and current not in seen:
            seen.add(current)
            record = self.get_model(current)
            chain.append(record)
            current = record.parent_id
        return chain

    def children(self, model_id: int) -> list[ModelRecord]:
        """Models whose parent is this model."""
        with self._session() as s:
            q = select(SqlModel).where(SqlModel.parent_id == model_id).order_by(SqlModel.id)
            return [r.to_record() for r in s.scalars(q)]

    def checkpoint_bytes(self, model_id: int) -> bytes:
        """The stored checkpoint (safetensors bytes) of a model."""
        record = self.get_model(model_id)
        if record.checkpoint_key is None:
            raise NotFoundError(f"model {model_id} ({record.kind}) has no checkpoint file")
        return self.arrays.get_file(record.checkpoint_key)

"""What a study stores beside the similarity cache: prediction agreements, ensembles,
the study itself (profile, probe set, member models) and its judged findings.

Agreements and ensembles are keyed like the similarity cache (models, probe set, code
version, method) and inserted with ``ON CONFLICT DO NOTHING``, so recomputing or two
concurrent studies neither fail nor duplicate rows. Findings are replaced as a whole.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store._base import CatalogBase
from store.errors import NotFoundError
from store.orm import SqlEnsemble, SqlFinding, SqlPredictionPair, SqlStudy, SqlStudyModel
from store.records import EnsembleRecord, FindingRecord, PredictionPairRecord, StudyRecord

__all__ = ["StudyMixin"]

_NULLABLE_FLOATS = ("value_a", "value_b", "difference", "ci_low", "ci_high")


class StudyMixin(CatalogBase):
    """Prediction agreements, ensembles, studies and findings."""

    def _insert_ignore(self, table: type[Any], rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert

        def _do(s: Session) -> int:
            stmt = insert(table).on_conflict_do_nothing()
            return sum(len(s.execute(stmt.values(**r).returning(table.id)).all()) for r in rows)

        return self._write(_do)

    # -- prediction agreements and ensembles -------------------------------------------
    def put_prediction_pairs(self, records: Iterable[PredictionPairRecord]) -> int:
        """Store agreement rows; keys already stored are kept. Returns rows written."""
        return self._insert_ignore(SqlPredictionPair, [r.to_dict() for r in records])

    def get_prediction_pairs(self, probe: str | int, model_ids: Sequence[int] | None = None,
                             code_version: str | None = None) -> list[PredictionPairRecord]:
        """Stored agreement rows on a probe set (both models among ``model_ids`` if given)."""
        return self._pairs(SqlPredictionPair, PredictionPairRecord, probe, model_ids,
                           code_version)

    def put_ensembles(self, records: Iterable[EnsembleRecord]) -> int:
        """Store ensemble rows; keys already stored are kept. Returns rows written."""
        return self._insert_ignore(SqlEnsemble, [r.to_dict() for r in records])

    def get_ensembles(self, probe: str | int, model_ids: Sequence[int] | None = None,
                      code_version: str | None = None) -> list[EnsembleRecord]:
        """Stored ensemble rows on a probe set (both models among ``model_ids`` if given)."""
        return self._pairs(SqlEnsemble, EnsembleRecord, probe, model_ids, code_version)

    def _pairs(self, table: Any, record_type: type[Any], probe: str | int,
               model_ids: Sequence[int] | None, code_version: str | None) -> list[Any]:
        with self._session() as s:
            q = select(table).where(table.probe_set_id == self._probe_row(s, probe).id)
            if model_ids is not None:
                ids = list(model_ids)
                q = q.where(table.model_a_id.in_(ids), table.model_b_id.in_(ids))
            if code_version is not None:
                q = q.where(table.code_version == code_version)
            rows = s.scalars(q.order_by(table.model_a_id, table.model_b_id)).all()
            return [record_type.from_row(r) for r in rows]

    # -- studies ------------------------------------------------------------------------
    def save_study(self, name: str, profile: dict[str, Any], probe: str | int,
                   population: str | int | None = None) -> StudyRecord:
        """Create the study ``name`` or update its profile, probe set and population."""
        def _do(s: Session) -> None:
            probe_id = self._probe_row(s, probe).id
            pop_id = self._population_row(s, population).id if population is not None else None
            row = s.scalar(select(SqlStudy).where(SqlStudy.name == name))
            if row is None:
                s.add(SqlStudy(name=name, profile=profile, probe_set_id=probe_id,
                               population_id=pop_id))
            else:
                row.profile, row.probe_set_id, row.population_id = profile, probe_id, pop_id

        self._write(_do)
        return self.get_study(name)

    def get_study(self, name: str) -> StudyRecord:
        """A study with its member model ids (in the order they were added)."""
        with self._session() as s:
            row = s.scalar(select(SqlStudy).where(SqlStudy.name == name))
            if row is None:
                have = ", ".join(s.scalars(select(SqlStudy.name))) or "none"
                raise NotFoundError(f"no study {name!r} (studies: {have}): run "
                                    "`zoo reproduce` first")
            ids = s.scalars(select(SqlStudyModel.model_id)
                            .where(SqlStudyModel.study_id == row.id)
                            .order_by(SqlStudyModel.model_id)).all()
            return row.to_record(tuple(ids))

    def list_studies(self) -> list[str]:
        """Names of every study."""
        with self._session() as s:
            return list(s.scalars(select(SqlStudy.name).order_by(SqlStudy.id)))

    def set_study_models(self, name: str, slots: dict[str, int]) -> StudyRecord:
        """Make ``slots`` (slot key -> model id) the study's member models."""
        def _do(s: Session) -> None:
            row = s.scalar(select(SqlStudy).where(SqlStudy.name == name))
            if row is None:
                raise NotFoundError(f"no study {name!r}")
            s.execute(delete(SqlStudyModel).where(SqlStudyModel.study_id == row.id))
            for slot, model_id in slots.items():
                s.add(SqlStudyModel(study_id=row.id, model_id=model_id, slot=slot))

        self._write(_do)
        return self.get_study(name)

    def find_slot(self, slot: str) -> int | None:
        """The model that fills ``slot`` in any study, or ``None``."""
        with self._session() as s:
            return s.scalar(select(SqlStudyModel.model_id).where(SqlStudyModel.slot == slot)
                            .order_by(SqlStudyModel.model_id).limit(1))

    # -- findings -----------------------------------------------------------------------
    def put_findings(self, name: str, findings: Sequence[FindingRecord]) -> None:
        """Replace the study's findings with ``findings`` (NaN values stored as NULL)."""
        study_id = self.get_study(name).id

        def _do(s: Session) -> None:
            s.execute(delete(SqlFinding).where(SqlFinding.study_id == study_id))
            for f in findings:
                values = {k: v for k, v in f.to_dict().items() if k != "study_id"}
                for k in _NULLABLE_FLOATS:
                    if values[k] is not None and math.isnan(values[k]):
                        values[k] = None
                s.add(SqlFinding(study_id=study_id, **values))

        self._write(_do)

    def get_findings(self, name: str) -> list[FindingRecord]:
        """The study's findings, in order (NULL values as NaN)."""
        study_id = self.get_study(name).id
        with self._session() as s:
            rows = s.scalars(select(SqlFinding).where(SqlFinding.study_id == study_id)
                             .order_by(SqlFinding.finding)).all()
            out = []
            for r in rows:
                rec = FindingRecord.from_row(r)
                nans: dict[str, Any] = {k: math.nan for k in _NULLABLE_FLOATS
                                        if getattr(rec, k) is None}
                out.append(dataclasses.replace(rec, **nans))
            return out

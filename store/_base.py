"""What every part of the catalog shares: the engine, sessions and the array store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store._db import SessionFactory, retry_locked
from store.arrays import ArrayStore
from store.errors import DuplicateError, NotFoundError
from store.orm import SqlDataset, SqlModel, SqlPopulation, SqlProbeSet
from store.records import ProbeSetRecord

__all__ = ["CatalogBase", "is_unique_violation"]

T = TypeVar("T")
#: The largest id a catalog row can have on both back-ends (PostgreSQL INTEGER); larger
#: ones name nothing (SQLite would overflow converting them).
ID_MAX = 2**31 - 1
#: PostgreSQL advisory lock serialising the transactions that create or delete stored files.
FILES_LOCK = 16_016_016


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether an IntegrityError comes from a UNIQUE constraint (SQLite or PostgreSQL)."""
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


class CatalogBase:
    """Holds the engine, the session factory and the array store of one catalog."""

    def __init__(self, engine: Engine, arrays: ArrayStore) -> None:
        self.engine = engine
        self.arrays = arrays
        self._session = SessionFactory(engine)

    @property
    def url(self) -> str:
        """The catalog's database URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _write(
        self,
        fn: Callable[[Session], T],
        *,
        lock_files: bool = False,
        on_duplicate: str | Callable[[IntegrityError], DuplicateError] | None = None,
    ) -> T:
        """``fn(session)`` in one write transaction: the one way the catalog writes.

        The transaction commits when ``fn`` returns and rolls back when it raises; it is
        run again (with backoff) while SQLite reports a held lock. ``lock_files`` takes
        the files lock first (:meth:`_lock_files`). With ``on_duplicate``, a UNIQUE
        violation becomes ``DuplicateError(on_duplicate)`` (a callable builds the error
        from the violation, e.g. to name the row that won a race); other database
        errors pass through.
        """

        def attempt() -> T:
            with self._session(write=True) as session:
                if lock_files:
                    self._lock_files(session)
                return fn(session)

        try:
            return retry_locked(attempt)
        except IntegrityError as exc:
            if on_duplicate is None or not is_unique_violation(exc):
                raise
            raise (DuplicateError(on_duplicate) if isinstance(on_duplicate, str)
                   else on_duplicate(exc)) from exc

    def _lock_files(self, session: Session) -> None:
        """Serialise this write transaction with every other one that adds or deletes files.

        Registering a row that points at a file, and deleting a file no row points at,
        each check the other's condition inside such a transaction, so neither can
        interleave with the other (``zoo rm`` racing a re-registration of the same
        checkpoint, ``zoo check --fix`` racing an import). SQLite write transactions
        are already exclusive (``BEGIN IMMEDIATE``); PostgreSQL takes an advisory lock
        released at commit.
        """
        if self.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FILES_LOCK})
        else:  # the first statement begins the transaction, so BEGIN IMMEDIATE locks now
            session.execute(text("SELECT 1"))

    def _probe(self, ref: str | int) -> ProbeSetRecord:
        with self._session() as s:
            return self._probe_row(s, ref).to_record()

    def _require_model(self, model_id: int) -> None:
        with self._session() as s:
            self._model_row(s, model_id)

    # -- lookups shared by the parts ------------------------------------------
    @staticmethod
    def _model_row(session: Session, model_id: int) -> SqlModel:
        row = session.get(SqlModel, model_id) if 0 < model_id <= ID_MAX else None
        if row is None:
            raise NotFoundError(f"no model with id {model_id}: see `zoo ls` for the ids")
        return row

    @staticmethod
    def _by_ref(session: Session, cls: type[T], ref: str | int, missing: str) -> T:
        """The row of ``cls`` with this id (an int or a string of digits) or name."""
        if isinstance(ref, int) or ref.isdigit():
            row = session.get(cls, int(ref)) if 0 < int(ref) <= ID_MAX else None
        else:
            row = session.scalar(select(cls).where(getattr(cls, "name") == ref))  # noqa: B009
        if row is None:
            raise NotFoundError(missing.format(ref=ref))
        return row

    @classmethod
    def _dataset_row(cls, session: Session, ref: str | int) -> SqlDataset:
        return cls._by_ref(session, SqlDataset, ref, "no dataset {ref!r}: see `zoo data ls`, "
                           "or add one with `zoo data add mnist-5k`")

    @classmethod
    def _population_row(cls, session: Session, ref: str | int) -> SqlPopulation:
        return cls._by_ref(session, SqlPopulation, ref,
                           "no INR population {ref!r}: see `zoo inr ls`")

    @classmethod
    def _probe_row(cls, session: Session, ref: str | int) -> SqlProbeSet:
        return cls._by_ref(session, SqlProbeSet, ref,
                           "no probe set {ref!r}: see `zoo probe ls` or `zoo probe create`")

"""Engine creation and the one session manager of the catalog.

SQLite gets WAL, foreign keys and a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of
failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from store.errors import CatalogUnavailableError, InvalidInputError

__all__ = ["SessionFactory", "make_engine", "retry_locked"]

SQLITE_BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver chosen for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """Create an engine for a catalog URL (``sqlite:///path`` or ``postgresql://...``)."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInputError(
            f"malformed database URL {url!r}: use sqlite:///path/to/catalog.db "
            "or postgresql://user@host:port/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    raise InvalidInputError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("zoo_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _is_unreachable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(
        s in text
        for s in ("connection refused", "could not connect", "unable to open", "timeout expired",
                  "does not exist", "name or service not known", "connection failed")
    )


def retry_locked(fn: Callable[[], T], attempts: int = 8) -> T:
    """Call ``fn``, retrying with jittered backoff while SQLite reports a held lock."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if not _is_locked(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


class SessionFactory:
    """Hands out sessions: read-only by default, commit-or-rollback for writes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(zoo_write=True), expire_on_commit=False
        )

    @contextmanager
    def __call__(self, write: bool = False) -> Iterator[Session]:
        """Yield a session; a write session commits on success and rolls back on error.

        A read-only session that has pending changes at the end is a bug and raises.
        """
        session = (self._write if write else self._read)()
        try:
            yield session
            if write:
                session.commit()
            elif session.new or session.dirty or session.deleted:
                raise RuntimeError("write attempted in a read-only catalog session")
        except OperationalError as exc:
            session.rollback()
            if _is_unreachable(exc):
                raise CatalogUnavailableError(
                    f"cannot reach the catalog database {self.engine.url!r}: {exc.orig}"
                ) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

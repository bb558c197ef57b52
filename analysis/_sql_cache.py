"""The snapshot cache behind ``zoo sql`` (#20): which tables a query needs, whether the
catalog changed since a snapshot was taken, and the snapshots kept per catalog.

A snapshot is a private DuckDB copy of (some of) the catalog's tables, attached read-only
by a locked query instance (see :mod:`analysis.sql`). Copying a million cached
similarities takes seconds, so a process keeps the query instance of each catalog and
reuses it while a *change marker* says nothing was committed since the marker was read
(read before the copy, so an unchanged marker means the copy is the current state):

* SQLite: ``PRAGMA data_version`` of a read-only connection this process keeps open on
  the file (SQLite's own "another connection committed" counter), plus the file's
  device and inode (a replaced file is another catalog); a move of it during the copy
  that the WAL-index shows was no commit (:func:`_wal_content`) is forgiven;
* PostgreSQL: ``pg_current_snapshot()`` (every committed or aborted writing transaction
  moves its ``xmax`` or its in-progress list), the server's start time and the
  database's oid. Writes anywhere on the server invalidate it: conservative, never stale.

Where no marker can be read the snapshot is used once and not kept.
"""

from __future__ import annotations

import functools
import itertools
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

import duckdb
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

__all__ = ["SnapshotCache", "change_marker", "content_state", "needed_tables",
           "view_dependencies"]

#: Catalogs whose snapshots one process keeps (least recently used dropped first).
MAX_CATALOGS = 4


@functools.cache
def _parser() -> duckdb.DuckDBPyConnection:
    """An empty, locked DuckDB that only names the tables a query reads (reads nothing)."""
    conn = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False})
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
    return conn


def _names(sql: str) -> set[str] | None:
    """Lower-cased names of the tables and views ``sql`` reads; ``None``: unknown."""
    try:
        with _lock:
            return {n.lower() for n in _parser().get_table_names(sql)}
    except duckdb.Error:
        return None


def view_dependencies(views: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """For each convenience view (name -> SELECT body), the catalog tables it reads, through
    the other views it reads."""
    direct = {name: _names(body) or set() for name, body in views.items()}

    def expand(name: str, seen: frozenset[str]) -> frozenset[str]:
        out: set[str] = set()
        for dep in direct[name]:
            if dep in direct and dep not in seen:
                out |= expand(dep, seen | {dep})
            elif dep not in direct:
                out.add(dep)
        return frozenset(out)

    return {name: expand(name, frozenset({name})) for name in direct}


def needed_tables(query: str | None, tables: Iterable[str],
                  deps: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The catalog tables ``query`` needs (``tables`` it names and those its views read);
    ``None`` (copy everything) when it names none of them, or anything else."""
    if query is None:
        return None
    names = _names(query)
    known = set(tables)
    if not names or not names <= known | set(deps):
        return None  # SHOW TABLES, information_schema, an unknown name, a parse error
    out: set[str] = set()
    for name in names:
        out |= deps.get(name, {name})
    return frozenset(out)


# -- change markers -----------------------------------------------------------------------

_lock = threading.RLock()
#: Read-only connections watching SQLite catalogs, by path (bounded: one file each).
_sqlite_watchers: OrderedDict[str, tuple[int, tuple[int, int], sqlite3.Connection, int]] = \
    OrderedDict()
#: What a forked child found from its parent (kept alive, never used or closed).
_INHERITED: list[object] = []
_generations = itertools.count()  # a new watcher's counter is not comparable to an old one's
MAX_WATCHERS = 2 * MAX_CATALOGS


def _sqlite_marker(path: str) -> Hashable | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    ident = (st.st_dev, st.st_ino)
    with _lock:
        held = _sqlite_watchers.get(path)
        if held is None or held[0] != os.getpid() or held[1] != ident:
            if held is not None and held[0] == os.getpid():
                held[2].close()
            elif held is not None:
                _INHERITED.append(held)  # a parent's connection: never closed here
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False)
            except sqlite3.Error:
                return None
            held = (os.getpid(), ident, conn, next(_generations))
            _sqlite_watchers[path] = held
        _sqlite_watchers.move_to_end(path)
        while len(_sqlite_watchers) > MAX_WATCHERS:
            _, old = _sqlite_watchers.popitem(last=False)
            if old[0] == os.getpid():
                old[2].close()
            else:
                _INHERITED.append(old)
        try:
            version = held[2].execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return None
    return ("sqlite", ident, held[3], int(version))


def _wal_content(path: str) -> bytes | None:
    """What the WAL-index header says the database holds (last frame, its checksum, salts,
    size in pages), without its change counter; ``None`` when unreadable or mid-write.

    DuckDB's sqlite scanner is a second SQLite library in this process, blind to this
    process's locks, so on its first read after a commit it rebuilds the WAL-index and
    ``data_version`` moves with no change of content; this tells the two apart.
    """
    try:
        with open(f"{path}-shm", "rb") as f:
            head = f.read(96)
    except OSError:
        return None
    if len(head) < 96 or head[16:40] != head[64:88]:
        return None
    return head[16:40]


_MARKER_SQL = ("SELECT pg_current_snapshot()::text, pg_postmaster_start_time()::text, "
               "(SELECT oid FROM pg_database WHERE datname = current_database())::text")


def _postgres_marker(db_url: str) -> Hashable | None:
    try:
        engine = create_engine(db_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                row = conn.execute(text(_MARKER_SQL)).one()
        finally:
            engine.dispose()
    except Exception:  # an old server, a driver error: no marker, no cache
        return None
    return ("postgresql", tuple(row))


def content_state(db_url: str) -> Hashable | None:
    """For SQLite, the content the WAL-index names (:func:`_wal_content`); else ``None``."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return _wal_content(os.path.abspath(url.database))
    return None


def change_marker(db_url: str) -> Hashable | None:
    """A value that changes whenever something is committed to the catalog at ``db_url``
    (equal markers: nothing was committed in between); ``None`` when none can be read."""
    url = make_url(db_url)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database:
        return _sqlite_marker(os.path.abspath(url.database))
    if backend == "postgresql":
        return _postgres_marker(db_url)
    return None


# -- the cache ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    pid: int
    marker: Hashable
    tables: frozenset[str]
    conn: duckdb.DuckDBPyConnection
    complete: bool  # every table of the catalog was copied


class SnapshotCache:
    """The locked query instances of recently queried catalogs, by database URL.

    ``get(url, tables, build)`` returns a new cursor on an instance holding at least
    ``tables`` (``None``: all) of the catalog as of now, building one with
    ``build(tables) -> (connection, tables copied)`` when the catalog changed since, the
    instance lacks a table, or none is kept. A process started by ``fork`` builds its own.
    """

    def __init__(self, size: int = MAX_CATALOGS) -> None:
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.builds = 0  #: snapshots taken (for tests and benchmarks)

    def get(self, db_url: str, tables: frozenset[str] | None,
            build: Callable[[frozenset[str] | None], tuple[duckdb.DuckDBPyConnection,
                                                           frozenset[str]]]
            ) -> duckdb.DuckDBPyConnection:
        """A cursor on a fresh-enough query instance of the catalog at ``db_url``."""
        marker = change_marker(db_url)  # read before any copy: see the module docstring
        state = content_state(db_url)
        with _lock:
            entry = self._entries.get(db_url)
            if entry is not None and entry.pid != os.getpid():
                # inherited over fork: not ours to use, nor to close (a DuckDB instance
                # copied by fork must not run its destructor here): kept unreferenced
                _INHERITED.append(self._entries.pop(db_url))
                entry = None
            if entry is not None and marker is not None and entry.marker == marker:
                if entry.complete or (tables is not None and tables <= entry.tables):
                    self._entries.move_to_end(db_url)
                    return entry.conn.cursor()
                if tables is not None:
                    tables = tables | entry.tables  # still valid: keep what it had
        conn, copied = build(tables)
        self.builds += 1
        if marker is None:
            return conn
        after = change_marker(db_url)
        if after != marker and state is not None and content_state(db_url) == state:
            marker = after  # only the scanner's WAL-index rebuild moved it: same content
        with _lock:
            old = self._entries.pop(db_url, None)
            self._entries[db_url] = _Entry(os.getpid(), marker, copied, conn, tables is None)
            while len(self._entries) > self.size:
                _, evicted = self._entries.popitem(last=False)
                if evicted.pid != os.getpid():
                    _INHERITED.append(evicted)
            # the one replaced is dropped, not closed: cursors handed out keep it alive
            if old is not None and old.pid != os.getpid():
                _INHERITED.append(old)
            return conn.cursor()

    def clear(self) -> None:
        """Drop every kept instance (cursors already handed out stay usable: an instance
        is closed when its last connection goes)."""
        with _lock:
            self._entries.clear()

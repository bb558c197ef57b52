"""Ad hoc, read-only SQL over the catalog with DuckDB (what ``zoo sql`` runs).

An in-memory DuckDB ATTACHes the catalog database READ_ONLY as ``catalog``
(SQLite through DuckDB's ``sqlite`` extension, PostgreSQL through ``postgres``,
honouring a ``search_path`` in the URL's ``options``) and defines these views
in its ``main`` schema, so queries say ``FROM models``:

================  ===========================================================================
view              columns
================  ===========================================================================
datasets          the ``datasets`` table (``sample_shape`` as JSON)
populations       the ``populations`` table (``arch``, ``fit_config`` as JSON)
models            the ``models`` table (``arch``, ``config`` as JSON)
metrics           the ``metrics`` table: id, model_id, name, value, step, split
tags              the ``tags`` table: model_id, tag
probe_sets        the ``probe_sets`` table (``sample_ids`` as JSON)
activations       the ``activations`` table (``shape`` as JSON)
similarities      the ``similarities`` table (the similarity cache)
models_wide       every ``models`` column + dataset, population (names), tags (sorted list)
model_tags        one row per (model, tag): model_id, tag, kind, name, seed, dataset
model_metrics     metrics joined to models: model_id, metric, value, step, split, kind,
                  model_name, seed, dataset
layer_order       each model's recorded layers on a probe set in recording order (the
                  order layer aliases follow): model_id, probe_set_id, layer, position
                  (1 = first), from_end (1 = logits, 2 = penultimate); predictions excluded
similarity_pairs  similarities joined to both models and the probe set: id, model_a_id,
                  layer_a, model_b_id, layer_b, kind_a, kind_b, seed_a, seed_b, dataset_a,
                  dataset_b, name_a, name_b, tags_a, tags_b, probe_set, same_model (a model
                  against itself), layer_from_end_a, layer_from_end_b (2 = penultimate),
                  measure, estimator, params, value, n, code_version, created_at. An honest
                  average filters one measure and estimator, one layer (e.g. both
                  layer_from_end = 2) and NOT same_model.
prediction_agreements  per pair of models on a probe set: acc_a, acc_b, agreement, kappa,
                  both_correct, only_a_correct, only_b_correct, neither_correct (fractions)
ensembles         per pair: accuracy of the averaged-logits ensemble, gain_best, gain_mean
studies           ``zoo reproduce`` studies (``profile`` as JSON); study_models: members
findings          each study's judged findings: value_a, value_b, difference, ci_low,
                  ci_high, verdict, reason
agreement_pairs   prediction_agreements + kind_a, kind_b, seed_a, seed_b, probe_set (name)
ensemble_pairs    ensembles + kind_a, kind_b, seed_a, seed_b, probe_set (name)
================  ===========================================================================

JSON columns are DuckDB ``JSON`` on both back-ends (``arch->>'hidden'`` works).

Confinement (defence in depth, not a keyword list): the catalog's tables (those
a query reads) are first copied in bulk, by a separate DuckDB that alone loads
the sqlite/postgres scanner (PostgreSQL opened with
``default_transaction_read_only``), into a private snapshot file, which is kept
and reused until something is committed to the catalog (:mod:`analysis._sql_cache`);
the query DuckDB attaches that snapshot read-only, never loads an
extension, and then sets ``enable_external_access = false`` and
``lock_configuration = true``. So a query sees the catalog and nothing else:
no ``postgres_query``/``postgres_scan``/``sqlite_scan`` exist there, no file,
glob, URL or Python variable can be read, and no setting can be changed back.
Only one SELECT-like statement runs (SELECT, WITH, FROM-first, SHOW, DESCRIBE,
SUMMARIZE, or EXPLAIN [ANALYZE] of one); anything else raises
:class:`store.InvalidInputError`, and the READ_ONLY attach keeps the catalog
unchanged even past that check. Output: ``csv`` (list/JSON values as JSON
text), ``json`` (one JSON array of row objects, a row a line, JSON columns
decoded) and ``parquet`` (written by DuckDB, no pyarrow needed; files only).
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from analysis._sql_cache import SnapshotCache, needed_tables, view_dependencies
from store.errors import CatalogUnavailableError, InvalidInputError, NotInitializedError

__all__ = [
    "SNAPSHOTS",
    "TABLES",
    "VIEWS",
    "MissingExtensionError",
    "attach_statement",
    "check_read_only",
    "open_duckdb",
    "query_frame",
    "run_sql",
]

TABLES = ("datasets", "populations", "models", "metrics", "tags", "probe_sets", "activations",
          "similarities", "prediction_agreements", "ensembles", "studies", "study_models",
          "findings")
_JSON_COLUMNS = {"datasets": ("sample_shape",), "populations": ("arch", "fit_config"),
                 "models": ("arch", "config"), "probe_sets": ("sample_ids",),
                 "activations": ("shape",), "studies": ("profile",)}
_CONVENIENCE = {
    "models_wide": """
        SELECT m.*, d.name AS dataset, p.name AS population,
               coalesce(t.tags, []::VARCHAR[]) AS tags
        FROM models m LEFT JOIN datasets d ON d.id = m.dataset_id
        LEFT JOIN populations p ON p.id = m.population_id
        LEFT JOIN (SELECT model_id, list(tag ORDER BY tag) AS tags FROM tags GROUP BY model_id)
             t ON t.model_id = m.id""",
    "layer_order": """
        SELECT model_id, probe_set_id, layer,
               row_number() OVER (PARTITION BY model_id, probe_set_id ORDER BY id) AS position,
               row_number() OVER (PARTITION BY model_id, probe_set_id ORDER BY id DESC)
                   AS from_end
        FROM activations WHERE layer <> 'predictions'""",
    "model_tags": """
        SELECT t.model_id, t.tag, m.kind, m.name, m.seed, d.name AS dataset
        FROM tags t JOIN models m ON m.id = t.model_id
        LEFT JOIN datasets d ON d.id = m.dataset_id""",
    "model_metrics": """
        SELECT x.model_id, x.name AS metric, x.value, x.step, x.split, m.kind,
               m.name AS model_name, m.seed, d.name AS dataset
        FROM metrics x JOIN models m ON m.id = x.model_id
        LEFT JOIN datasets d ON d.id = m.dataset_id""",
    "similarity_pairs": """
        SELECT s.id, s.model_a_id, s.layer_a, s.model_b_id, s.layer_b,
               a.kind AS kind_a, b.kind AS kind_b, a.seed AS seed_a, b.seed AS seed_b,
               a.dataset AS dataset_a, b.dataset AS dataset_b, a.name AS name_a,
               b.name AS name_b, a.tags AS tags_a, b.tags AS tags_b, p.name AS probe_set,
               s.model_a_id = s.model_b_id AS same_model,
               la.from_end AS layer_from_end_a, lb.from_end AS layer_from_end_b,
               s.measure, s.estimator, s.params, s.value, s.n, s.code_version, s.created_at
        FROM similarities s JOIN models_wide a ON a.id = s.model_a_id
        JOIN models_wide b ON b.id = s.model_b_id JOIN probe_sets p ON p.id = s.probe_set_id
        LEFT JOIN layer_order la ON la.model_id = s.model_a_id AND la.layer = s.layer_a
             AND la.probe_set_id = s.probe_set_id
        LEFT JOIN layer_order lb ON lb.model_id = s.model_b_id AND lb.layer = s.layer_b
             AND lb.probe_set_id = s.probe_set_id""",
    **{view: f"""
        SELECT x.*, a.kind AS kind_a, b.kind AS kind_b, a.seed AS seed_a, b.seed AS seed_b,
               p.name AS probe_set
        FROM {table} x JOIN models a ON a.id = x.model_a_id JOIN models b ON b.id = x.model_b_id
        JOIN probe_sets p ON p.id = x.probe_set_id"""
       for view, table in (("agreement_pairs", "prediction_agreements"),
                           ("ensemble_pairs", "ensembles"))},
}
VIEWS = tuple(sorted((*TABLES, *_CONVENIENCE)))
_EXTENSIONS = {"sqlite": ("sqlite_scanner", "duckdb-ext-sqlite"),
               "postgres": ("postgres_scanner", "duckdb-ext-postgres")}
_EXPLAIN = re.compile(r"^(\s+|--[^\n]*\n|/\*.*?\*/)*explain\s+(\([^)]*\)\s*)?(analy[sz]e\s+)?",
                      re.IGNORECASE | re.DOTALL)


class MissingExtensionError(CatalogUnavailableError):
    """DuckDB's sqlite or postgres extension is not installed (it cannot be downloaded here)."""


def _extension_directory() -> Path | None:
    """The ``duckdb_ext/extensions`` folder the duckdb-ext-* wheels install, if any."""
    try:
        import duckdb_ext
    except ImportError:
        return None
    dirs = [Path(root) / "extensions" for root in getattr(duckdb_ext, "__path__", [])]
    return next((d for d in dirs if d.is_dir()), None)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conninfo_value(value: object) -> str:
    """A libpq conninfo value: single-quoted, with backslash and quote escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _parse_url(db_url: str) -> URL:
    try:
        return make_url(db_url)
    except ArgumentError as exc:
        raise InvalidInputError(
            f"malformed database URL {db_url!r}: use sqlite:///path/to/catalog.db "
            "or postgresql://user@host:port/db"
        ) from exc


def attach_statement(db_url: str) -> tuple[str, str]:
    """``(extension, ATTACH statement)`` that attaches the catalog at ``db_url`` read-only.

    ``sqlite:///path`` attaches the file; ``postgresql[+driver]://...`` becomes a
    libpq conninfo, with ``SCHEMA`` taken from ``?options=-csearch_path=...`` and
    ``default_transaction_read_only`` on, so the server itself refuses writes.
    """
    url = _parse_url(db_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise InvalidInputError("zoo sql needs a SQLite catalog file, not an in-memory one")
        path = Path(url.database)
        if not path.exists():
            raise NotInitializedError(f"no catalog at {path}: run `zoo init` to create one")
        return "sqlite", f"ATTACH {_quote(str(path))} AS catalog (TYPE sqlite, READ_ONLY)"
    if backend != "postgresql":
        raise InvalidInputError(f"unsupported database {backend!r}: use sqlite or postgresql")
    parts: dict[str, object] = {"host": url.host, "port": url.port, "user": url.username,
                                "password": url.password, "dbname": url.database}
    schema = None
    for key, value in url.query.items():
        parts[key] = text = value if isinstance(value, str) else " ".join(value)
        match = re.search(r"-c\s*search_path\s*=\s*(\S+)", text) if key == "options" else None
        schema = match.group(1).split(",")[0].strip('"') if match else schema
    read_only = "-c default_transaction_read_only=on"  # the server refuses writes, too
    parts["options"] = f"{parts['options']} {read_only}" if parts.get("options") else read_only
    parts.setdefault("connect_timeout", 5)
    conninfo = " ".join(f"{k}={_conninfo_value(v)}" for k, v in parts.items() if v is not None)
    options = "TYPE postgres, READ_ONLY" + (f", SCHEMA {_quote(schema)}" if schema else "")
    return "postgres", f"ATTACH {_quote(conninfo)} AS catalog ({options})"


_SCANNER_CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False,
                                   "autoload_known_extensions": False}


def _snapshot(db_url: str, snapshot: Path, tables: frozenset[str] | None) -> frozenset[str]:
    """Copy the catalog's ``tables`` (``None``: every table) at ``db_url`` into a new DuckDB
    file ``snapshot``; returns the tables copied.

    Runs in its own DuckDB instance (the only one that loads a scanner extension), in
    one transaction so the copy is consistent, in bulk by DuckDB's own scanner; user SQL
    never reaches it.
    """
    extension, attach = attach_statement(db_url)
    config = dict(_SCANNER_CONFIG)
    ext_dir = _extension_directory()
    if ext_dir is not None:
        config["extension_directory"] = str(ext_dir)
    with duckdb.connect(":memory:", config=config) as conn:
        try:
            conn.execute(f"LOAD {extension}")
        except duckdb.Error as exc:
            filename, package = _EXTENSIONS[extension]
            raise MissingExtensionError(
                f"DuckDB cannot load its {extension} extension ({filename}.duckdb_extension): "
                f"pip install {package} (the build for duckdb {duckdb.__version__})"
            ) from exc
        try:
            conn.execute(attach)
        except duckdb.Error as exc:
            url = _parse_url(db_url)
            first = _first_line(exc)
            first = first.replace(str(url.password), "***") if url.password else first
            raise CatalogUnavailableError(
                f"DuckDB cannot attach the catalog {url.render_as_string(hide_password=True)}: "
                f"{first}"
            ) from exc
        present = [r[0] for r in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'catalog'").fetchall()]
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise NotInitializedError(
                f"the database holds no zoo catalog (missing tables: {', '.join(missing)}): "
                "run `zoo init` or `zoo db upgrade`"
            )
        chosen = [t for t in present if tables is None or t in tables]
        conn.execute(f"ATTACH {_quote(str(snapshot))} AS snapshot")
        conn.execute("BEGIN TRANSACTION")
        for table in chosen:
            conn.execute(f'CREATE TABLE snapshot.main."{table}" AS SELECT * FROM catalog."{table}"')
        conn.execute("COMMIT")
    return frozenset(chosen)


def _build(db_url: str, tables: frozenset[str] | None
           ) -> tuple[duckdb.DuckDBPyConnection, frozenset[str]]:
    """A new locked query instance over a new snapshot of ``tables`` (``None``: all)."""
    with tempfile.TemporaryDirectory(prefix="zoo-sql-") as tmp:
        snapshot = Path(tmp) / "catalog.duckdb"
        copied = _snapshot(db_url, snapshot, tables)
        conn = duckdb.connect(":memory:", config=dict(_SCANNER_CONFIG))
        try:  # the file is unlinked when ``tmp`` goes; the open attachment keeps it readable
            conn.execute(f"ATTACH {_quote(str(snapshot))} AS catalog (READ_ONLY)")
        except BaseException:
            conn.close()
            raise
    try:
        _create_views(conn, copied)
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except BaseException:
        conn.close()
        raise
    return conn, copied


#: The query instances of recently queried catalogs (:mod:`analysis._sql_cache`).
SNAPSHOTS = SnapshotCache()


@functools.cache
def _view_tables() -> dict[str, frozenset[str]]:
    return view_dependencies(_CONVENIENCE)


def open_duckdb(db_url: str, query: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that sees a snapshot of the catalog (views ``VIEWS``) and nothing
    else: every table, or with ``query`` only the tables it reads (the views it names
    included).

    See the module docstring: the snapshot is attached read-only as ``catalog``, then
    external access is disabled and the configuration locked. Snapshots are kept per
    catalog and reused until something is committed to it (:class:`SnapshotCache`).

    Raises:
        MissingExtensionError: the duckdb-ext-sqlite / duckdb-ext-postgres wheel is absent.
        NotInitializedError: the SQLite file or the catalog tables do not exist.
        CatalogUnavailableError: the database cannot be attached.
    """
    tables = needed_tables(query, TABLES, _view_tables())
    return SNAPSHOTS.get(db_url, tables, functools.partial(_build, db_url))


def _create_views(conn: duckdb.DuckDBPyConnection, present: frozenset[str]) -> None:
    """The ``VIEWS`` over the snapshot's tables (a view whose tables were not copied is
    left out)."""
    for table in TABLES:
        if table not in present:
            continue
        casts = ", ".join(f'"{c}"::JSON AS "{c}"' for c in _JSON_COLUMNS.get(table, ()))
        star = f"* REPLACE ({casts})" if casts else "*"
        conn.execute(f'CREATE VIEW main."{table}" AS SELECT {star} FROM catalog."{table}"')
    deps = _view_tables()
    for name, body in _CONVENIENCE.items():
        if deps[name] <= present:
            conn.execute(f'CREATE VIEW main."{name}" AS {body}')


def check_read_only(conn: duckdb.DuckDBPyConnection, query: str) -> str:
    """The one read-only statement in ``query``; raises ``InvalidInputError`` otherwise."""
    try:
        statements = conn.extract_statements(query)
        if len(statements) != 1:
            raise InvalidInputError(f"give exactly one SQL statement (got {len(statements)})")
        kind, sql = statements[0].type.name, statements[0].query
        if kind == "EXPLAIN":  # EXPLAIN ANALYZE runs its statement: that one must read only
            inner = conn.extract_statements(_EXPLAIN.sub("", sql, count=1))
            kind = inner[0].type.name if len(inner) == 1 else "EXPLAIN"
    except duckdb.Error as exc:
        raise InvalidInputError(_first_line(exc)) from exc
    if kind != "SELECT":
        raise InvalidInputError(
            f"zoo sql is read-only: {kind} statements are not allowed "
            "(use SELECT, WITH, SHOW, DESCRIBE, SUMMARIZE or EXPLAIN)"
        )
    return sql


def query_frame(conn: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    """Run one read-only statement on a connection from ``open_duckdb``; a row per result row.

    ``frame.attrs["json_columns"]`` lists the result columns DuckDB typed as JSON.
    SQL errors raise ``InvalidInputError`` with DuckDB's first message line.
    """
    sql = check_read_only(conn, query)
    try:
        result = conn.execute(sql)
        types = [str(d[1]) for d in result.description or []]
        frame = result.df()
    except duckdb.Error as exc:
        message = _first_line(exc)
        if isinstance(exc, duckdb.PermissionException) or "exists in the" in message:
            message = f"zoo sql sees the catalog and nothing else: {message}"
        if isinstance(exc, duckdb.CatalogException):
            message += f" (views: {', '.join(VIEWS)})"
        raise InvalidInputError(message) from exc
    frame.attrs["json_columns"] = [str(c) for c, t in zip(frame.columns, types, strict=False)
                                   if t == "JSON"]
    return frame


def run_sql(db_url: str, query: str) -> pd.DataFrame:
    """``query_frame`` on ``open_duckdb(db_url, query)``: a snapshot of the tables the query
    reads (all of them when one is missing there: a name DuckDB did not report)."""
    conn = open_duckdb(db_url, query)
    try:
        return query_frame(conn, query)
    except InvalidInputError as exc:
        if not isinstance(exc.__cause__, duckdb.CatalogException) or \
                needed_tables(query, TABLES, _view_tables()) is None:
            raise
    finally:
        conn.close()
    conn = open_duckdb(db_url)
    try:
        return query_frame(conn, query)
    finally:
        conn.close()

"""``zoo sql`` sees the catalog and nothing else, on both back-ends (issue #16).

Every attack below once worked through ``zoo sql`` or ``--where``: server-side SQL
on PostgreSQL (``postgres_query``, ``postgres_scan`` of another database, ...),
local files (``read_csv``, ``read_text``, a bare path, ``sqlite_scan`` of another
file, ...), Python variables. Each must be refused with one line that never holds
the secret, while ordinary queries keep working.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import text

import analysis.sql as zsql
from store import Catalog
from store.errors import InvalidInputError
from tests.conftest import PG_BASE, ZooRunner

SECRET = f"TOKEN{uuid.uuid4().hex}"


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """Files holding ``SECRET`` in every format a DuckDB reader knows."""
    paths = {"csv": tmp_path / "secret.csv", "json": tmp_path / "secret.json",
             "txt": tmp_path / "secret.txt", "db": tmp_path / "other.db"}
    paths["csv"].write_text(f"a,b\n1,{SECRET}\n")
    paths["json"].write_text(f'[{{"a": "{SECRET}"}}]')
    paths["txt"].write_text(SECRET)
    with sqlite3.connect(paths["db"]) as conn:
        conn.execute("CREATE TABLE secret (x TEXT)")
        conn.execute("INSERT INTO secret VALUES (?)", (SECRET,))
    return {k: str(v) for k, v in paths.items()}


def _attacks(f: dict[str, str]) -> list[str]:
    dbname = PG_BASE.rsplit("/", 1)[1]
    other = f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}"
    pg_sql = f"SELECT ''{SECRET}'' AS x"
    return [
        f"SELECT * FROM postgres_query('catalog', '{pg_sql}')",
        "SELECT * FROM postgres_query('catalog', 'SELECT pg_read_file(''PG_VERSION'')')",
        "SELECT * FROM postgres_query('catalog', 'SELECT pg_ls_dir(''.'')')",
        "SELECT * FROM postgres_query('catalog', 'SELECT lo_import(''/etc/hostname'')')",
        f"SELECT * FROM postgres_scan('{other}', 'public', 'pg_database')",
        f"SELECT * FROM postgres_scan_pushdown('{other}', 'public', 'x')",
        f"SELECT * FROM postgres_attach('{other}')",
        "CALL postgres_execute('catalog', 'CREATE TABLE pwned (i int)')",
        f"SELECT * FROM read_csv('{f['csv']}')",
        f"SELECT * FROM read_csv_auto('{f['csv']}')",
        f"SELECT * FROM '{f['csv']}'",
        f"SELECT * FROM 'file://{f['csv']}'",
        f"SELECT * FROM sniff_csv('{f['csv']}')",
        f"SELECT * FROM read_text('{f['txt']}')",
        f"SELECT * FROM read_blob('{f['txt']}')",
        f"SELECT * FROM read_json_auto('{f['json']}')",
        f"SELECT * FROM read_json('{f['json']}')",
        f"SELECT * FROM '{f['json']}'",
        f"SELECT * FROM parquet_scan('{f['csv']}')",
        f"SELECT * FROM read_parquet('{f['csv']}')",
        f"SELECT * FROM glob('{Path(f['csv']).parent}/*')",
        f"SELECT * FROM sqlite_scan('{f['db']}', 'secret')",
        f"SELECT * FROM sqlite_attach('{f['db']}')",
        f"SELECT * FROM query_table('{f['csv']}')",
        "SELECT * FROM secret_frame",  # a pandas DataFrame in a caller's frame
        f"EXPLAIN ANALYZE SELECT * FROM read_csv('{f['csv']}')",
        f"SELECT * FROM models WHERE name IN (SELECT b FROM read_csv('{f['csv']}'))",
        f"ATTACH '{f['db']}' AS other",
        "SET enable_external_access = true",
        "LOAD postgres",
    ]


def _large_objects(catalog: Catalog) -> int:
    if catalog.dialect != "postgresql":
        return 0
    with catalog.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_largeobject_metadata")).scalar_one())


@pytest.fixture
def duck(fresh_catalog: Catalog) -> Iterator[duckdb.DuckDBPyConnection]:
    fresh_catalog.add_model("cnn", seed=3, name="legit", arch={"hidden": 5})
    conn = zsql.open_duckdb(fresh_catalog.engine.url.render_as_string(hide_password=False))
    yield conn
    conn.close()


def test_every_attack_is_refused_in_one_line(duck: duckdb.DuckDBPyConnection,
                                             fresh_catalog: Catalog,
                                             secrets: dict[str, str]) -> None:
    large_objects = _large_objects(fresh_catalog)
    secret_frame = pd.DataFrame({"x": [SECRET]})  # noqa: F841 (the replacement-scan target)
    refused = 0
    for attack in _attacks(secrets):
        with pytest.raises(InvalidInputError) as info:
            zsql.query_frame(duck, attack)
        message = str(info.value)
        assert SECRET not in message and "\n" not in message, (attack, message)
        refused += 1
    assert refused == len(_attacks(secrets))
    assert _large_objects(fresh_catalog) == large_objects  # lo_import wrote nothing
    assert [m.name for m in fresh_catalog.list_models()] == ["legit"]
    # the legitimate surface still works after all of that
    frame = zsql.query_frame(duck, "SELECT name, arch->>'hidden' AS h FROM models")
    assert frame.to_dict("records") == [{"name": "legit", "h": "5"}]
    assert zsql.query_frame(duck, "SELECT count(*) AS n FROM catalog.models")["n"][0] == 1
    assert "models_wide" in set(zsql.query_frame(duck, "SHOW TABLES")["name"])


def test_where_options_never_leak_file_contents(zoo: ZooRunner,
                                                secrets: dict[str, str]) -> None:
    for command in ("cka-matrix", "agree"):
        for where in (f"name IN (SELECT b FROM read_csv('{secrets['csv']}'))",
                      f"name = (SELECT content FROM read_text('{secrets['txt']}'))",
                      f"id::VARCHAR = (SELECT x FROM sqlite_scan('{secrets['db']}', 'secret'))",
                      "id IN (SELECT 1 FROM postgres_query('catalog', 'SELECT 1'))"):
            result = zoo(command, "--where", where, ok=False)
            lines = [ln for ln in result.output.splitlines() if ln.strip()]
            assert result.exit_code == 1 and len(lines) == 1, result.output
            assert lines[0].startswith("Error:") and SECRET not in result.output


def test_postgres_scanner_connection_is_read_only_on_the_server(pg_url: str) -> None:
    """Defence in depth: even our own scanner connection cannot write on the server."""
    Catalog.create(pg_url, "memory://ro-check").close()
    extension, attach = zsql.attach_statement(pg_url)
    assert "default_transaction_read_only=on" in attach
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "extension_directory": str(zsql._extension_directory())}
    with duckdb.connect(":memory:", config=config) as conn:
        conn.execute(f"LOAD {extension}")
        conn.execute(attach)
        with pytest.raises(duckdb.Error, match="read-only transaction"):
            conn.execute("CALL postgres_execute('catalog', 'CREATE TABLE pwned (i int)')")

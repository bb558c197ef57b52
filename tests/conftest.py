"""Shared fixtures: catalog URLs for SQLite and PostgreSQL, fresh catalogs, array stores.

PostgreSQL tests use the server at 127.0.0.1:5432 (database ``test``, user
``postgres``, override with ZOO_TEST_POSTGRES); each test gets its own schema,
dropped afterwards. When the server is unreachable those tests skip and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from store import Catalog

PG_BASE = os.environ.get("ZOO_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@cache
def postgres_unavailable() -> str | None:
    """``None`` when PostgreSQL answers, else the reason it does not."""
    try:
        engine = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0]
        return f"PostgreSQL at {PG_BASE} is unreachable: {first}"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema (dropped after the test)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    schema = f"zoo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalog URL on each back-end: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def fresh_catalog(db_url: str, tmp_path: Path) -> Iterator[Catalog]:
    """A catalog migrated to head, with a local array store, on each back-end."""
    catalog = Catalog.create(db_url, str(tmp_path / "arrays"))
    try:
        yield catalog
    finally:
        catalog.close()


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    """A fresh SQLite catalog only (for tests that are about files, not SQL)."""
    catalog = Catalog.create(f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "arrays"))
    try:
        yield catalog
    finally:
        catalog.close()


class ZooRunner:
    """Runs ``zoo`` commands in-process against one catalog (see the ``zoo`` fixture)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> Result:
        """Run ``zoo ARGS``; with ``ok`` (default) assert it succeeded."""
        from zoo.cli import cli

        result = self.runner.invoke(cli, list(args), env=self.env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def zoo(tmp_path: Path, db_url: str) -> ZooRunner:
    """``zoo`` against a fresh, initialised catalog on each back-end."""
    run = ZooRunner({"ZOO_HOME": str(tmp_path / "home"), "ZOO_DATABASE_URL": db_url,
                     "ZOO_ARRAYS_URL": str(tmp_path / "arrays")})
    run("init")
    return run

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


# -- running at scale (#20): an S3-compatible server and a Dask cluster, once per session --

S3_BUCKET = "zoo-test"
#: Dummy credentials the S3 fixture exports; tests check they never reach the catalog.
S3_SECRET = "zoo-test-secret-never-stored"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """``s3://zoo-test``: moto's S3 server on a free loopback port, for the whole session.

    Exports the standard AWS variables (dummy keys, ``AWS_ENDPOINT_URL``) so s3fs,
    boto3 and Dask worker processes started later all find it; restores them and
    stops the server at the end. Skips, saying why, when moto cannot start.
    """
    import logging

    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"no S3 test server: {exc} (pip install 'moto[server]' s3fs)")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    env = {"AWS_ACCESS_KEY_ID": "zoo-test-key", "AWS_SECRET_ACCESS_KEY": S3_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    try:
        server.start()
        os.environ.update(env)
        boto3.client("s3").create_bucket(Bucket=S3_BUCKET)
    except Exception as exc:
        _restore(saved)
        pytest.skip(f"the S3 test server (moto) could not start on 127.0.0.1:{port}: {exc}")
    try:
        yield f"s3://{S3_BUCKET}"
    finally:
        server.stop()
        _restore(saved)


def _restore(saved: dict[str, str | None]) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_arrays(s3_server: str) -> str:
    """A fresh ``s3://zoo-test/<uuid>`` array root on the session's S3 server."""
    return f"{s3_server}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def dask_cluster(request: pytest.FixtureRequest) -> Iterator[str]:
    """Address of a Dask ``LocalCluster`` with two worker processes (one thread each).

    Started once per session, after the S3 server (where that can start), so its
    workers inherit the AWS variables; skipped, saying why, when dask.distributed is
    missing or cannot start.
    """
    import contextlib

    # tests that need S3 skip on their own; the cluster works without it
    with contextlib.suppress(pytest.skip.Exception):
        request.getfixturevalue("s3_server")
    try:
        from distributed import LocalCluster
    except ImportError as exc:
        pytest.skip(f"no Dask: {exc} (pip install 'dask[distributed]')")
    try:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=":0",
                               worker_dashboard_address=None,
                               env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    except Exception as exc:
        pytest.skip(f"a Dask LocalCluster could not start: {exc}")
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()

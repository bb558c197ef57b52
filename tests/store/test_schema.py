"""The ORM and the migrations agree; opening a catalog checks its schema revision."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from store import Catalog, NotInitializedError, SchemaOutOfDateError, SchemaTooNewError
from store._db import make_engine
from store.orm import Base
from store.schema import current_revision, head_revision, upgrade


def test_migrations_match_orm(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_single_head_and_upgrade_is_idempotent(db_url: str, tmp_path: Path) -> None:
    Catalog.create(db_url, str(tmp_path / "a")).close()
    Catalog.create(db_url, str(tmp_path / "a")).close()
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_open_uninitialised_says_zoo_init(tmp_path: Path) -> None:
    with pytest.raises(NotInitializedError, match="zoo init"):
        Catalog.open(f"sqlite:///{tmp_path / 'none.db'}", str(tmp_path / "a"))
    assert not (tmp_path / "none.db").exists(), "opening must not create a file"


def test_open_old_schema_says_upgrade(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)  # tables without a revision: a pre-Alembic catalog
    engine.dispose()
    with pytest.raises(SchemaOutOfDateError, match="zoo db upgrade"):
        Catalog.open(db_url, str(tmp_path / "a"))


def test_open_newer_schema_refused(db_url: str, tmp_path: Path) -> None:
    Catalog.create(db_url, str(tmp_path / "a")).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match="newer"):
        Catalog.open(db_url, str(tmp_path / "a"))


def test_downgrade_then_upgrade(db_url: str, tmp_path: Path) -> None:
    Catalog.create(db_url, str(tmp_path / "a")).close()
    engine = make_engine(db_url)
    from alembic import command

    from store.schema import alembic_config

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(engine) is None
    engine.dispose()
    with pytest.raises(NotInitializedError):
        Catalog.open(db_url, str(tmp_path / "a"))
    Catalog.create(db_url, str(tmp_path / "a")).close()

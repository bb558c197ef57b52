"""Schema management: Alembic config found inside the package, upgrade and revision checks."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from store.errors import NotInitializedError, SchemaOutOfDateError, SchemaTooNewError

__all__ = ["alembic_config", "check_schema", "current_revision", "head_revision", "upgrade"]


def alembic_config(engine: Engine | None = None) -> Config:
    """Return an Alembic config whose scripts are the ``migrations`` package shipped with us."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The single head revision of the shipped migrations."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision a catalog database is at, or ``None`` when it has none."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the catalog behind ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            # a table rebuild (batch migration) drops the old table: with foreign keys on,
            # that DROP would cascade into every child table. Only outside a transaction
            # can they be turned off, so here, before it begins; checked again after.
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows pointing at missing rows")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys = ON")


def check_schema(engine: Engine) -> None:
    """Raise unless the catalog is at the head revision, saying what to do."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        tables = set(inspect(engine).get_table_names())
        if "models" in tables:
            raise SchemaOutOfDateError(
                "the catalog has no schema revision: back it up, then run `zoo db upgrade`"
            )
        raise NotInitializedError("no zoo catalog here yet: run `zoo init` to create one")
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaTooNewError(
            f"the catalog is at schema revision {current}, newer than this zoo knows "
            f"(head {head}): upgrade the zoo software to open it"
        )
    raise SchemaOutOfDateError(
        f"the catalog schema is at revision {current}, older than this zoo's {head}: "
        "back up the catalog, then run `zoo db upgrade`"
    )

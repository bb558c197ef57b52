"""The catalog: one SQL database of metadata plus one array store of bytes.

>>> cat = Catalog.create("sqlite:///zoo-home/catalog.db", "zoo-home/arrays")  # doctest: +SKIP
>>> cat = Catalog.open("sqlite:///zoo-home/catalog.db", "zoo-home/arrays")    # doctest: +SKIP
>>> cat.list_models(kind="cnn")                                                # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from store._activations import ActivationsMixin
from store._check import CheckMixin
from store._data import DataMixin
from store._db import make_engine
from store._models import ModelsMixin
from store._study import StudyMixin
from store.arrays import ArrayStore
from store.errors import CatalogUnavailableError, NotInitializedError
from store.records import ModelRecord
from store.schema import check_schema, upgrade

__all__ = ["Catalog", "records_frame"]


def records_frame(records: list[Any]) -> pd.DataFrame:
    """A DataFrame with one row per record (columns = record fields)."""
    rows = [r.to_dict() for r in records]
    return pd.DataFrame(rows)


def _connect_or_explain(url: str, must_exist: bool) -> Any:
    engine = make_engine(url)
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path not in (None, "", ":memory:"):
        if must_exist and not Path(path).exists():
            engine.dispose()
            raise NotInitializedError(f"no catalog at {path}: run `zoo init` to create one")
        if not must_exist:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if engine.dialect.name == "sqlite":  # reads the file header: garbage fails here
                conn.execute(text("PRAGMA schema_version"))
    except DatabaseError as exc:  # OperationalError, or "file is not a database"
        engine.dispose()
        raise _unavailable(engine, exc) from exc
    return engine


def _unavailable(engine: Any, exc: DatabaseError) -> CatalogUnavailableError:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return CatalogUnavailableError(
        f"cannot open the catalog database {engine.url.render_as_string(hide_password=True)}: "
        f"{first}; check --db / ZOO_DATABASE_URL")


class Catalog(ModelsMixin, DataMixin, ActivationsMixin, StudyMixin, CheckMixin):
    """Metadata in SQL (SQLite or PostgreSQL) and arrays in Zarr, behind one object.

    Use ``Catalog.create`` for a new catalog and ``Catalog.open`` for an existing
    one; ``open`` refuses a catalog whose schema does not match this code.
    """

    @classmethod
    def open(cls, url: str, arrays: str | ArrayStore) -> Catalog:
        """Open an existing catalog at ``url`` with arrays under ``arrays``.

        Raises:
            CatalogUnavailableError: the database cannot be reached.
            NotInitializedError: nothing has been created there yet (`zoo init`).
            SchemaOutOfDateError: the schema is older than the code (`zoo db upgrade`).
            SchemaTooNewError: the catalog was written by a newer zoo.
        """
        engine = _connect_or_explain(url, must_exist=True)
        try:
            check_schema(engine)
        except DatabaseError as exc:  # a damaged file: its header read, its tables not
            engine.dispose()
            raise _unavailable(engine, exc) from exc
        except BaseException:
            engine.dispose()
            raise
        store = arrays if isinstance(arrays, ArrayStore) else ArrayStore(arrays)
        return cls(engine, store)

    @classmethod
    def create(cls, url: str, arrays: str | ArrayStore) -> Catalog:
        """Create (or upgrade to the newest schema) a catalog at ``url`` and open it."""
        engine = _connect_or_explain(url, must_exist=False)
        try:
            upgrade(engine)
        except DatabaseError as exc:
            raise _unavailable(engine, exc) from exc
        finally:
            engine.dispose()
        return cls.open(url, arrays)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.url!r}, arrays={self.arrays.root!r})"

    def models_frame(self, **filters: Any) -> pd.DataFrame:
        """``list_models(**filters)`` as a pandas DataFrame (one row per model)."""
        records: list[ModelRecord] = self.list_models(**filters)
        return records_frame(records)

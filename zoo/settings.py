"""Where things live: the zoo home, the catalog URL and the array root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from store.errors import InvalidInputError

__all__ = ["Locations", "resolve_locations"]

DEFAULT_HOME = "zoo-home"


@dataclass(frozen=True)
class Locations:
    """Resolved locations of one zoo.

    Attributes:
        home: the local directory holding the default SQLite catalog and arrays.
        db_url: SQLAlchemy URL of the catalog database.
        arrays_url: directory or fsspec URL of the array store.
    """

    home: Path
    db_url: str
    arrays_url: str


def resolve_locations(
    home: str | None = None, db: str | None = None, arrays: str | None = None
) -> Locations:
    """Resolve flags, then ``ZOO_HOME``/``ZOO_DATABASE_URL``/``ZOO_ARRAYS_URL``, then defaults.

    Defaults: ``./zoo-home``, ``sqlite:///<home>/catalog.db`` and ``<home>/arrays``.
    """
    home_path = Path(home or os.environ.get("ZOO_HOME") or DEFAULT_HOME).expanduser()
    db_url = db or os.environ.get("ZOO_DATABASE_URL") or f"sqlite:///{home_path / 'catalog.db'}"
    arrays_url = arrays or os.environ.get("ZOO_ARRAYS_URL") or str(home_path / "arrays")
    if arrays_url.strip().lower().startswith("memory://") and db_url.rstrip("/") not in (
            "sqlite:", "sqlite:///:memory:"):
        raise InvalidInputError(
            f"--arrays {arrays_url} keeps arrays only while one command runs, but the catalog "
            f"{db_url.split('@')[-1]} persists: its rows would point at arrays that are gone; "
            "give a directory or a persistent fsspec URL (s3://...)")
    return Locations(home=home_path, db_url=db_url, arrays_url=arrays_url)

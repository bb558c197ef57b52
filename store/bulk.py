"""Bulk registration: many model rows (and their tags) in one transaction (#20).

``Catalog.add_model`` is one model at a time, with its checkpoint written first; a zoo
of 100,000 models imported from an index (checkpoints stored already, or none) needs
rows in batches instead. :func:`add_models_bulk` inserts them with one multi-row
statement per batch inside a single transaction: all rows appear, or none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.catalog import Catalog
from store.errors import DuplicateError, InvalidInputError
from store.orm import SqlModel, SqlTag
from store.records import check_kind

__all__ = ["BulkModel", "add_models_bulk"]

#: Rows per INSERT statement (bounded by SQLite's 32,766 bound parameters).
BATCH_ROWS = 2000
_MODELS = cast(Table, SqlModel.__table__)
_TAGS = cast(Table, SqlTag.__table__)


@dataclass(frozen=True)
class BulkModel:
    """One model row for :func:`add_models_bulk`.

    Attributes:
        kind: a model kind (any name of the form :func:`store.records.check_kind` accepts).
        name: the model's unique name.
        seed: initialisation seed, if any.
        dataset_id: the dataset it was trained on, if any.
        arch: architecture JSON.
        config: training config JSON.
        tags: tags to attach.
    """

    kind: str
    name: str
    seed: int | None = None
    dataset_id: int | None = None
    arch: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if not self.name or any(c.isspace() for c in self.name) or self.name.isdigit():
            raise InvalidInputError(f"invalid model name {self.name!r}")


def add_models_bulk(catalog: Catalog, models: Sequence[BulkModel]) -> list[int]:
    """Register ``models`` (no checkpoints) in one transaction; returns their ids in order.

    Raises ``DuplicateError`` (and registers nothing) when a name is taken.
    """
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise DuplicateError("add_models_bulk: the same name appears twice")

    def _do(s: Session) -> list[int]:
        ids: list[int] = []
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for lo in range(0, len(models), BATCH_ROWS):
            chunk = models[lo:lo + BATCH_ROWS]
            rows = s.execute(
                insert(_MODELS).returning(_MODELS.c.id, sort_by_parameter_order=True),
                [{"kind": m.kind, "name": m.name, "seed": m.seed, "dataset_id": m.dataset_id,
                  "arch": m.arch, "config": m.config, "status": "ready", "created_at": now}
                 for m in chunk])
            new = [int(r[0]) for r in rows]
            tags = [{"model_id": i, "tag": t}
                    for i, m in zip(new, chunk, strict=True) for t in sorted(set(m.tags))]
            if tags:
                s.execute(insert(_TAGS), tags)
            ids.extend(new)
        return ids

    def duplicate(exc: IntegrityError) -> DuplicateError:
        return DuplicateError(f"add_models_bulk: a name is already registered ({exc})"
                              .splitlines()[0])

    if not models:
        return []
    return catalog._write(_do, on_duplicate=duplicate)

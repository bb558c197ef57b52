"""Integrity check: every referenced array/file exists and matches its checksum; no orphans;
every cached similarity was computed from the arrays the catalog holds now."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store._activations import SIMILARITY_SOURCE_KEYS
from store._base import CatalogBase
from store.arrays import bytes_sha256
from store.errors import CorruptArrayError, NotFoundError
from store.keys import CATEGORIES, DATASET_PARTS, ArrayKey
from store.orm import SqlActivation, SqlDataset, SqlModel, SqlPopulation, SqlSimilarity

__all__ = ["CheckMixin", "CheckReport"]


@dataclass(frozen=True)
class CheckReport:
    """What ``Catalog.check`` found. ``ok`` when nothing is missing, mismatched or orphaned."""

    checked: int
    missing: tuple[str, ...] = field(default=())
    mismatched: tuple[str, ...] = field(default=())
    orphans: tuple[str, ...] = field(default=())
    partial_populations: tuple[str, ...] = field(default=())
    removed: tuple[str, ...] = field(default=())
    in_progress: tuple[str, ...] = field(default=())
    stale_similarities: tuple[int, ...] = field(default=())
    removed_similarities: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the catalog and the array store agree completely.

        Orphans a live writer is still writing (``in_progress``) do not count.
        """
        return not (self.missing or self.mismatched
                    or set(self.orphans) - set(self.removed) - set(self.in_progress)
                    or set(self.stale_similarities) - set(self.removed_similarities))


class CheckMixin(CatalogBase):
    """``check``: verify checksums and find orphaned arrays."""

    def check(
        self, fix: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> CheckReport:
        """Verify every array and checkpoint against its checksum, list orphans and
        cached similarities computed from arrays the catalog no longer holds.

        Args:
            fix: delete orphans (stored objects no catalog row points at) and stale
                cached similarities, and nothing else. Safe beside running writers:
                an orphan a live process is still writing is left alone
                (``in_progress``), and each deletion re-checks, under the lock that
                registrations take, that no row points at the object.
            progress: called as ``progress(done, total)`` while verifying.
        """
        with self._session() as s:
            items = self._referenced(s)
            partial = [f"{pop.name} ({pop.rows_done}/{pop.n_inrs} rows)"
                       for pop in s.scalars(select(SqlPopulation)) if pop.status != "complete"]
            stale = self._stale_similarities(s)
        missing, mismatched = [], []
        for done, (key, sha, kind) in enumerate(items, 1):
            try:
                if kind == "file":
                    actual = bytes_sha256(self.arrays.get_file(key))
                elif sha is not None:
                    actual = self.arrays.checksum(key)
                else:
                    self.arrays.open_complete(key)
                    actual = None
            except NotFoundError:
                missing.append(key)
            except CorruptArrayError:
                mismatched.append(key)
            else:
                if sha is not None and actual != sha:
                    mismatched.append(key)
            if progress:
                progress(done, len(items))
        referenced = {_root(key) for key, _, _ in items}
        candidates = [k for c in CATEGORIES for k in self.arrays.list_keys(c)
                      if k not in referenced]
        busy = [k for k in candidates if self.arrays.being_written(k)]
        orphans = [k for k in candidates if k not in busy]
        removed: list[str] = []
        dropped: list[int] = []
        if fix:
            removed = self._delete_orphans(orphans)
            dropped = self._drop_similarities(stale)
        return CheckReport(
            checked=len(items), missing=tuple(missing), mismatched=tuple(mismatched),
            orphans=tuple(orphans), partial_populations=tuple(partial), removed=tuple(removed),
            in_progress=tuple(busy), stale_similarities=tuple(stale),
            removed_similarities=tuple(dropped),
        )

    @staticmethod
    def _referenced(s: Session) -> list[tuple[str, str | None, str]]:
        """``(key, sha256, "file"|"array")`` of every object a row points at."""
        items: list[tuple[str, str | None, str]] = []
        for key, sha in s.execute(select(SqlModel.checkpoint_key, SqlModel.sha256)
                                  .where(SqlModel.checkpoint_key.is_not(None))):
            items.append((str(key), sha, "file"))
        for key, sha in s.execute(select(SqlActivation.array_key, SqlActivation.sha256)):
            items.append((key, sha, "array"))
        for pop in s.scalars(select(SqlPopulation)):
            items.append((pop.array_key, pop.sha256 if pop.status == "complete" else None,
                          "array"))
        for (key,) in s.execute(select(SqlDataset.array_key)):
            for part in DATASET_PARTS:
                items.append((str(ArrayKey.parse(key).child(part)), None, "array"))
        return items

    def _delete_orphans(self, orphans: list[str]) -> list[str]:
        """Delete the orphans still unreferenced under the files lock; return those deleted."""

        def _do(s: Session) -> list[str]:
            referenced = {_root(key) for key, _, _ in self._referenced(s)}
            # decided again under the lock: a registration cannot be half done now, so
            # an unreferenced key is either still being written (its writer is alive)
            # or a true orphan; the decision made before the lock may be stale
            return [k for k in orphans if k not in referenced and self.arrays.delete_orphan(k)]

        return self._write(_do, lock_files=True) if orphans else []

    @staticmethod
    def _stale_similarities(s: Session) -> list[int]:
        """Ids of cached similarities whose key does not hold the sha256 of the arrays
        the catalog has now for both of its (model, layer, probe set)."""
        shas = {(m, layer, p): sha for m, layer, p, sha in s.execute(select(
            SqlActivation.model_id, SqlActivation.layer, SqlActivation.probe_set_id,
            SqlActivation.sha256))}
        stale = []
        rows = s.execute(select(SqlSimilarity.id, SqlSimilarity.model_a_id, SqlSimilarity.layer_a,
                                SqlSimilarity.model_b_id, SqlSimilarity.layer_b,
                                SqlSimilarity.probe_set_id, SqlSimilarity.params))
        key_a, key_b = SIMILARITY_SOURCE_KEYS
        for sid, ma, la, mb, lb, probe, params in rows:
            try:
                given = json.loads(params)
            except ValueError:
                given = {}
            given = given if isinstance(given, dict) else {}
            if (given.get(key_a) is None or given.get(key_a) != shas.get((ma, la, probe))
                    or given.get(key_b) is None or given.get(key_b) != shas.get((mb, lb, probe))):
                stale.append(int(sid))
        return stale

    def _drop_similarities(self, ids: list[int]) -> list[int]:
        def _do(s: Session) -> None:
            for start in range(0, len(ids), 500):
                s.execute(delete(SqlSimilarity).where(SqlSimilarity.id.in_(ids[start:start + 500])))

        if ids:
            self._write(_do)
        return ids


def _root(key: str) -> str:
    """``<category>/<name>``: the stored object a (possibly nested) key belongs to."""
    return str(ArrayKey.parse(key).root)

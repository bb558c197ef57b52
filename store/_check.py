"""Integrity check: every referenced array/file exists and matches its checksum; no orphans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from store._base import CatalogBase
from store.arrays import bytes_sha256
from store.errors import NotFoundError
from store.orm import SqlActivation, SqlDataset, SqlModel, SqlPopulation

__all__ = ["CheckMixin", "CheckReport"]

CATEGORIES = ("datasets", "populations", "activations", "checkpoints")


@dataclass(frozen=True)
class CheckReport:
    """What ``Catalog.check`` found. ``ok`` when nothing is missing, mismatched or orphaned."""

    checked: int
    missing: tuple[str, ...] = field(default=())
    mismatched: tuple[str, ...] = field(default=())
    orphans: tuple[str, ...] = field(default=())
    partial_populations: tuple[str, ...] = field(default=())
    removed: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the catalog and the array store agree completely."""
        return not (self.missing or self.mismatched or set(self.orphans) - set(self.removed))


class CheckMixin(CatalogBase):
    """``check``: verify checksums and find orphaned arrays."""

    def check(
        self, fix: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> CheckReport:
        """Verify every array and checkpoint against its checksum and list orphans.

        Args:
            fix: delete orphans (stored objects no catalog row points at), and
                nothing else. Do not run it while other processes are writing.
            progress: called as ``progress(done, total)`` while verifying.
        """
        with self._session() as s:
            items: list[tuple[str, str | None, str]] = []  # (key, sha256, kind)
            for key, sha in s.execute(select(SqlModel.checkpoint_key, SqlModel.sha256)
                                      .where(SqlModel.checkpoint_key.is_not(None))):
                items.append((str(key), sha, "file"))
            for key, sha in s.execute(select(SqlActivation.array_key, SqlActivation.sha256)):
                items.append((key, sha, "array"))
            partial: list[str] = []
            for pop in s.scalars(select(SqlPopulation)):
                if pop.status == "complete":
                    items.append((pop.array_key, pop.sha256, "array"))
                else:
                    partial.append(f"{pop.name} ({pop.rows_done}/{pop.n_inrs} rows)")
                    items.append((pop.array_key, None, "array"))
            for (key,) in s.execute(select(SqlDataset.array_key)):
                for part in ("images", "labels", "splits"):
                    items.append((f"{key}/{part}", None, "array"))
        missing, mismatched = [], []
        for done, (key, sha, kind) in enumerate(items, 1):
            try:
                if kind == "file":
                    actual = bytes_sha256(self.arrays.get_file(key))
                elif sha is not None:
                    actual = self.arrays.checksum(key)
                else:
                    self.arrays.open(key)
                    actual = None
            except NotFoundError:
                missing.append(key)
            else:
                if sha is not None and actual != sha:
                    mismatched.append(key)
            if progress:
                progress(done, len(items))
        referenced = {key.split("/")[0] + "/" + key.split("/")[1] for key, _, _ in items}
        orphans = [k for c in CATEGORIES for k in self.arrays.list_keys(c) if k not in referenced]
        removed: list[str] = []
        if fix:
            for key in orphans:
                self.arrays.delete(key)
                removed.append(key)
        return CheckReport(
            checked=len(items), missing=tuple(missing), mismatched=tuple(mismatched),
            orphans=tuple(orphans), partial_populations=tuple(partial), removed=tuple(removed),
        )

"""An :class:`~zoo.train.record.ActivationSink` that streams into the catalog's Zarr store.

Each layer becomes one array ``[n_probe, *features]`` chunked along samples,
written block by block as the recorder streams. Nothing is registered until
``commit``, which registers every layer in one transaction; ``abort`` deletes
the arrays. So an interrupted recording leaves at most orphans (`zoo check --fix`).
"""

from __future__ import annotations

import numpy as np

from store import ActivationRecord, ArrayWriter, Catalog

__all__ = ["CatalogSink"]


class CatalogSink:
    """Writes recorded layers of ``model_id`` on ``probe`` into ``catalog``.

    Args:
        chunk_rows: rows per Zarr chunk (default: about 4 MiB per chunk).
        replace: overwrite layers already recorded on this probe set.
    """

    def __init__(self, catalog: Catalog, model_id: int, probe: str | int, *,
                 chunk_rows: int | None = None, replace: bool = False) -> None:
        self.catalog = catalog
        self.model_id = model_id
        self.probe = probe
        self.chunk_rows = chunk_rows
        self.replace = replace
        self.writers: dict[str, ArrayWriter] = {}

    def open_layer(self, name: str, shape_per_sample: tuple[int, ...], dtype: np.dtype) -> None:
        """Create the (unregistered) array of one layer."""
        self.writers[name] = self.catalog.begin_activation(
            self.model_id, name, self.probe, shape_per_sample, dtype, self.chunk_rows,
            self.replace)

    def write(self, name: str, start: int, block: np.ndarray) -> None:
        """Write rows ``start:start+len(block)`` of one layer."""
        self.writers[name].write(start, block)

    def close(self) -> None:
        """Nothing to release: ``commit`` or ``abort`` decide what happens to the arrays."""

    def commit(self) -> list[ActivationRecord]:
        """Register every written layer at once; returns their records in recording order."""
        return self.catalog.register_activations(self.model_id, self.probe, self.writers,
                                                 self.replace)

    def abort(self) -> None:
        """Delete every array written so far (none was registered)."""
        for writer in self.writers.values():
            self.catalog.arrays.delete(writer.key)
        self.writers.clear()

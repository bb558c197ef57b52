"""Aligned minibatches of several stored arrays, each Zarr chunk decoded exactly once.

A minibatch estimator reads rows ``[s, e)`` of every compared array in lockstep. Slicing a
Zarr array ``b`` rows at a time decodes the chunk holding them on every slice (a 4,096-row
chunk 16 times for 256-row minibatches); :class:`ChunkRows` instead reads whole chunks,
each once, and serves minibatches from the rows held, so memory is one chunk plus one
minibatch per array whatever ``n``. Every array's bytes are hashed as they stream and
checked against its record's sha256 at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from store import ArrayStore, array_hasher
from store.records import ActivationRecord

__all__ = ["ChunkRows", "block_starts", "lockstep"]


class ChunkRows:
    """Consecutive row ranges of one array, read in whole chunks and hashed as they come.

    Args:
        array: A Zarr (or NumPy) array of shape ``[n, ...]``.
        chunk_rows: Rows per chunk along the first axis (reads are aligned to them).
    """

    def __init__(self, array: Any, chunk_rows: int) -> None:
        self.array = array
        self.step = max(1, int(chunk_rows))
        self.n = int(array.shape[0])
        self.digest = array_hasher(array.dtype, tuple(array.shape))
        self._buf = np.empty((0, *array.shape[1:]), dtype=array.dtype)
        self._start = 0  # row number of self._buf[0]

    def take(self, s: int, e: int) -> np.ndarray:
        """Rows ``[s, e)``; calls must not go back (``s`` at least the previous ``s``).

        Shapes:
            output ``[e - s, *shape[1:]]`` (a view of the rows held)
        """
        end = self._start + len(self._buf)
        if end < e:  # read whole chunks, from the first row not yet read to past row e - 1
            hi = min(self.n, -(-e // self.step) * self.step)
            new = np.ascontiguousarray(self.array[end:hi])
            if new.size:
                self.digest.update(new.data.cast("B"))
            keep = self._buf[s - self._start:]
            if len(keep):
                self._buf, self._start = np.concatenate([keep, new]), s
            else:
                self._buf, self._start = new, end
        return self._buf[s - self._start:e - self._start]

    def hexdigest(self) -> str:
        """sha256 of everything read so far (the whole array once the last row was taken)."""
        return str(self.digest.hexdigest())


def block_starts(n: int, rows: int) -> list[int]:
    """Minibatch starts; a tail under 4 rows (too few for unbiased HSIC) joins the last one."""
    starts = list(range(0, n, rows))
    if len(starts) > 1 and n - starts[-1] < 4:
        starts.pop()
    return starts


def lockstep(arrays: ArrayStore, records: Sequence[ActivationRecord], rows: int,
             corrupt: Callable[[ActivationRecord], Exception]) -> Iterator[list[np.ndarray]]:
    """Yield aligned ``rows``-row blocks of the stored arrays of ``records``.

    After the last block an array whose streamed bytes differ from its record's sha256
    raises ``corrupt(record)``.

    Shapes:
        per block: ``[b, *shape_i[1:]]`` for each record ``i``
    """
    readers = []
    for rec in records:
        array = arrays.open_complete(rec.array_key)
        readers.append(ChunkRows(array, array.chunks[0] if array.ndim else 1))
    n = records[0].shape[0]
    starts = block_starts(n, rows)
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        yield [r.take(s, e) for r in readers]
    for rec, reader in zip(records, readers, strict=True):
        if reader.hexdigest() != rec.sha256:
            raise corrupt(rec)

"""All-pairs similarity on a Dask cluster: the pair matrix in blocks, one task per block.

Each task reads the arrays of its block's representations from the shared array store
(checked against their sha256), computes the block in one batched product with
:func:`analysis.similarity.compute_block` and returns the values; the client assembles
them and writes the cache rows (:func:`analysis.similarity.compare` does), so workers
need the array store only, not the catalog.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import as_completed
from typing import TYPE_CHECKING, Any

import numpy as np

from store import ArrayStore
from zoo.cluster._executors import open_executor, slots

if TYPE_CHECKING:
    from analysis.similarity import BlockCompute, Rep, SimilarityQuery
    from store.records import ActivationRecord

__all__ = ["block_compute", "block_size", "shared_root"]

#: Most representations on one side of a block (bounds a task's memory: 2 x this arrays).
MAX_BLOCK = 128
#: Blocks per side are chosen so a symmetric matrix gives about this many tasks per slot.
TASKS_PER_SLOT = 4


def block_size(n: int, n_slots: int) -> int:
    """Representations per block side for an ``n`` x ``n`` matrix on ``n_slots`` slots.

    About ``TASKS_PER_SLOT`` tasks per slot (``k (k + 1) / 2`` upper-triangle blocks of a
    ``k`` x ``k`` grid), at most ``MAX_BLOCK`` and at least 1.
    """
    per_side = max(1, math.ceil(math.sqrt(2 * TASKS_PER_SLOT * max(1, n_slots))))
    return max(1, min(MAX_BLOCK, math.ceil(n / per_side)))


def shared_root(root: str) -> str:
    """The array root as other processes must name it (a local path made absolute)."""
    return root if "://" in root else os.path.abspath(root)


@functools.cache
def _store(root: str) -> ArrayStore:
    return ArrayStore(root)


def _block_task(root: str, reps_a: list[Rep], reps_b: list[Rep],
                records: dict[Rep, ActivationRecord], query: SimilarityQuery) -> np.ndarray:
    """One block of the pair matrix, on a worker: ``[len(reps_a), len(reps_b)]``."""
    from analysis.similarity import compute_block

    return compute_block(_store(root), reps_a, reps_b, records, query)


def block_compute(address: str, arrays_root: str, block: int | None = None) -> BlockCompute:
    """A :data:`~analysis.similarity.BlockCompute` that runs on the cluster at ``address``.

    The ``[len(a), len(b)]`` matrix is cut into ``block`` x ``block`` tiles (default
    :func:`block_size` for the cluster's slots), one task each; when both sides are the
    same list only the upper triangle of tiles is computed and mirrored (every measure
    here is symmetric).
    """
    root = shared_root(arrays_root)

    def compute(reps_a: list[Rep], reps_b: list[Rep], records: dict[Rep, ActivationRecord],
                query: SimilarityQuery) -> np.ndarray:
        out = np.empty((len(reps_a), len(reps_b)))
        spec = getattr(query, "spec", None)  # the measure registry's entry, where there is one
        symmetric = reps_a == reps_b and bool(getattr(spec, "symmetric", True))
        size = block or block_size(max(len(reps_a), len(reps_b)), slots(address))
        with open_executor(cluster=address) as executor:
            tasks: dict[Any, tuple[int, int]] = {}
            for i in range(0, len(reps_a), size):
                for j in range(0, len(reps_b), size):
                    if symmetric and j < i:
                        continue
                    ra, rb = reps_a[i:i + size], reps_b[j:j + size]
                    recs = {r: records[r] for r in {*ra, *rb}}
                    tasks[executor.submit(_block_task, root, ra, rb, recs, query)] = (i, j)
            for future in as_completed(tasks):
                i, j = tasks[future]
                values = np.asarray(future.result(), dtype=np.float64)
                out[i:i + values.shape[0], j:j + values.shape[1]] = values
                if symmetric and i != j:
                    out[j:j + values.shape[1], i:i + values.shape[0]] = values.T
        return out

    return compute

r"""All-pairs cross products and their singular values, shared by the CCA-type measures.

For representations :math:`A_1, \dots, A_k` (``(n, r_i)`` each), :func:`cross_blocks` forms
every :math:`A_i^\top B_j` from one product of the concatenations :math:`[A_1 \dots A_k]^\top
[B_1 \dots B_l]` (a symmetric rank-k update when the two lists are the same), and
:func:`block_singular_values` takes the singular values of all blocks of one shape in one
stacked SVD call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from analysis.measures._prepare import F64, column_offsets

__all__ = ["block_singular_values", "cross_blocks", "fill_pairs", "pair_indices"]


def pair_indices(kx: int, ky: int | None) -> list[tuple[int, int]]:
    """The pairs to compute: ``i <= j`` for a square block (``ky`` None), else all."""
    if ky is None:
        return [(i, j) for i in range(kx) for j in range(i, kx)]
    return [(i, j) for i in range(kx) for j in range(ky)]


def cross_blocks(xs: Sequence[F64], ys: Sequence[F64] | None,
                 pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], F64]:
    """``{(i, j): xs[i].T @ ys[j]}`` (``ys`` None: ``xs``) from one concatenated product.

    Shapes:
        xs[i] (n, r_i), ys[j] (n, s_j) -> (r_i, s_j) per pair
    """
    zx = xs[0] if len(xs) == 1 else np.concatenate(xs, axis=1)
    ox = column_offsets(xs)
    if ys is None:
        zz, oy = zx.T @ zx, ox
    else:
        zy = ys[0] if len(ys) == 1 else np.concatenate(ys, axis=1)
        zz, oy = zx.T @ zy, column_offsets(ys)
    return {(i, j): zz[ox[i]:ox[i + 1], oy[j]:oy[j + 1]] for i, j in pairs}


def block_singular_values(blocks: dict[tuple[int, int], F64]) -> dict[tuple[int, int], F64]:
    """Singular values of every block, one stacked ``numpy.linalg.svd`` per block shape."""
    by_shape: dict[tuple[int, ...], list[tuple[int, int]]] = defaultdict(list)
    for key, block in blocks.items():
        by_shape[block.shape].append(key)
    out: dict[tuple[int, int], F64] = {}
    for keys in by_shape.values():
        stacked = np.stack([blocks[k] for k in keys])
        values = np.linalg.svd(stacked, compute_uv=False)
        out.update(zip(keys, values, strict=True))
    return out


def fill_pairs(values: dict[tuple[int, int], float], kx: int, ky: int | None) -> F64:
    """The ``(kx, ky)`` matrix of ``values``; a square one (``ky`` None) mirrored from i <= j."""
    out = np.empty((kx, kx if ky is None else ky))
    for (i, j), v in values.items():
        out[i, j] = v
        if ky is None:
            out[j, i] = v
    return out

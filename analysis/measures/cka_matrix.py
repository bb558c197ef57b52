r"""All-pairs linear CKA of many representations with batched linear algebra.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414

The private helpers here (:func:`hsic_matrix`, :func:`hsic_cross`) are the one engine behind
:func:`~analysis.measures.linear_cka`, :func:`~analysis.measures.minibatch_cka` and the
matrices below. For centred representations :math:`X_1, \dots, X_k` they evaluate every
:math:`\mathrm{HSIC}(X_i X_i^\top, X_j X_j^\top)` at once, on whichever side is cheaper:

* **feature side**: the :math:`(D, D)` cross-covariance :math:`Z^\top Z` of the
  concatenation :math:`Z = [X_1, \dots, X_k]` (:math:`D = \sum_i d_i`), squared and summed
  block-wise, costs about :math:`n D^2 / 2` multiply-adds;
* **Gram side**: the (U-)centred Gram matrices, flattened to a :math:`(k, n^2)` matrix
  :math:`A` whose product :math:`A A^\top` holds every Frobenius inner product, costs about
  :math:`n^2 (D + k^2/2) / 2` (only the upper triangle of each Gram matrix is formed).

With ``method="auto"`` the side with fewer multiply-adds is used, so the feature side when
:math:`D^2 \le n (D + k^2/2)`, roughly :math:`D \le n` (for the rectangular
:func:`linear_cka_cross`, :math:`n D_a D_b` plus the self terms against
:math:`n^2 (D_a + D_b + k_a k_b + k_a + k_b) / 2`). Both sides make one stacked copy of
the inputs and then stream over blocks of rows or columns, so that the other temporaries stay
near ``_BLOCK_ELEMENTS`` float64 values (:math:`Z^\top Z` and the Gram matrices are never
materialised whole). The feature side
uses NumPy, whose BLAS turns ``Z.T @ Z`` into a symmetric rank-k update (half the work); the
Gram side uses torch (CPU, float64) when large, where ``bmm`` forms the Gram rows of all
representations of one width in one call, and NumPy when small. Everything is float64.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    Estimator,
    check_estimator,
    check_same_n,
    column_offsets,
    normalise,
    prepare_reps,
    rep_labels,
    row_sq_norms,
)

__all__ = ["linear_cka_cross", "linear_cka_matrix", "linear_cka_pairs"]

Method: TypeAlias = Literal["auto", "features", "gram"]

#: Target size (float64 elements, 32 MiB) of the temporaries of one block.
_BLOCK_ELEMENTS = 1 << 22
#: Gram-side multiply-adds from which the work runs in torch rather than NumPy.
_TORCH_MIN_MACS = 1 << 27
_SQRT2 = float(np.sqrt(2.0))


def _torch() -> Any:
    """torch, imported on first use (only large Gram-side problems need it)."""
    import torch

    return torch


def _use_features(method: Method, feature_cost: float, gram_cost: float) -> bool:
    """Pick the side: forced by ``method``, else the one with fewer multiply-adds."""
    if method not in ("auto", "features", "gram"):
        raise ValueError(f"method must be 'auto', 'features' or 'gram', got {method!r}")
    return method == "features" or (method == "auto" and feature_cost <= gram_cost)


def _unbiased_scale(m: F64, qa: F64, qb: F64, n: int) -> F64:
    """Turn :math:`\\|X_i^\\top Y_j\\|_F^2` into Song et al.'s HSIC_1 (centred inputs).

    For centred :math:`X`, :math:`\\tilde K 1 = -q` with :math:`q_l = \\|x_l\\|^2`, so the bracket
    of eq. 5 is :math:`M - \\frac{n}{n-2} q_a^\\top q_b + \\frac{s_a s_b}{(n-1)(n-2)}`.
    """
    qq = qa.T @ qb
    sa, sb = qa.sum(axis=0), qb.sum(axis=0)
    bracket = m - n / (n - 2) * qq + np.outer(sa, sb) / ((n - 1) * (n - 2))
    return bracket / (n * (n - 3))


def _features_block_sums(za: F64, oa: np.ndarray, zb: F64, ob: np.ndarray, sym: bool) -> F64:
    """:math:`M_{ij} = \\|Z_{a,i}^\\top Z_{b,j}\\|_F^2`, a few rows of ``a`` at a time."""
    ka, kb = len(oa) - 1, len(ob) - 1
    m = np.zeros((ka, kb))
    i0 = 0
    while i0 < ka:
        i1 = i0 + 1  # widen the group while its product stays within budget
        while i1 < ka and (oa[i1 + 1] - oa[i0]) * zb.shape[1] <= _BLOCK_ELEMENTS:
            i1 += 1
        za_g = za[:, oa[i0]:oa[i1]]
        rows = oa[i0:i1] - oa[i0]
        if sym:  # diagonal group by a symmetric rank-k update, then the blocks right of it
            g = za_g.T @ za_g
            g *= g
            m[i0:i1, i0:i1] = np.add.reduceat(np.add.reduceat(g, rows, 0), rows, 1)
            if i1 < kb:
                g = za_g.T @ zb[:, ob[i1]:]
                g *= g
                cols = ob[i1:-1] - ob[i1]
                m[i0:i1, i1:] = np.add.reduceat(np.add.reduceat(g, rows, 0), cols, 1)
        else:
            g = za_g.T @ zb
            g *= g
            m[i0:i1] = np.add.reduceat(np.add.reduceat(g, rows, 0), ob[:-1], 1)
        i0 = i1
    return np.triu(m) + np.triu(m, 1).T if sym else m


class _GramRows:
    """Centred reps stacked by width as ``(g, n, d)`` arrays, yielding Gram row blocks.

    :meth:`block` writes rows ``s:e`` (columns ``s:``) of every (U-)centred Gram matrix, one
    batched product per width. Columns right of the diagonal block are scaled by
    :math:`\\sqrt 2`, so that inner products of these upper-triangle strips add up to the full
    Frobenius inner product of the symmetric matrices. U-centring (``u_center_gram`` for
    centred inputs, where :math:`\\tilde K 1 = -q`) is
    :math:`U_{ij} = K_{ij} + (q_i + q_j) / (n-2) - \\sum_l q_l / ((n-1)(n-2))`, zero diagonal.
    With ``use_torch`` the arrays are torch views of the same memory and every operation
    runs in torch; the code uses only operations NumPy and torch spell alike.
    """

    def __init__(self, reps: Sequence[F64], unbiased: bool, use_torch: bool) -> None:
        widths = [r.shape[1] for r in reps]
        self.order = sorted(range(len(reps)), key=widths.__getitem__)
        wrap = _torch().from_numpy if use_torch else np.asarray
        self.groups: list[Any] = []
        for _, members in itertools.groupby(self.order, key=widths.__getitem__):
            idx = list(members)
            stacked = reps[idx[0]][None] if len(idx) == 1 else np.stack([reps[i] for i in idx])
            self.groups.append(wrap(stacked))
        self.n = reps[0].shape[0]
        self.q: Any = None  # (k, n) squared row norms, for U-centring
        if unbiased:
            self.q = wrap(row_sq_norms([reps[i] for i in self.order]).T.copy())
        self.matmul: Any = _torch().bmm if use_torch else np.matmul

    def block(self, s: int, e: int, out: Any) -> Any:
        n, r = self.n, e - s
        blk = out.reshape(-1, r, n - s)
        pos = 0
        for t in self.groups:
            self.matmul(t[:, s:e], t[:, s:].swapaxes(1, 2), out=blk[pos:pos + t.shape[0]])
            pos += t.shape[0]
        q = self.q
        if q is not None:
            blk += (q[:, s:e, None] + q[:, None, s:]) / (n - 2)
            blk -= (q.sum(axis=1) / ((n - 1) * (n - 2)))[:, None, None]
            blk[:, list(range(r)), list(range(r))] = 0.0
        blk[:, :, r:] *= _SQRT2
        return out

    def unpermute(self, m: F64, axis: int) -> F64:
        return np.take(m, np.argsort(self.order), axis=axis)


def _gram_inner(a: Sequence[F64], b: Sequence[F64] | None, unbiased: bool) -> tuple[F64, ...]:
    """Frobenius inner products of the centred Gram matrices, streamed over row blocks.

    Large problems run in torch (MKL: one multi-threaded call per width and block), small
    ones in NumPy (OpenBLAS keeps small products single-threaded, where MKL's threads cost
    milliseconds per call on a busy CPU); the two are never mixed within one computation,
    as two BLAS thread pools spinning side by side slow each other down.

    Returns ``(S,)`` with ``S`` (ka, ka) when ``b`` is None, else ``(S_ab, diag_a, diag_b)``.
    """
    n = a[0].shape[0]
    ka, kb = len(a), 0 if b is None else len(b)
    width = sum(x.shape[1] for x in (*a, *(b or ())))
    use_torch = n * n * width / 2 >= _TORCH_MIN_MACS
    wrap: Any = _torch().from_numpy if use_torch else np.asarray
    ga = _GramRows(a, unbiased, use_torch)
    gb = None if b is None else _GramRows(b, unbiased, use_torch)
    rows = max(1, min(n, _BLOCK_ELEMENTS // ((ka + kb) * n)))
    s_ab, na, nb = np.zeros((ka, kb if kb else ka)), np.zeros(ka), np.zeros(kb)
    t_ab, t_na, t_nb = wrap(s_ab), wrap(na), wrap(nb)  # accumulate in place, either library
    buf_a, buf_b = wrap(np.empty(ka * rows * n)), wrap(np.empty(kb * rows * n))
    for s in range(0, n, rows):
        e = min(n, s + rows)
        size = (e - s) * (n - s)
        blk_a = ga.block(s, e, buf_a[: ka * size].reshape(ka, size))
        if gb is None:
            t_ab += blk_a @ blk_a.T  # in NumPy a symmetric rank-k update
            continue
        blk_b = gb.block(s, e, buf_b[: kb * size].reshape(kb, size))
        t_ab += blk_a @ blk_b.T
        t_na += (blk_a * blk_a).sum(axis=1)
        t_nb += (blk_b * blk_b).sum(axis=1)
    scale = n * (n - 3) if unbiased else (n - 1) ** 2
    s_ab = ga.unpermute(s_ab, 0) / scale
    if gb is None:
        return (ga.unpermute(s_ab, 1),)
    return gb.unpermute(s_ab, 1), ga.unpermute(na, 0) / scale, gb.unpermute(nb, 0) / scale


def hsic_matrix(reps: Sequence[F64], unbiased: bool, method: Method = "auto") -> F64:
    """``(k, k)`` HSIC (biased or unbiased) of the linear kernels of centred ``reps``."""
    n, k = reps[0].shape[0], len(reps)
    offs = column_offsets(reps)
    d = float(offs[-1])
    if not _use_features(method, n * d * d / 2, n * n * (d + k * k / 2) / 2):
        return _gram_inner(reps, None, unbiased)[0]
    z = reps[0] if len(reps) == 1 else np.concatenate(reps, axis=1)
    m = _features_block_sums(z, offs, z, offs, sym=True)
    if unbiased:
        q = row_sq_norms(reps)
        return _unbiased_scale(m, q, q, n)
    return m / (n - 1) ** 2


def hsic_cross(a: Sequence[F64], b: Sequence[F64], unbiased: bool,
               method: Method = "auto") -> tuple[F64, F64, F64]:
    """``(ka, kb)`` HSIC between two lists of centred reps, plus each rep's self-HSIC."""
    n, ka, kb = a[0].shape[0], len(a), len(b)
    oa, ob = column_offsets(a), column_offsets(b)
    da, db = float(oa[-1]), float(ob[-1])
    self_cost = sum(n * min(x.shape[1], n) ** 2 / 2 for x in (*a, *b))
    gram_cost = n * n * (da + db + ka * kb + ka + kb) / 2
    if not _use_features(method, n * da * db + self_cost, gram_cost):
        s_ab, na, nb = _gram_inner(a, b, unbiased)
        return s_ab, na, nb
    za = a[0] if len(a) == 1 else np.concatenate(a, axis=1)
    zb = b[0] if len(b) == 1 else np.concatenate(b, axis=1)
    m = _features_block_sums(za, oa, zb, ob, sym=False)
    m = _unbiased_scale(m, row_sq_norms(a), row_sq_norms(b), n) if unbiased else m / (n - 1) ** 2
    na = np.array([hsic_matrix([x], unbiased)[0, 0] for x in a])
    nb = np.array([hsic_matrix([y], unbiased)[0, 0] for y in b])
    return m, na, nb


def linear_cka_matrix(reps: Sequence[ArrayLike], estimator: Estimator = "biased",
                      *, method: Method = "auto", labels: Sequence[str] | None = None) -> F64:
    r"""All-pairs linear CKA of ``k`` representations of the same ``n`` samples.

    .. math::
        \mathrm{CKA}_{ij} = \frac{\mathrm{HSIC}(K_i, K_j)}
            {\sqrt{\mathrm{HSIC}(K_i, K_i)\, \mathrm{HSIC}(K_j, K_j)}},
        \qquad K_i = X_i X_i^\top,

    with every HSIC from one batched product (see the module docstring for the feature and
    Gram sides and the rule choosing between them), never a loop over pairs. With the biased
    estimator :math:`\mathrm{HSIC}(K_i, K_j) \propto \|X_{c,j}^\top X_{c,i}\|_F^2`.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        reps: ``k`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        estimator: ``"biased"`` (:math:`\mathrm{HSIC}_0`) or ``"unbiased"``
            (:math:`\mathrm{HSIC}_1`, Song et al. 2012) (default: ``"biased"``).
        method: ``"auto"``, ``"features"`` or ``"gram"`` (default: ``"auto"``).
        labels: Names of the reps in error messages (default: ``reps[i]``).

    Returns:
        The symmetric ``(k, k)`` float64 matrix, ones on the diagonal up to round-off.

    Raises:
        ValueError: If ``reps`` is empty, sample counts differ, an array holds NaN/inf or a
            constant representation, or ``n`` is below 2 (biased) or 4 (unbiased).

    Shapes:
        reps[i] (n, d_i) -> (k, k)
    """
    unbiased = check_estimator(estimator)
    names = rep_labels(len(reps), "reps", labels)
    xs = prepare_reps(reps, "reps", unbiased, names)
    h = hsic_matrix(xs, unbiased, method)
    d = np.diag(h).copy()
    out = normalise(h, d, d, names, names)
    return (out + out.T) / 2


def linear_cka_cross(reps_a: Sequence[ArrayLike], reps_b: Sequence[ArrayLike],
                     estimator: Estimator = "biased", *, method: Method = "auto",
                     labels_a: Sequence[str] | None = None,
                     labels_b: Sequence[str] | None = None) -> F64:
    r"""Linear CKA between every representation of ``reps_a`` and every one of ``reps_b``.

    .. math::
        \mathrm{CKA}_{ij} = \frac{\mathrm{HSIC}(K^a_i, K^b_j)}
            {\sqrt{\mathrm{HSIC}(K^a_i, K^a_i)\, \mathrm{HSIC}(K^b_j, K^b_j)}}

    The rectangular block of :func:`linear_cka_matrix`, computed without the
    :math:`a`-:math:`a` and :math:`b`-:math:`b` pairs (only each representation's own HSIC), so
    a cache can fill in just the rows it is missing.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        reps_a: ``ka`` arrays of shape ``(n, ...)``.
        reps_b: ``kb`` arrays of shape ``(n, ...)``.
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).
        method: ``"auto"``, ``"features"`` or ``"gram"`` (default: ``"auto"``).
        labels_a: Names of ``reps_a`` in error messages (default: ``reps_a[i]``).
        labels_b: Names of ``reps_b`` in error messages (default: ``reps_b[j]``).

    Returns:
        The ``(ka, kb)`` float64 matrix.

    Raises:
        ValueError: As :func:`linear_cka_matrix`, for either list or between the two.

    Shapes:
        reps_a[i] (n, d_i), reps_b[j] (n, e_j) -> (ka, kb)
    """
    unbiased = check_estimator(estimator)
    names_a = rep_labels(len(reps_a), "reps_a", labels_a)
    names_b = rep_labels(len(reps_b), "reps_b", labels_b)
    xa = prepare_reps(reps_a, "reps_a", unbiased, names_a)
    xb = prepare_reps(reps_b, "reps_b", unbiased, names_b)
    check_same_n(xa, xb, ("reps_a", "reps_b"))
    h, na, nb = hsic_cross(xa, xb, unbiased, method)
    return normalise(h, na, nb, names_a, names_b)


def linear_cka_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                     estimator: Estimator = "biased", labels_x: Sequence[str] | None = None,
                     labels_y: Sequence[str] | None = None) -> F64:
    """The measure registry's all-pairs entry for linear CKA (``analysis.measure_registry``).

    ``ys=None`` is the square :func:`linear_cka_matrix` of ``xs`` (each block once, mirrored);
    otherwise the ``(kx, ky)`` :func:`linear_cka_cross`. Errors name reps by their labels.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    if ys is None:
        return linear_cka_matrix(xs, estimator, labels=labels_x)
    return linear_cka_cross(xs, ys, estimator, labels_a=labels_x, labels_b=labels_y)

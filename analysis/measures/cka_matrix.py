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
:math:`n^2 (D_a + D_b + k_a k_b + k_a + k_b) / 2`). Both sides stream over blocks of
rows or columns so that temporaries stay near ``_BLOCK_ELEMENTS`` float64 values
(:math:`Z^\top Z` and the Gram matrices are never materialised whole). NumPy's BLAS is used
rather than torch: on CPU it is at least as fast in float64 and it recognises ``A @ A.T``
as a symmetric rank-k update (half the work).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    Estimator,
    check_estimator,
    normalise,
    prepare_reps,
)

__all__ = ["linear_cka_cross", "linear_cka_matrix"]

Method: TypeAlias = Literal["auto", "features", "gram"]

#: Target size (float64 elements, 32 MiB) of the temporaries of one block.
_BLOCK_ELEMENTS = 1 << 22
_SQRT2 = float(np.sqrt(2.0))


def _offsets(reps: Sequence[F64]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([r.shape[1] for r in reps])]).astype(np.intp)


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


def _row_norms(reps: Sequence[F64]) -> F64:
    return np.stack([np.einsum("ij,ij->i", r, r) for r in reps], axis=1)


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


def _gram_rows(reps: Sequence[F64], q: F64 | None, s: int, e: int, out: F64) -> None:
    """Write rows ``s:e`` (columns ``s:``) of each centred Gram matrix into ``out``.

    With ``q`` given the rows are U-centred (:func:`~analysis.measures._prepare.u_center_gram`
    specialised to centred inputs). Columns right of the diagonal block are scaled by
    :math:`\\sqrt 2`, so that inner products of these upper-triangle strips add up to the
    full Frobenius inner product of the symmetric matrices.
    """
    n = reps[0].shape[0]
    r = e - s
    diag = (np.arange(r), np.arange(r))
    for i, x in enumerate(reps):
        blk = out[i].reshape(r, n - s)
        np.matmul(x[s:e], x[s:].T, out=blk)
        if q is not None:
            qi = q[:, i]
            blk += (qi[s:e, None] + qi[None, s:]) / (n - 2)
            blk -= qi.sum() / ((n - 1) * (n - 2))
            blk[diag] = 0.0
        blk[:, r:] *= _SQRT2


def _gram_inner(a: Sequence[F64], b: Sequence[F64] | None, unbiased: bool) -> tuple[F64, ...]:
    """Frobenius inner products of the centred Gram matrices, streamed over row blocks.

    Returns ``(S,)`` with ``S`` (ka, ka) when ``b`` is None, else ``(S_ab, diag_a, diag_b)``.
    """
    n = a[0].shape[0]
    ka, kb = len(a), 0 if b is None else len(b)
    qa = _row_norms(a) if unbiased else None
    qb = _row_norms(b) if unbiased and b is not None else None
    rows = max(1, min(n, _BLOCK_ELEMENTS // ((ka + kb) * n)))
    s_ab = np.zeros((ka, ka if b is None else kb))
    na, nb = np.zeros(ka), np.zeros(kb)
    buf_a, buf_b = np.empty(ka * rows * n), np.empty(kb * rows * n)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        size = (e - s) * (n - s)
        blk_a = buf_a[: ka * size].reshape(ka, size)
        _gram_rows(a, qa, s, e, blk_a)
        if b is None:
            s_ab += blk_a @ blk_a.T
            continue
        blk_b = buf_b[: kb * size].reshape(kb, size)
        _gram_rows(b, qb, s, e, blk_b)
        s_ab += blk_a @ blk_b.T
        na += np.einsum("ij,ij->i", blk_a, blk_a)
        nb += np.einsum("ij,ij->i", blk_b, blk_b)
    scale = n * (n - 3) if unbiased else (n - 1) ** 2
    if b is None:
        return (s_ab / scale,)
    return s_ab / scale, na / scale, nb / scale


def hsic_matrix(reps: Sequence[F64], unbiased: bool, method: Method = "auto") -> F64:
    """``(k, k)`` HSIC (biased or unbiased) of the linear kernels of centred ``reps``."""
    n, k = reps[0].shape[0], len(reps)
    offs = _offsets(reps)
    d = float(offs[-1])
    if not _use_features(method, n * d * d / 2, n * n * (d + k * k / 2) / 2):
        return _gram_inner(reps, None, unbiased)[0]
    z = reps[0] if len(reps) == 1 else np.concatenate(reps, axis=1)
    m = _features_block_sums(z, offs, z, offs, sym=True)
    if unbiased:
        q = _row_norms(reps)
        return _unbiased_scale(m, q, q, n)
    return m / (n - 1) ** 2


def hsic_cross(a: Sequence[F64], b: Sequence[F64], unbiased: bool,
               method: Method = "auto") -> tuple[F64, F64, F64]:
    """``(ka, kb)`` HSIC between two lists of centred reps, plus each rep's self-HSIC."""
    n, ka, kb = a[0].shape[0], len(a), len(b)
    oa, ob = _offsets(a), _offsets(b)
    da, db = float(oa[-1]), float(ob[-1])
    self_cost = sum(n * min(x.shape[1], n) ** 2 / 2 for x in (*a, *b))
    gram_cost = n * n * (da + db + ka * kb + ka + kb) / 2
    if not _use_features(method, n * da * db + self_cost, gram_cost):
        s_ab, na, nb = _gram_inner(a, b, unbiased)
        return s_ab, na, nb
    za = a[0] if len(a) == 1 else np.concatenate(a, axis=1)
    zb = b[0] if len(b) == 1 else np.concatenate(b, axis=1)
    m = _features_block_sums(za, oa, zb, ob, sym=False)
    m = _unbiased_scale(m, _row_norms(a), _row_norms(b), n) if unbiased else m / (n - 1) ** 2
    na = np.array([hsic_matrix([x], unbiased)[0, 0] for x in a])
    nb = np.array([hsic_matrix([y], unbiased)[0, 0] for y in b])
    return m, na, nb


def linear_cka_matrix(reps: Sequence[ArrayLike], estimator: Estimator = "biased",
                      *, method: Method = "auto") -> F64:
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

    Returns:
        The symmetric ``(k, k)`` float64 matrix, ones on the diagonal up to round-off.

    Raises:
        ValueError: If ``reps`` is empty, sample counts differ, an array holds NaN/inf or a
            constant representation, or ``n`` is below 2 (biased) or 4 (unbiased).

    Shapes:
        reps[i] (n, d_i) -> (k, k)
    """
    unbiased = check_estimator(estimator)
    xs = prepare_reps(reps, "reps", unbiased)
    h = hsic_matrix(xs, unbiased, method)
    d = np.diag(h).copy()
    labels = [f"reps[{i}]" for i in range(len(xs))]
    out = normalise(h, d, d, labels, labels)
    return (out + out.T) / 2


def linear_cka_cross(reps_a: Sequence[ArrayLike], reps_b: Sequence[ArrayLike],
                     estimator: Estimator = "biased", *, method: Method = "auto") -> F64:
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

    Returns:
        The ``(ka, kb)`` float64 matrix.

    Raises:
        ValueError: As :func:`linear_cka_matrix`, for either list or between the two.

    Shapes:
        reps_a[i] (n, d_i), reps_b[j] (n, e_j) -> (ka, kb)
    """
    unbiased = check_estimator(estimator)
    xa = prepare_reps(reps_a, "reps_a", unbiased)
    xb = prepare_reps(reps_b, "reps_b", unbiased)
    if xa[0].shape[0] != xb[0].shape[0]:
        raise ValueError(
            "reps_a and reps_b must have the same number of samples: "
            f"reps_a has {xa[0].shape[0]}, reps_b has {xb[0].shape[0]}"
        )
    h, na, nb = hsic_cross(xa, xb, unbiased, method)
    return normalise(h, na, nb, [f"reps_a[{i}]" for i in range(len(xa))],
                     [f"reps_b[{j}]" for j in range(len(xb))])

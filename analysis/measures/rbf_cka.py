"""CKA with Gaussian (RBF) kernels.

Reference:
    Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, https://arxiv.org/abs/1905.00414 (Section 4, "Kernel selection").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.measures._prepare import (
    F64,
    Estimator,
    as_sample_list,
    as_samples,
    center_gram,
    centred_upper,
    check_estimator,
    check_paired,
    check_same_n,
    normalise,
    squared_distances,
    u_center_gram,
)

__all__ = ["rbf_cka", "rbf_cka_pairs", "rbf_gram"]

#: Default bandwidth as a fraction of the median pairwise distance (Kornblith et al. 2019).
DEFAULT_SIGMA_FRACTION = 0.8
#: Entries sampled to bracket the median pairwise distance (see ``_pair_median``).
_MEDIAN_SAMPLE = 4096


def _check_fraction(sigma_fraction: float) -> None:
    if not (np.isfinite(sigma_fraction) and sigma_fraction > 0):
        raise ValueError(f"sigma_fraction must be a positive number, got {sigma_fraction}")


def rbf_gram(X: ArrayLike, sigma_fraction: float = DEFAULT_SIGMA_FRACTION) -> F64:
    r"""Gaussian-kernel Gram matrix with a median-heuristic bandwidth.

    .. math::
        K_{ij} = \exp\!\Big(-\frac{\|x_i - x_j\|^2}{2\sigma^2}\Big), \qquad
        \sigma = \texttt{sigma\_fraction} \cdot \operatorname{median}_{i<j} \|x_i - x_j\|

    The median runs over the :math:`n(n-1)/2` distinct pairs. (Kornblith et al.'s reference
    code takes the median of the full :math:`n \times n` matrix, zero diagonal included,
    which shrinks :math:`\sigma` slightly for small :math:`n`.)

    Reference: Kornblith et al., ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        X: Representation of shape ``(n, ...)``; trailing axes are flattened per sample.
        sigma_fraction: Bandwidth relative to the median distance, > 0
            (default: ``0.8``).

    Returns:
        The symmetric ``(n, n)`` float64 Gram matrix with ones on the diagonal.

    Raises:
        ValueError: For NaN/inf, ``n < 2``, a non-positive ``sigma_fraction``, or a zero
            median distance (more than half of the pairs of samples coincide).

    Shapes:
        X (n, d) -> (n, n)
    """
    _check_fraction(sigma_fraction)
    return _rbf_gram(as_samples(X, "X"), sigma_fraction, "X")


def _strict_upper(k: F64, out: F64 | None = None) -> F64:
    """The ``n(n-1)/2`` entries above the diagonal of ``k`` (n, n), row by row, into ``out``.

    One row slice per row instead of a ``triu_indices`` index array (``n^2`` int64s).
    """
    n = k.shape[0]
    out = np.empty(n * (n - 1) // 2) if out is None else out
    start = 0
    for i in range(n - 1):
        out[start : start + n - 1 - i] = k[i, i + 1 :]
        start += n - 1 - i
    return out


def _pair_median(d2: F64) -> float:
    r"""``np.median`` of the ``m = n(n-1)/2`` entries above the diagonal of ``d2``, selected.

    The same value, bit for bit: the middle order statistic(s) :math:`u_{(\lfloor (m-1)/2
    \rfloor)}, u_{(\lfloor m/2 \rfloor)}` averaged as ``np.median`` averages them. A
    strided sample of ``_MEDIAN_SAMPLE`` entries brackets them, ``[lo, hi]`` at the sample's
    quantiles :math:`\tfrac12 \mp 0.02` (about 8 standard errors of the sample median
    apart), and only the entries inside the bracket are partitioned; ``m`` entries are
    compared twice instead of partitioned. Should the bracket miss (not a sample of
    typical data), the whole triangle is partitioned instead.
    """
    upper = _strict_upper(d2)
    m = upper.size
    if m <= 4 * _MEDIAN_SAMPLE:
        return float(np.median(upper, overwrite_input=True))
    ranks = [(m - 1) // 2, m // 2]
    sample = np.sort(upper[:: m // _MEDIAN_SAMPLE])
    lo = sample[int(0.48 * (sample.size - 1))]
    hi = sample[int(np.ceil(0.52 * (sample.size - 1)))]
    below = int(np.count_nonzero(upper < lo))
    inside = upper[(upper >= lo) & (upper <= hi)]
    if below <= ranks[0] and ranks[1] < below + inside.size:
        part = np.partition(inside, [r - below for r in ranks])
        return float(np.mean(part[[r - below for r in sorted(set(ranks))]]))
    return float(np.median(upper, overwrite_input=True))


def _rbf_gram(x: F64, sigma_fraction: float, name: str) -> F64:
    d2 = squared_distances(x)
    median_sq = _pair_median(d2)
    if median_sq <= 0.0:
        raise ValueError(
            f"the median pairwise distance of {name} is zero (most samples coincide); "
            "the RBF bandwidth is undefined"
        )
    d2 *= 1.0 / (-2.0 * sigma_fraction**2 * median_sq)
    return np.exp(d2, out=d2)


def rbf_cka(X: ArrayLike, Y: ArrayLike, sigma_fraction: float = DEFAULT_SIGMA_FRACTION,
            estimator: Estimator = "biased") -> float:
    r"""CKA between two representations with RBF kernels.

    .. math::
        \mathrm{CKA}(X, Y) = \frac{\mathrm{HSIC}(K, L)}
            {\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},\qquad
        K_{ij} = e^{-\|x_i - x_j\|^2 / (2\sigma_X^2)}, \quad
        L_{ij} = e^{-\|y_i - y_j\|^2 / (2\sigma_Y^2)},

    each bandwidth being ``sigma_fraction`` times the median pairwise distance of its own
    representation (see :func:`rbf_gram`), and HSIC the biased estimator
    (:func:`~analysis.measures.hsic_biased`) or the unbiased one
    (:func:`~analysis.measures.hsic_unbiased`). Invariant to orthogonal transforms,
    translations and isotropic scaling of either representation; as
    ``sigma_fraction`` grows it tends to linear CKA. Costs :math:`O(n^2 (d_1 + d_2))` time
    and :math:`O(n^2)` memory.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414

    Args:
        X: First representation, shape ``(n, ...)``; trailing axes are flattened per sample.
        Y: Second representation, shape ``(n, ...)``.
        sigma_fraction: Bandwidth relative to the median distance (default: ``0.8``, the
            value used in Kornblith et al.'s experiments).
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).

    Returns:
        The similarity as a Python float.

    Raises:
        ValueError: If the sample counts differ, an input holds NaN/inf, ``n`` is below 2
            (biased) or 4 (unbiased), or a median pairwise distance is zero.

    Shapes:
        X (n, d1), Y (n, d2) -> scalar
    """
    unbiased = check_estimator(estimator)
    _check_fraction(sigma_fraction)
    min_n = 4 if unbiased else 2
    x = as_samples(X, "X", min_samples=min_n)
    y = as_samples(Y, "Y", min_samples=min_n)
    check_paired(x, y)
    center = u_center_gram if unbiased else center_gram
    # Both HSIC estimators are <C(K), C(L)>_F / const with C the (U-)centring; const cancels.
    kc = center(_rbf_gram(x, sigma_fraction, "X"))
    lc = center(_rbf_gram(y, sigma_fraction, "Y"))
    kk, ll = float(np.vdot(kc, kc)), float(np.vdot(lc, lc))
    if not (kk > 0 and ll > 0):
        raise ValueError("a representation has zero self-similarity; CKA is undefined")
    return float(np.vdot(kc, lc) / np.sqrt(kk * ll))


def _packed_grams(xs: Sequence[F64], names: Sequence[str], sigma_fraction: float,
                  unbiased: bool) -> tuple[F64, F64]:
    """Each rep's (U-)centred RBF Gram as its strict upper triangle and its diagonal.

    Returns ``U`` (k, n(n-1)/2) and ``D`` (k, n), so that the Frobenius inner product of
    the centred Grams of reps ``i`` and ``j`` (symmetric matrices) is
    :math:`\\langle C_i, C_j\\rangle_F = 2\\,U_i^\\top U_j + D_i^\\top D_j`: one product
    ``U @ U.T`` gives every pair (up to the estimator's constant, which cancels in CKA).
    Each Gram matrix is centred as it is packed; one is alive at a time besides the packed
    rows.
    """
    n = xs[0].shape[0]
    upper = np.empty((len(xs), n * (n - 1) // 2))
    diag = np.empty((len(xs), n))
    for i, (x, name) in enumerate(zip(xs, names, strict=True)):
        diag[i] = centred_upper(_rbf_gram(x, sigma_fraction, name), unbiased, upper[i])
    return upper, diag


def _inner(ua: F64, da: F64, ub: F64 | None = None, db: F64 | None = None) -> F64:
    """``(ka, kb)`` Frobenius inner products :math:`2 U_a U_b^\\top + D_a D_b^\\top`."""
    if ub is None or db is None:
        return 2.0 * (ua @ ua.T) + da @ da.T
    return 2.0 * (ua @ ub.T) + da @ db.T


def rbf_cka_pairs(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike] | None = None, *,
                  estimator: Estimator = "biased",
                  sigma_fraction: float = DEFAULT_SIGMA_FRACTION,
                  labels_x: Sequence[str] | None = None,
                  labels_y: Sequence[str] | None = None) -> F64:
    r"""RBF CKA of all pairs of representations from stacked centred Gram matrices.

    The same value as :func:`rbf_cka` for every pair,
    :math:`\mathrm{CKA}_{ij} = \langle C(K_i), C(K_j)\rangle_F /
    \sqrt{\langle C(K_i), C(K_i)\rangle_F \langle C(K_j), C(K_j)\rangle_F}` with :math:`C`
    the double (biased) or U- (unbiased) centring, but each input is validated once, each
    Gram matrix built and centred once, and all inner products come from one product of the
    stacked upper triangles :math:`P P^\top` (:math:`P` is ``(k, n(n+1)/2)``), never a loop
    over pairs. Time :math:`O(k n^2 d + k^2 n^2 / 2)`, memory :math:`O(k n^2 / 2)`.

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019, https://arxiv.org/abs/1905.00414 (Section 4).

    Args:
        xs: ``kx`` arrays of shape ``(n, ...)``; trailing axes are flattened per sample.
        ys: ``ky`` arrays of shape ``(n, ...)``, or ``None`` for the square matrix of ``xs``.
        estimator: ``"biased"`` or ``"unbiased"`` (default: ``"biased"``).
        sigma_fraction: Bandwidth relative to each rep's median distance (default: ``0.8``).
        labels_x: Names of ``xs`` in error messages (default: ``xs[i]``).
        labels_y: Names of ``ys`` in error messages (default: ``ys[j]``).

    Returns:
        The ``(kx, ky)`` float64 matrix (symmetric ``(kx, kx)`` when ``ys`` is None).

    Raises:
        ValueError: As :func:`rbf_cka`, naming the representation at fault.

    Shapes:
        xs[i] (n, d_i), ys[j] (n, e_j) -> (kx, ky), or (kx, kx) when ``ys`` is None
    """
    unbiased = check_estimator(estimator)
    _check_fraction(sigma_fraction)
    min_n = 4 if unbiased else 2
    ax, names_x = as_sample_list(xs, "xs", min_n, labels_x)
    ux, dx = _packed_grams(ax, names_x, sigma_fraction, unbiased)
    if ys is None:
        h = _inner(ux, dx)
        d = h.diagonal().copy()
        out = normalise(h, d, d, names_x, names_x)
        return (out + out.T) / 2
    ay, names_y = as_sample_list(ys, "ys", min_n, labels_y)
    check_same_n(ax, ay, ("xs", "ys"))
    uy, dy = _packed_grams(ay, names_y, sigma_fraction, unbiased)
    self_x = 2.0 * np.einsum("ij,ij->i", ux, ux) + np.einsum("ij,ij->i", dx, dx)
    self_y = 2.0 * np.einsum("ij,ij->i", uy, uy) + np.einsum("ij,ij->i", dy, dy)
    return normalise(_inner(ux, dx, uy, dy), self_x, self_y, names_x, names_y)

r"""Input preparation shared by the similarity measures.

Everything here works on float64 NumPy arrays:

* :func:`as_samples` turns any array-like of shape ``(n, ...)`` into an ``(n, d)`` float64
  matrix (one row per sample), rejecting NaN/inf;
* :func:`check_paired` checks that two representations describe the same ``n`` samples;
* :func:`center_columns`, :func:`center_gram` and :func:`u_center_gram` are the centring
  operators behind the biased and unbiased HSIC estimators (:func:`centred_upper` both,
  packed, for a symmetric Gram matrix);
* :func:`linear_gram` and :func:`squared_distances` build the Gram matrices;
* :func:`check_estimator`, :func:`prepare_reps` and :func:`normalise` are the shared front
  and back ends of the CKA functions (estimator name, a list of representations, and
  :math:`\mathrm{HSIC}_{ij} / \sqrt{\mathrm{HSIC}_{ii} \mathrm{HSIC}_{jj}}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64: TypeAlias = NDArray[np.float64]
Estimator: TypeAlias = Literal["biased", "unbiased"]

#: Relative size below which the centred data counts as constant (zero variance).
_ZERO_VARIANCE_RTOL = 1e-12
#: Relative asymmetry tolerated in a Gram matrix (round-off from ``X @ X.T`` and the like).
_SYMMETRY_RTOL = 1e-9


def as_samples(x: ArrayLike, name: str = "X", *, min_samples: int = 2) -> F64:
    """Return ``x`` as an ``(n, d)`` C-contiguous float64 matrix, one row per sample.

    Trailing axes are flattened per sample, so ``(n, c, h, w)`` becomes ``(n, c*h*w)``;
    a 1-D array of length ``n`` is read as ``n`` samples of one feature.

    Args:
        x: Array-like of shape ``(n, ...)``.
        name: Name used in error messages.
        min_samples: Smallest accepted ``n`` (default: ``2``).

    Returns:
        The samples as an ``(n, d)`` float64 array.

    Raises:
        ValueError: For a 0-d input, zero features, fewer than ``min_samples`` rows, a
            complex dtype, or NaN/inf entries.
    """
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a sample axis, got a 0-d array")
    n = arr.shape[0]
    arr = np.ascontiguousarray(arr.reshape(n, -1), dtype=np.float64)
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {np.shape(x)})")
    check_min_samples(n, min_samples, name)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def check_min_samples(n: int, minimum: int, name: str) -> None:
    """Raise ``ValueError`` unless ``n >= minimum``."""
    if n < minimum:
        raise ValueError(f"{name} has {n} samples; at least {minimum} are required")


def check_paired(x: F64, y: F64, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise ``ValueError`` naming both sample counts unless ``x`` and ``y`` share ``n``."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples: "
            f"{names[0]} has {x.shape[0]}, {names[1]} has {y.shape[0]}"
        )


def center_columns(x: F64, name: str = "X", measure: str = "CKA") -> F64:
    """Subtract the column means, :math:`X_c = H X` with :math:`H = I - \\frac{1}{n}11^\\top`.

    Raises:
        ValueError: If the centred matrix is (numerically) zero, i.e. all samples are equal;
            CKA is undefined for such a representation.
    """
    xc = x - x.mean(axis=0, keepdims=True)
    scale = float(np.abs(x).max())
    if float(np.abs(xc).max()) <= _ZERO_VARIANCE_RTOL * scale or scale == 0.0:
        raise ValueError(
            f"{name} has zero variance (all samples are equal); {measure} is undefined")
    return xc


def check_gram(k: ArrayLike, name: str, *, min_samples: int) -> F64:
    """Return ``k`` as a finite symmetric ``(n, n)`` float64 matrix with ``n >= min_samples``."""
    arr = np.asarray(k, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) Gram matrix, got shape {arr.shape}")
    check_min_samples(arr.shape[0], min_samples, name)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values")
    tol = _SYMMETRY_RTOL * max(float(np.abs(arr).max()), np.finfo(np.float64).tiny)
    if float(np.abs(arr - arr.T).max()) > tol:
        raise ValueError(f"{name} must be symmetric (a Gram matrix)")
    return arr


def center_gram(k: F64) -> F64:
    """Double-centre a Gram matrix: :math:`HKH` with :math:`H = I - \\frac{1}{n}11^\\top`.

    Computed with row/column means in :math:`O(n^2)` instead of two matrix products.
    """
    col = k.mean(axis=0, keepdims=True)
    row = k.mean(axis=1, keepdims=True)
    return k - col - row + k.mean()


def u_center_gram(k: F64) -> F64:
    """U-centre a Gram matrix (Székely & Rizzo 2014), the unbiased counterpart of :math:`HKH`.

    With :math:`\\tilde K` equal to :math:`K` with a zeroed diagonal,

    .. math::
        U(K)_{ij} = \\tilde K_{ij} - \\frac{(\\tilde K 1)_i + (\\tilde K^\\top 1)_j}{n-2}
            + \\frac{1^\\top \\tilde K 1}{(n-1)(n-2)} \\quad (i \\ne j), \\qquad U(K)_{ii} = 0,

    and :math:`\\langle U(K), U(L)\\rangle_F / (n(n-3))` equals the unbiased HSIC estimator of
    Song et al. (2012). Requires ``n >= 4``.
    """
    n = k.shape[0]
    kt = k.copy()
    np.fill_diagonal(kt, 0.0)
    row = kt.sum(axis=1, keepdims=True)
    col = kt.sum(axis=0, keepdims=True)
    u = kt - (row + col) / (n - 2) + kt.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(u, 0.0)
    return u


def centred_upper(k: F64, unbiased: bool, out: F64) -> F64:
    r"""The strict upper triangle of :func:`center_gram` (or :func:`u_center_gram`) of a
    SYMMETRIC ``k``, packed row by row into ``out``; returns the centred diagonal.

    For a symmetric Gram matrix the row and column means coincide, so one reduction
    :math:`m = K 1 / n` serves both: :math:`(HKH)_{ij} = K_{ij} - m_i - m_j + ar m`, and
    likewise the U-centring with :math:`m = 	ilde K 1 / (n-2)` and
    :math:`ar m 	o 1^	op 	ilde K 1 / ((n-1)(n-2))` (zero diagonal). Each row is centred
    as it is packed, so no ``(n, n)`` temporary is made and ``k`` is left as it was; equal to
    the unpacked functions up to round-off. Used by the batched RBF CKA.

    Shapes:
        k (n, n), out (n(n-1)/2,) -> the centred diagonal (n,)
    """
    n = k.shape[0]
    if unbiased:
        m = (k.sum(axis=0) - k.diagonal()) / (n - 2)
        grand = float(m.sum()) / (n - 1)
        diag = np.zeros(n)
    else:
        m = k.mean(axis=0)
        grand = float(m.mean())
        diag = k.diagonal() - 2.0 * m + grand
    start = 0
    for i in range(n - 1):
        seg = out[start : start + n - 1 - i]
        np.subtract(k[i, i + 1 :], m[i + 1 :], out=seg)
        seg -= m[i] - grand
        start += n - 1 - i
    return diag


def linear_gram(x: F64) -> F64:
    """Linear-kernel Gram matrix :math:`K = X X^\\top`, X (n, d) -> K (n, n)."""
    return x @ x.T


def squared_distances(x: F64) -> F64:
    """Pairwise squared Euclidean distances :math:`\\|x_i - x_j\\|^2`, X (n, d) -> (n, n).

    The input is centred first (distances are translation invariant and the expansion
    :math:`\\|x_i\\|^2 + \\|x_j\\|^2 - 2 x_i^\\top x_j` loses less precision near the mean);
    round-off negatives are clipped to zero and the diagonal is exactly zero.
    """
    xc = x - x.mean(axis=0, keepdims=True)
    sq = np.einsum("ij,ij->i", xc, xc)
    d2 = np.add.outer(sq, sq)  # exactly symmetric, as is the syrk product below
    gram = xc @ xc.T
    gram *= 2.0
    d2 -= gram  # in place: two (n, n) arrays alive, not four
    del gram
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def column_offsets(reps: Sequence[F64]) -> NDArray[np.intp]:
    """Start column of each representation in their concatenation, plus the total width."""
    return np.concatenate([[0], np.cumsum([r.shape[1] for r in reps])]).astype(np.intp)


def row_sq_norms(reps: Sequence[F64]) -> F64:
    """``(n, k)`` matrix of squared row norms :math:`\\|x_l\\|^2`, one column per rep."""
    return np.stack([np.einsum("ij,ij->i", r, r) for r in reps], axis=1)


def check_estimator(estimator: str) -> bool:
    """Return ``True`` for ``"unbiased"``, ``False`` for ``"biased"``; reject anything else."""
    if estimator not in ("biased", "unbiased"):
        raise ValueError(f"estimator must be 'biased' or 'unbiased', got {estimator!r}")
    return estimator == "unbiased"


def rep_labels(k: int, prefix: str, labels: Sequence[str] | None) -> list[str]:
    """Names of ``k`` representations in error messages: ``labels``, or ``prefix[i]``."""
    if labels is None:
        return [f"{prefix}[{i}]" for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"{len(labels)} labels given for {k} representations")
    return list(labels)


def as_sample_list(reps: Sequence[ArrayLike], prefix: str, min_samples: int,
                   labels: Sequence[str] | None = None) -> tuple[list[F64], list[str]]:
    """:func:`as_samples` of each rep, checked to share ``n``; also returns their labels."""
    if len(reps) == 0:
        raise ValueError(f"{prefix} must contain at least one representation")
    names = rep_labels(len(reps), prefix, labels)
    out = [as_samples(r, name, min_samples=min_samples) for r, name in zip(reps, names,
                                                                           strict=True)]
    for i, r in enumerate(out[1:], start=1):
        if r.shape[0] != out[0].shape[0]:
            raise ValueError(
                f"all representations must have the same number of samples: "
                f"{names[0]} has {out[0].shape[0]}, {names[i]} has {r.shape[0]}"
            )
    return out, names


def check_same_n(xs: Sequence[F64], ys: Sequence[F64], names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless two lists of ``(n, d)`` reps share ``n``."""
    if xs[0].shape[0] != ys[0].shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples: "
            f"{names[0]} has {xs[0].shape[0]}, {names[1]} has {ys[0].shape[0]}"
        )


def prepare_reps(reps: Sequence[ArrayLike], prefix: str, unbiased: bool,
                 labels: Sequence[str] | None = None) -> list[F64]:
    """Flatten, validate and column-centre representations that must share ``n`` samples.

    Errors name each rep by ``labels[i]`` when given, else ``prefix[i]``.
    """
    out, names = as_sample_list(reps, prefix, 4 if unbiased else 2, labels)
    return [center_columns(r, name) for r, name in zip(out, names, strict=True)]


def normalise(hsic_ab: F64, self_a: F64, self_b: F64,
              labels_a: Sequence[str], labels_b: Sequence[str]) -> F64:
    """CKA from HSIC: :math:`\\mathrm{HSIC}_{ij} / \\sqrt{a_i b_j}` for self-HSICs a, b."""
    for labels, diag in ((labels_a, self_a), (labels_b, self_b)):
        bad = np.flatnonzero(~(diag > 0))
        if bad.size:
            raise ValueError(f"{labels[bad[0]]} has zero self-similarity; CKA is undefined")
    return hsic_ab / np.sqrt(np.outer(self_a, self_b))

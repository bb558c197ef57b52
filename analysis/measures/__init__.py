"""Similarity measures between representations: pure functions on arrays.

One measure per module; every function takes ``(n, ...)`` arrays of the same ``n`` samples
(flattened per sample to ``(n, d)`` float64) and returns a float or a float64 matrix.
"""

from analysis.measures.cka_matrix import linear_cka_cross, linear_cka_matrix
from analysis.measures.hsic import hsic_biased, hsic_unbiased
from analysis.measures.linear_cka import linear_cka
from analysis.measures.minibatch_cka import minibatch_cka, minibatch_cka_matrix
from analysis.measures.rbf_cka import rbf_cka, rbf_gram

__all__ = [
    "hsic_biased",
    "hsic_unbiased",
    "linear_cka",
    "linear_cka_cross",
    "linear_cka_matrix",
    "minibatch_cka",
    "minibatch_cka_matrix",
    "rbf_cka",
    "rbf_gram",
]

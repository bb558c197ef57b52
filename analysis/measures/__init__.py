"""Similarity measures between representations: pure functions on arrays.

One measure per module; every function takes ``(n, ...)`` arrays of the same ``n`` samples
(flattened per sample to ``(n, d)`` float64) and returns a float or a float64 matrix. Each
measure's all-pairs function (``*_pairs``) is registered in :mod:`analysis.measure_registry`.
"""

from analysis.measures.cka_matrix import linear_cka_cross, linear_cka_matrix, linear_cka_pairs
from analysis.measures.hsic import hsic_biased, hsic_unbiased
from analysis.measures.linear_cka import linear_cka
from analysis.measures.minibatch_cka import minibatch_cka, minibatch_cka_matrix
from analysis.measures.mutual_knn import mutual_knn, mutual_knn_pairs
from analysis.measures.procrustes import procrustes_distance, procrustes_pairs
from analysis.measures.rbf_cka import rbf_cka, rbf_cka_pairs, rbf_gram
from analysis.measures.svcca import svcca, svcca_pairs

__all__ = [
    "hsic_biased",
    "hsic_unbiased",
    "linear_cka",
    "linear_cka_cross",
    "linear_cka_matrix",
    "linear_cka_pairs",
    "minibatch_cka",
    "minibatch_cka_matrix",
    "mutual_knn",
    "mutual_knn_pairs",
    "procrustes_distance",
    "procrustes_pairs",
    "rbf_cka",
    "rbf_cka_pairs",
    "rbf_gram",
    "svcca",
    "svcca_pairs",
]

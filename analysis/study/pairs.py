"""Per pair of models on a probe set: agreement, Cohen's kappa, who is right where, and the
averaged-logits ensemble, computed from the recorded ``predictions`` and ``logits`` and
stored in the catalog (``prediction_agreements``, ``ensembles``). Only pairs not yet
stored are computed, so calling it again is a lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from analysis.predictions import agreement, cohens_kappa, probe_labels, recorded_output
from store import Catalog, EnsembleRecord, PredictionPairRecord

__all__ = ["ENSEMBLE_METHOD", "PAIRS_CODE_VERSION", "pair_stats", "store_pair_stats"]

#: Bumped whenever the stored numbers could change; part of every row's key.
PAIRS_CODE_VERSION = "1"
ENSEMBLE_METHOD = "mean_logits"


def pair_stats(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
               logits_a: np.ndarray, logits_b: np.ndarray) -> dict[str, float]:
    """Agreement and ensemble numbers of two models on the same ``n`` samples.

    Shapes: **labels**, **pred_a**, **pred_b:** ``[n]``; **logits_a**, **logits_b:**
    ``[n, C]``. Returns fractions of the ``n`` samples (see :class:`PredictionPairRecord`)
    and the ensemble's ``accuracy``, ``gain_best``, ``gain_mean``.
    """
    right_a, right_b = pred_a == labels, pred_b == labels
    acc_a, acc_b = float(right_a.mean()), float(right_b.mean())
    ens = float(np.mean((logits_a + logits_b).argmax(axis=1) == labels))
    return {"acc_a": acc_a, "acc_b": acc_b, "agreement": agreement(pred_a, pred_b),
            "kappa": cohens_kappa(pred_a, pred_b),
            "both_correct": float(np.mean(right_a & right_b)),
            "only_a_correct": float(np.mean(right_a & ~right_b)),
            "only_b_correct": float(np.mean(~right_a & right_b)),
            "neither_correct": float(np.mean(~right_a & ~right_b)),
            "accuracy": ens, "gain_best": ens - max(acc_a, acc_b),
            "gain_mean": ens - (acc_a + acc_b) / 2}


def store_pair_stats(catalog: Catalog, model_ids: Sequence[int], probe: str | int
                     ) -> tuple[int, int]:
    """Compute and store agreement and ensemble rows of every pair of ``model_ids`` that
    is not stored yet. Returns ``(pairs computed, pairs already stored)``."""
    probe_id = catalog.get_probe_set(probe).id
    ids = sorted(set(model_ids))
    have = {(r.model_a_id, r.model_b_id)
            for r in catalog.get_prediction_pairs(probe_id, ids, PAIRS_CODE_VERSION)}
    have &= {(r.model_a_id, r.model_b_id)
             for r in catalog.get_ensembles(probe_id, ids, PAIRS_CODE_VERSION)}
    todo = [p for p in combinations(ids, 2) if p not in have]
    if not todo:
        return 0, len(have)
    labels = probe_labels(catalog, probe_id)
    needed = sorted({m for p in todo for m in p})
    preds = {m: recorded_output(catalog, m, probe_id, "predictions").reshape(-1)
             for m in needed}
    logits = {m: recorded_output(catalog, m, probe_id, "logits") for m in needed}
    agreements, ensembles = [], []
    for a, b in todo:
        s = pair_stats(labels, preds[a], preds[b], logits[a], logits[b])
        agreements.append(PredictionPairRecord(
            a, b, probe_id, PAIRS_CODE_VERSION, len(labels), s["acc_a"], s["acc_b"],
            s["agreement"], s["kappa"], s["both_correct"], s["only_a_correct"],
            s["only_b_correct"], s["neither_correct"]))
        ensembles.append(EnsembleRecord(a, b, probe_id, ENSEMBLE_METHOD, PAIRS_CODE_VERSION,
                                        len(labels), s["acc_a"], s["acc_b"], s["accuracy"],
                                        s["gain_best"], s["gain_mean"]))
    catalog.put_prediction_pairs(agreements)
    catalog.put_ensembles(ensembles)
    return len(todo), len(have)

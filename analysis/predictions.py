"""What models predict on a probe set: accuracy, agreement, Cohen's kappa and ensembles.

Computed on demand from the ``logits`` and ``predictions`` activations that ``zoo record``
stores, against the labels of the probe set's samples, so models of any kind (a GMN on
INR weights, a CNN on the images) compare sample by sample.

>>> prediction_pairs(cat, [3, 7, 9])          # doctest: +SKIP
>>> ensemble_accuracy(cat, [3, 9])            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.similarity import resolve_probe
from store import Catalog, InvalidInputError, NotFoundError

__all__ = [
    "agreement",
    "cohens_kappa",
    "ensemble_accuracy",
    "prediction_pairs",
    "probe_labels",
    "recorded_output",
]

PAIR_COLUMNS = ["model_a_id", "model_b_id", "probe_set", "n", "acc_a", "acc_b", "agreement",
                "kappa", "both_correct", "only_a_correct", "only_b_correct"]


def agreement(pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> float:
    """Fraction of samples on which two models predict the same class.

    Shapes: **pred_a**, **pred_b:** ``[n]`` class ids.
    """
    a, b = _pair(pred_a, pred_b)
    return float(np.mean(a == b))


def cohens_kappa(pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> float:
    r"""Cohen's kappa between two models' predictions: agreement corrected for chance,

    .. math:: \kappa = \frac{p_o - p_e}{1 - p_e}, \qquad
        p_e = \sum_c \Pr[a = c] \Pr[b = c],

    with :math:`p_o` the observed agreement and :math:`p_e` the agreement expected from the
    two models' class frequencies alone. 1 for identical predictions (also when both
    predict one class throughout), 0 for chance-level agreement.

    Shapes: **pred_a**, **pred_b:** ``[n]`` class ids.
    """
    a, b = _pair(pred_a, pred_b)
    classes = np.union1d(a, b)
    p_a = (a[:, None] == classes).mean(axis=0)
    p_b = (b[:, None] == classes).mean(axis=0)
    expected = float(p_a @ p_b)
    observed = float(np.mean(a == b))
    if expected == 1.0:  # both constant and equal: perfect agreement
        return 1.0
    return (observed - expected) / (1.0 - expected)


def _pair(pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(pred_a).reshape(-1), np.asarray(pred_b).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise InvalidInputError(f"predictions must be two non-empty arrays of equal length, "
                                f"got {a.size} and {b.size}")
    return a, b


def probe_labels(catalog: Catalog, probe: str | int) -> np.ndarray:
    """Class labels ``[n]`` of a probe set's samples, in probe order."""
    record = catalog.get_probe_set(probe)
    if record.dataset_id is None:
        raise InvalidInputError(f"probe set {record.name!r} belongs to no dataset: no labels")
    _, labels, _ = catalog.dataset_arrays(record.dataset_id)
    return np.asarray(labels)[np.asarray(catalog.probe_sample_ids(record.id))]


def recorded_output(catalog: Catalog, model_id: int, probe: str | int, layer: str) -> np.ndarray:
    """A model's recorded ``logits`` ``[n, C]`` or ``predictions`` ``[n]`` on a probe set."""
    record = catalog.find_activation(model_id, layer, probe)
    if record is not None:
        return np.asarray(catalog.arrays.read(record.array_key))
    raise NotFoundError(f"model {model_id} has no recorded {layer!r} on probe set {probe!r}: "
                        f"run `zoo record {model_id} --probe ...` first")


def prediction_pairs(catalog: Catalog, model_ids: Sequence[int],
                     probe: str | int | None = None) -> pd.DataFrame:
    """Per pair of models: accuracies, agreement, kappa and who is right where.

    ``probe`` defaults to the one probe set all models were recorded on. One row per
    unordered pair, columns ``PAIR_COLUMNS``; ``only_a_correct`` is the fraction of samples
    model a classifies correctly and model b does not.
    """
    if len(model_ids) < 2:
        raise InvalidInputError(f"comparing predictions needs at least 2 models, "
                                f"got {len(model_ids)}")
    probe_id = resolve_probe(catalog, list(model_ids), probe)
    name = catalog.get_probe_set(probe_id).name
    labels = probe_labels(catalog, probe_id)
    preds = {m: recorded_output(catalog, m, probe_id, "predictions") for m in model_ids}
    rows = []
    for a, b in combinations(model_ids, 2):
        right_a, right_b = preds[a] == labels, preds[b] == labels
        rows.append([a, b, name, len(labels), right_a.mean(), right_b.mean(),
                     agreement(preds[a], preds[b]), cohens_kappa(preds[a], preds[b]),
                     np.mean(right_a & right_b), np.mean(right_a & ~right_b),
                     np.mean(~right_a & right_b)])
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def ensemble_accuracy(catalog: Catalog, model_ids: Sequence[int],
                      probe: str | int | None = None) -> float:
    """Accuracy on the probe set of the ensemble that averages the models' logits.

    Logits are averaged as recorded (no calibration), so every model weighs the same.
    """
    if not model_ids:
        raise InvalidInputError("an ensemble needs at least one model")
    probe_id = resolve_probe(catalog, list(model_ids), probe)
    logits = [recorded_output(catalog, m, probe_id, "logits") for m in model_ids]
    if len({x.shape for x in logits}) != 1:
        raise InvalidInputError(f"the models' logits differ in shape: "
                                f"{sorted({x.shape for x in logits})}")
    mean = np.mean(np.stack(logits), axis=0)
    return float(np.mean(mean.argmax(axis=1) == probe_labels(catalog, probe_id)))

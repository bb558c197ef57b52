"""The four findings of Yeom & Lee (2025), each judged with a bootstrap interval.

Every finding compares two group means over pairs of the study's models:

=  ===============  =================================  ===================================
#  finding          a                                  b (reproduced when the difference
                                                       ``b - a`` is > 0 with confidence;
                                                       for 4: ``a - b``)
=  ===============  =================================  ===================================
1  initialisation   CKA of metanetwork seed pairs      CKA of baseline seed pairs (same kind)
2  architecture     CKA metanetwork vs baseline        CKA baseline vs baseline (other kind)
3  predictions      kappa metanetwork vs baseline      kappa baseline vs baseline (other kind)
4  complementarity  ensemble gain metanet + baseline   ensemble gain baseline seed pairs
=  ===============  =================================  ===================================

CKA is linear CKA (biased HSIC) of the penultimate layers; ensemble gain is the
averaged-logits ensemble's accuracy minus its better member's. Finding 3 also needs
samples only the metanetwork classifies correctly (their fraction, with its interval).

The interval is a percentile bootstrap. Every replicate resamples, within each group,
the model pairs; for kappa, accuracies and ensemble gains it also resamples the probe
samples. CKA is not recomputed on resampled probe rows: drawing rows with replacement
duplicates samples, which inflates CKA between unrelated representations (measured: the
interval then excludes its own point estimate), so CKA's interval is over seed pairs,
which is what findings 1 and 2 are about. A verdict is ``reproduced`` when the
interval lies above zero, ``not reproduced`` when below, and ``inconclusive`` when it
crosses zero, a group has no pairs, or a kind's probe accuracy is below chance plus
``chance_margin`` (then the comparison means nothing; the accuracies are stated).
Finding 3 is also inconclusive when the metanetworks and the baselines are not at
similar accuracy (their mean probe accuracies differ by more than ``accuracy_gap``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from analysis.predictions import probe_labels, recorded_output
from analysis.similarity import resolve_layers
from store import Catalog, FindingRecord, InvalidInputError

__all__ = ["FINDINGS", "StudyRoles", "judge_study", "penultimate_grams"]

FINDINGS = {1: "initialisation", 2: "architecture", 3: "predictions", 4: "complementarity"}


@dataclass(frozen=True)
class StudyRoles:
    """Which kinds play which part, and how the findings are judged.

    Attributes:
        metanets: kinds of metanetworks (read INR weights as graphs), e.g. ``("gmn",)``.
        baselines: kinds of baselines on the images, e.g. ``("mlp", "cnn")``.
        chance_margin: a kind whose mean probe accuracy is below ``1/C + chance_margin``
            makes every finding inconclusive.
        accuracy_gap: finding 3 is about models *at similar accuracy*: when the
            metanetworks' mean probe accuracy and the baselines' differ by more than
            this, different predictions may only mean different accuracy, and the
            finding is inconclusive (default: 0.1, ten points).
        n_boot: bootstrap replicates; ``confidence``: the interval's coverage.
        seed: seeds the bootstrap.
    """

    metanets: tuple[str, ...]
    baselines: tuple[str, ...]
    chance_margin: float = 0.1
    accuracy_gap: float = 0.1
    n_boot: int = 500
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if set(self.metanets) & set(self.baselines):
            raise InvalidInputError("a kind cannot be both a metanetwork and a baseline")
        if self.n_boot < 10 or not 0.5 < self.confidence < 1:
            raise InvalidInputError("need n_boot >= 10 and a confidence in (0.5, 1)")


def penultimate_grams(catalog: Catalog, model_ids: Sequence[int], probe_id: int) -> np.ndarray:
    """Gram matrices ``[M, n, n]`` (float32, products in float64) of each model's
    penultimate layer on the probe set."""
    grams = []
    for m in model_ids:
        layer = resolve_layers(catalog, m, "penultimate", probe_id)[0]
        x = np.asarray(catalog.arrays.read(catalog.get_activation(m, layer, probe_id).array_key),
                       dtype=np.float64)
        x = x.reshape(x.shape[0], -1)
        grams.append((x @ x.T).astype(np.float32))
    return np.stack(grams)


def _cka_matrix(grams: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Linear CKA (biased) ``[M, M]`` of all models on the resampled rows ``idx``."""
    k = grams[:, idx][:, :, idx]
    k = k - k.mean(axis=1, keepdims=True) - k.mean(axis=2, keepdims=True) \
        + k.mean(axis=(1, 2), keepdims=True)
    flat = k.reshape(k.shape[0], -1)
    hsic = flat @ flat.T
    norms = np.sqrt(np.clip(np.diag(hsic), 1e-300, None))
    return np.asarray(hsic / np.outer(norms, norms))


def _kappa(pa: np.ndarray, pb: np.ndarray, classes: int) -> float:
    po = float(np.mean(pa == pb))
    pe = float(np.bincount(pa, minlength=classes) @ np.bincount(pb, minlength=classes)) \
        / len(pa) ** 2
    return 1.0 if pe == 1.0 else (po - pe) / (1.0 - pe)


@dataclass(frozen=True)
class _Data:
    kinds: list[str]
    labels: np.ndarray        # [n]
    preds: np.ndarray         # [M, n]
    ens_right: dict[tuple[int, int], np.ndarray]  # pair -> [n] bool
    grams: np.ndarray         # [M, n, n]
    classes: int


def _groups(kinds: list[str], roles: StudyRoles) -> dict[str, list[tuple[int, int]]]:
    meta, base = set(roles.metanets), set(roles.baselines)
    out: dict[str, list[tuple[int, int]]] = {"same_meta": [], "same_base": [], "cross": [],
                                             "base_cross": []}
    for i, j in combinations(range(len(kinds)), 2):
        ki, kj = kinds[i], kinds[j]
        if ki == kj:
            group = "same_meta" if ki in meta else "same_base" if ki in base else ""
        elif {ki, kj} <= base:
            group = "base_cross"
        elif (ki in meta and kj in base) or (kj in meta and ki in base):
            group = "cross"
            i, j = (i, j) if ki in meta else (j, i)  # metanetwork first
        else:
            group = ""
        if group:
            out[group].append((i, j))
    return out


def _replicate(d: _Data, groups: dict[str, list[tuple[int, int]]], idx: np.ndarray,
               pick: Callable[[int], np.ndarray], cka: np.ndarray) -> dict[str, float]:
    """The compared quantities on the probe rows ``idx`` and the pairs ``pick`` draws;
    ``cka`` ``[M, M]`` is on all probe rows."""
    right = d.preds[:, idx] == d.labels[idx]
    acc = right.mean(axis=1)

    def mean(group: str, f: Callable[[int, int], float]) -> float:
        pairs = groups[group]
        if not pairs:
            return float("nan")
        return float(np.mean([f(*pairs[p]) for p in pick(len(pairs))]))

    def gain(i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        return float(d.ens_right[key][idx].mean() - max(acc[i], acc[j]))

    def kappa(i: int, j: int) -> float:
        return _kappa(d.preds[i, idx], d.preds[j, idx], d.classes)

    return {
        "cka_same_meta": mean("same_meta", lambda i, j: cka[i, j]),
        "cka_same_base": mean("same_base", lambda i, j: cka[i, j]),
        "cka_cross": mean("cross", lambda i, j: cka[i, j]),
        "cka_base_cross": mean("base_cross", lambda i, j: cka[i, j]),
        "kappa_cross": mean("cross", kappa),
        "kappa_base_cross": mean("base_cross", kappa),
        "only_meta": mean("cross", lambda i, j: float(np.mean(right[i] & ~right[j]))),
        "gain_cross": mean("cross", gain),
        "gain_same_base": mean("same_base", gain),
    }


#: finding -> (name of a, key of a, name of b, key of b, sign of "b - a" that reproduces it)
_SPEC = {
    1: ("CKA of metanetwork seed pairs", "cka_same_meta",
        "CKA of baseline seed pairs (same kind)", "cka_same_base", 1),
    2: ("CKA metanetwork vs baseline", "cka_cross",
        "CKA baseline vs baseline (other kind)", "cka_base_cross", 1),
    3: ("kappa metanetwork vs baseline", "kappa_cross",
        "kappa baseline vs baseline (other kind)", "kappa_base_cross", 1),
    4: ("ensemble gain metanetwork + baseline", "gain_cross",
        "ensemble gain baseline seed pairs", "gain_same_base", -1),
}


def _load(catalog: Catalog, model_ids: Sequence[int], probe_id: int) -> _Data:
    labels = probe_labels(catalog, probe_id)
    preds = np.stack([recorded_output(catalog, m, probe_id, "predictions").reshape(-1)
                      for m in model_ids]).astype(np.int64)
    logits = [recorded_output(catalog, m, probe_id, "logits") for m in model_ids]
    ens = {(i, j): (logits[i] + logits[j]).argmax(axis=1) == labels
           for i, j in combinations(range(len(model_ids)), 2)}
    kinds = [r.kind for r in sorted(catalog.list_models(ids=list(model_ids)),
                                    key=lambda r: list(model_ids).index(r.id))]
    classes = max(int(labels.max()) + 1, logits[0].shape[1])
    return _Data(kinds, labels, preds, ens, penultimate_grams(catalog, model_ids, probe_id),
                 classes)


def judge_study(catalog: Catalog, study: str, roles: StudyRoles) -> list[FindingRecord]:
    """Judge the four findings on the study's models and store them (``findings`` table)."""
    record = catalog.get_study(study)
    ids = list(record.model_ids)
    if len(ids) < 2:
        raise InvalidInputError(f"study {study!r} has {len(ids)} models: nothing to compare")
    d = _load(catalog, ids, record.probe_set_id)
    groups = _groups(d.kinds, roles)
    n = len(d.labels)
    cka = _cka_matrix(d.grams, np.arange(n))
    point = _replicate(d, groups, np.arange(n), np.arange, cka)
    rng = np.random.default_rng(roles.seed)
    boots = [_replicate(d, groups, rng.integers(0, n, n), lambda k: rng.integers(0, k, k), cka)
             for _ in range(roles.n_boot)]
    right = d.preds == d.labels
    acc = {k: float(right[[i for i, x in enumerate(d.kinds) if x == k]].mean())
           for k in dict.fromkeys(d.kinds)}
    threshold = 1.0 / d.classes + roles.chance_margin
    low = [k for k in (*roles.metanets, *roles.baselines) if k in acc and acc[k] < threshold]
    acc_text = ", ".join(f"{k} {100 * v:.1f} %" for k, v in acc.items())
    chance_text = (f"probe accuracy {acc_text}; threshold {100 * threshold:.1f} % "
                   f"(chance {100 / d.classes:.0f} % + {100 * roles.chance_margin:.0f} points)")
    alpha = (1 - roles.confidence) / 2
    out = []
    for number, (label_a, key_a, label_b, key_b, sign) in _SPEC.items():
        diff = sign * (point[key_b] - point[key_a])
        samples = np.array([sign * (b[key_b] - b[key_a]) for b in boots])
        lo, hi = _interval(samples, alpha)
        verdict, why = _verdict(diff, lo, hi, low, chance_text, roles.confidence)
        if number == 3 and verdict == "reproduced":
            o_lo, o_hi = _interval(np.array([b["only_meta"] for b in boots]), alpha)
            why += (f"; samples only the metanetwork gets right: {100 * point['only_meta']:.1f} %"
                    f" [{100 * o_lo:.1f}, {100 * o_hi:.1f}]")
            if not o_lo > 0:
                verdict, why = "inconclusive", why + " (interval reaches zero)"
        gap = _accuracy_gap(acc, roles)
        if number == 3 and verdict != "inconclusive" and gap > roles.accuracy_gap:
            verdict, why = "inconclusive", (
                f"not at similar accuracy: metanetworks and baselines differ by "
                f"{100 * gap:.1f} points, more than the {100 * roles.accuracy_gap:.0f} allowed, "
                f"so different predictions may only be different accuracy; {why}")
        out.append(FindingRecord(record.id, number, FINDINGS[number], label_a, point[key_a],
                                 label_b, point[key_b], diff, lo, hi, roles.n_boot, verdict,
                                 why))
    catalog.put_findings(study, out)
    return out


def _accuracy_gap(acc: dict[str, float], roles: StudyRoles) -> float:
    """|mean probe accuracy of the metanetwork kinds - that of the baseline kinds|."""
    meta = [acc[k] for k in roles.metanets if k in acc]
    base = [acc[k] for k in roles.baselines if k in acc]
    if not meta or not base:
        return float("nan")
    return abs(float(np.mean(meta)) - float(np.mean(base)))


def _interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile bootstrap interval of ``samples`` (NaN when there are none)."""
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return float("nan"), float("nan")
    q_lo, q_hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(q_lo), float(q_hi)


def _verdict(diff: float, lo: float, hi: float, low: list[str], chance_text: str,
             confidence: float) -> tuple[str, str]:
    if not np.isfinite(diff):
        return "inconclusive", f"a compared group has no model pairs; {chance_text}"
    if low:
        return "inconclusive", (f"{', '.join(low)} too close to chance to compare; "
                                f"{chance_text}")
    ci = f"difference {diff:+.3f}, {100 * confidence:.0f} % interval [{lo:+.3f}, {hi:+.3f}]"
    if lo > 0:
        return "reproduced", f"{ci} lies above zero; {chance_text}"
    if hi < 0:
        return "not reproduced", f"{ci} lies below zero (the opposite holds); {chance_text}"
    return "inconclusive", f"{ci} crosses zero; {chance_text}"

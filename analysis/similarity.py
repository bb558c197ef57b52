"""The similarity query layer: CKA between any stored (model, layer) pairs, cached in the catalog.

A query names representations (model id + layer) and a probe set; values already in
the ``similarities`` table are looked up, only the missing pairs are computed — all
of them in one batched product per measure — and stored back. Concurrent queries
computing the same pair are harmless: the cache insert ignores keys that exist.

A cached value can never be stale: its key holds the sha256 of both activation
arrays it was computed from (``sha256_a``/``sha256_b`` in the stored ``params``),
and every array read is checked against that sha256 before a value computed from
it is stored. Replacing an array therefore makes the old values unreachable by
construction (``zoo check --fix`` drops them); a query that races the replace
reads the new records again instead of failing.

Layer names may be aliases resolved per model from the order its activations were
recorded in: ``logits`` (last recorded layer), ``penultimate`` (the one before),
``first``, or ``all`` (every recorded layer). ``predictions`` is never compared.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.measures import (
    hsic_biased,
    hsic_unbiased,
    linear_cka_cross,
    linear_cka_matrix,
    minibatch_cka_matrix,
    rbf_gram,
)
from store import (
    SIMILARITY_SOURCE_KEYS,
    AlignmentError,
    Catalog,
    ConcurrentChangeError,
    CorruptArrayError,
    InvalidInputError,
    NotFoundError,
    SimilarityRecord,
    array_hasher,
    array_sha256,
)
from store.records import ActivationRecord

__all__ = [
    "CODE_VERSION",
    "ESTIMATORS",
    "MEASURES",
    "Rep",
    "SimilarityQuery",
    "compare",
    "resolve_layers",
    "resolve_probe",
]

#: Bumped whenever a measure's numbers could change; part of every cache key.
CODE_VERSION = "1"
MEASURES = ("linear", "rbf")
ESTIMATORS = ("biased", "unbiased", "minibatch")
NOT_COMPARED = ("predictions",)


@dataclass(frozen=True, order=True)
class Rep:
    """One representation: a model's layer (activations on some probe set)."""

    model_id: int
    layer: str

    def __str__(self) -> str:
        return f"{self.model_id}:{self.layer}"


@dataclass(frozen=True)
class SimilarityQuery:
    """How to compare: measure, estimator and their parameters, on which probe set.

    Attributes:
        measure: ``linear`` (linear CKA) or ``rbf`` (kernel CKA, RBF kernel).
        estimator: ``biased`` or ``unbiased`` HSIC, or ``minibatch`` (linear only:
            unbiased HSIC averaged over minibatches streamed from the store).
        probe: probe set name or id; ``None`` picks the one set every rep is recorded on.
        sigma_fraction: RBF bandwidth as a fraction of the median pairwise distance.
        batch_size: minibatch size (rows) for the ``minibatch`` estimator.
        recompute: ignore cached values; compute them afresh and overwrite the cache.
    """

    measure: str = "linear"
    estimator: str = "biased"
    probe: str | int | None = None
    sigma_fraction: float = 0.8
    batch_size: int = 256
    recompute: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise InvalidInputError(f"unknown measure {self.measure!r}: use {'|'.join(MEASURES)}")
        if self.estimator not in ESTIMATORS:
            raise InvalidInputError(
                f"unknown estimator {self.estimator!r}: use {'|'.join(ESTIMATORS)}")
        if self.estimator == "minibatch" and self.measure != "linear":
            raise InvalidInputError("the minibatch estimator is for --measure linear only")
        if self.sigma_fraction <= 0:
            raise InvalidInputError("--sigma-fraction must be positive")
        if self.batch_size < 4:
            raise InvalidInputError("--batch-size must be at least 4 (unbiased HSIC)")

    @property
    def measure_name(self) -> str:
        """The name stored in the cache: ``linear_cka`` or ``rbf_cka``."""
        return f"{self.measure}_cka"

    @property
    def params(self) -> str:
        """Canonical JSON of the parameters that change the value (part of the cache key)."""
        p: dict[str, Any] = dict(self.extra)
        if self.measure == "rbf":
            p["sigma_fraction"] = self.sigma_fraction
        if self.estimator == "minibatch":
            p["batch_size"] = self.batch_size
        return json.dumps(p, sort_keys=True, separators=(",", ":"))


def _recorded_layers(catalog: Catalog, model_id: int, probe_id: int) -> list[str]:
    return [a.layer for a in catalog.list_activations(model_id, probe=probe_id)
            if a.layer not in NOT_COMPARED]


def resolve_layers(catalog: Catalog, model_id: int, spec: str, probe_id: int) -> list[str]:
    """Expand a layer spec (names separated by commas, or an alias) for one model."""
    layers = _recorded_layers(catalog, model_id, probe_id)
    if not layers:
        probe = catalog.get_probe_set(probe_id).name
        raise NotFoundError(f"model {model_id} has no activations on probe set {probe!r}: "
                            "run `zoo record` or `zoo activations import`")
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        if name == "all":
            out.extend(layers)
        elif name in ("logits", "last") and name not in layers:
            out.append(layers[-1])
        elif name == "penultimate" and name not in layers:
            if len(layers) < 2:
                raise InvalidInputError(f"model {model_id} has only one recorded layer")
            out.append(layers[-2])
        elif name == "first" and name not in layers:
            out.append(layers[0])
        elif name in layers:
            out.append(name)
        else:
            raise NotFoundError(f"model {model_id} has no recorded layer {name!r} "
                                f"(recorded: {', '.join(layers)})")
    return list(dict.fromkeys(out))


def resolve_probe(catalog: Catalog, model_ids: Sequence[int], probe: str | int | None) -> int:
    """The probe set id to compare on: the given one, or the one all models share.

    Raises ``AlignmentError`` naming the probe sets when the models were recorded on
    different ones: representations are compared only on the same ordered samples.
    """
    for m in model_ids:
        catalog.get_model(m)  # an unknown id is named as such
    if probe is not None:
        return catalog.get_probe_set(probe).id
    per_model = {m: {a.probe_set_id for a in catalog.list_activations(m)} for m in model_ids}
    for m, probes in per_model.items():
        if not probes:
            raise NotFoundError(f"model {m} has no recorded activations: run `zoo record` "
                                "or `zoo activations import`")
    shared = set.intersection(*per_model.values())
    if len(shared) == 1:
        return shared.pop()
    names = {p.id: p.name for p in catalog.list_probe_sets()}
    if not shared:
        desc = "; ".join(f"model {m} on {', '.join(repr(names[p]) for p in sorted(ps))}"
                         for m, ps in per_model.items())
        raise AlignmentError(f"the models share no probe set ({desc}): record them on the "
                             "same probe set to compare them")
    raise InvalidInputError("the models share several probe sets "
                            f"({', '.join(repr(names[p]) for p in sorted(shared))}): "
                            "choose one with --probe")


#: How often a query re-reads the activation records when an array is replaced under it.
ATTEMPTS = 8


def _key(a: Rep, b: Rep, probe_id: int, q: SimilarityQuery,
         records: dict[Rep, ActivationRecord]) -> tuple[Any, ...]:
    lo, hi = (a, b) if a <= b else (b, a)  # CKA is symmetric: one cache row per pair
    params = {**json.loads(q.params), SIMILARITY_SOURCE_KEYS[0]: records[lo].sha256,
              SIMILARITY_SOURCE_KEYS[1]: records[hi].sha256}
    return (lo.model_id, lo.layer, hi.model_id, hi.layer, probe_id, q.measure_name,
            q.estimator, json.dumps(params, sort_keys=True, separators=(",", ":")),
            CODE_VERSION)


def _activations(catalog: Catalog, reps: set[Rep], probe_id: int, n: int
                 ) -> dict[Rep, ActivationRecord]:
    """The current activation record of every rep (one query per model)."""
    by_model: dict[int, dict[str, ActivationRecord]] = {}
    for m in sorted({r.model_id for r in reps}):
        by_model[m] = {a.layer: a for a in catalog.list_activations(m, probe=probe_id)}
    out = {}
    for rep in reps:
        rec = by_model[rep.model_id].get(rep.layer)
        if rec is None:
            rec = catalog.get_activation(rep.model_id, rep.layer, probe_id)  # names what exists
        if rec.shape[0] != n:
            raise AlignmentError(f"activations of {rep} have {rec.shape[0]} rows but the probe "
                                 f"set has {n} samples: re-record them")
        out[rep] = rec
    return out


def _corrupt(rec: ActivationRecord) -> CorruptArrayError:
    return CorruptArrayError(
        f"activations of model {rec.model_id} layer {rec.layer!r} ({rec.array_key}) do not "
        "match their checksum: run `zoo check`")


def _read(catalog: Catalog, rec: ActivationRecord) -> np.ndarray:
    """A whole activation array, checked against the sha256 its record holds."""
    data = catalog.arrays.read(rec.array_key)
    if array_sha256(data) != rec.sha256:
        raise _corrupt(rec)
    return data


def _compute(catalog: Catalog, reps_a: list[Rep], reps_b: list[Rep],
             records: dict[Rep, ActivationRecord], q: SimilarityQuery) -> np.ndarray:
    """Values for every (a, b) in ``reps_a`` x ``reps_b``: ``[len(a), len(b)]``."""
    if q.estimator == "minibatch":
        allreps = list(dict.fromkeys(reps_a + reps_b))
        idx = {r: i for i, r in enumerate(allreps)}
        m = minibatch_cka_matrix(_lockstep(catalog, [records[r] for r in allreps], q.batch_size))
        return np.array([[m[idx[a], idx[b]] for b in reps_b] for a in reps_a])
    load = {r: _read(catalog, records[r]) for r in set(reps_a) | set(reps_b)}
    if q.measure == "linear":
        if set(reps_a) == set(reps_b):  # a square block: each Gram/cross block once, mirrored
            union = list(dict.fromkeys(reps_a))
            pos = {r: i for i, r in enumerate(union)}
            full = linear_cka_matrix([load[r] for r in union],
                                     estimator=q.estimator)  # type: ignore[arg-type]
            return full[np.ix_([pos[a] for a in reps_a], [pos[b] for b in reps_b])]
        return linear_cka_cross([load[r] for r in reps_a], [load[r] for r in reps_b],
                                estimator=q.estimator)  # type: ignore[arg-type]
    hsic = hsic_unbiased if q.estimator == "unbiased" else hsic_biased
    grams = {r: rbf_gram(x.reshape(x.shape[0], -1), q.sigma_fraction) for r, x in load.items()}
    self_h = {r: hsic(g, g) for r, g in grams.items()}
    out = np.empty((len(reps_a), len(reps_b)))
    for i, a in enumerate(reps_a):
        for j, b in enumerate(reps_b):
            out[i, j] = hsic(grams[a], grams[b]) / np.sqrt(self_h[a] * self_h[b])
    return out


def _lockstep(catalog: Catalog, records: list[ActivationRecord], rows: int
              ) -> Iterator[list[np.ndarray]]:
    """Yield aligned row blocks of several stored arrays; the last short block is merged.

    Each array's blocks are hashed as they stream; after the last block an array
    whose bytes differ from its record's sha256 raises ``CorruptArrayError``.
    """
    arrays = [catalog.arrays.open_complete(r.array_key) for r in records]
    digests = [array_hasher(a.dtype, tuple(a.shape)) for a in arrays]
    n = records[0].shape[0]
    starts = list(range(0, n, rows))
    if len(starts) > 1 and n - starts[-1] < 4:
        starts.pop()  # unbiased HSIC needs >= 4 rows: fold a tiny tail into the last block
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        blocks = [np.ascontiguousarray(a[s:e]) for a in arrays]
        for digest, block in zip(digests, blocks, strict=True):
            digest.update(block.tobytes())
        yield blocks
    for rec, digest in zip(records, digests, strict=True):
        if digest.hexdigest() != rec.sha256:
            raise _corrupt(rec)


def compare(catalog: Catalog, reps_a: Sequence[Rep], reps_b: Sequence[Rep],
            query: SimilarityQuery) -> list[SimilarityRecord]:
    """Similarity of every ``a`` in ``reps_a`` with every ``b`` in ``reps_b``.

    Returns one record per (a, b), in row-major order, each flagged ``cached`` when
    it came from the catalog. Missing values are computed in one batched pass and
    stored; with ``query.recompute`` all are computed afresh and replace the cache.
    """
    model_ids = sorted({r.model_id for r in (*reps_a, *reps_b)})
    probe_id = resolve_probe(catalog, model_ids, query.probe)
    n = catalog.get_probe_set(probe_id).n_samples
    for attempt in range(ATTEMPTS):
        records = _activations(catalog, {*reps_a, *reps_b}, probe_id, n)
        try:
            return _compare_once(catalog, list(reps_a), list(reps_b), query, probe_id, records)
        except Exception:
            # an array replaced (or removed) under this query fails its read, its checksum or,
            # read half-deleted mid-stream, the measure: read the records again
            now = _activations(catalog, {*reps_a, *reps_b}, probe_id, n)
            if all(now[r].array_key == records[r].array_key for r in records):
                raise  # nothing was replaced: the damage is real
            time.sleep(0.02 * (attempt + random.random()))
    raise ConcurrentChangeError(
        f"the activations compared were replaced {ATTEMPTS} times while this query ran: "
        "run it again when `zoo activations import --replace` / `zoo record` are done")


def _compare_once(catalog: Catalog, reps_a: list[Rep], reps_b: list[Rep],
                  query: SimilarityQuery, probe_id: int, records: dict[Rep, ActivationRecord]
                  ) -> list[SimilarityRecord]:
    n = catalog.get_probe_set(probe_id).n_samples
    keys = {(a, b): _key(a, b, probe_id, query, records) for a in reps_a for b in reps_b}
    cached = {} if query.recompute else catalog.get_similarities(list(set(keys.values())))
    missing_a = [a for a in dict.fromkeys(reps_a) if any(keys[a, b] not in cached for b in reps_b)]
    fresh: dict[tuple[Any, ...], SimilarityRecord] = {}
    if missing_a:
        needed_b = [b for b in dict.fromkeys(reps_b)
                    if any(keys[a, b] not in cached for a in missing_a)]
        values = _compute(catalog, missing_a, needed_b, records, query)
        for i, a in enumerate(missing_a):
            for j, b in enumerate(needed_b):
                k = keys[a, b]
                if k in cached or k in fresh:
                    continue
                fresh[k] = SimilarityRecord(
                    model_a_id=k[0], layer_a=k[1], model_b_id=k[2], layer_b=k[3],
                    probe_set_id=probe_id, measure=query.measure_name,
                    estimator=query.estimator, params=k[7], code_version=CODE_VERSION,
                    value=float(values[i, j]), n=n)
        catalog.put_similarities(fresh.values(), replace=query.recompute)
    out = []
    for a in reps_a:
        for b in reps_b:
            rec = cached.get(keys[a, b]) or fresh[keys[a, b]]
            # report in the caller's orientation (the cache stores each pair once), with the
            # query's own parameters (the checksums in the key are the cache's business)
            out.append(SimilarityRecord(a.model_id, a.layer, b.model_id, b.layer, probe_id,
                                        rec.measure, rec.estimator, query.params,
                                        rec.code_version, rec.value, rec.n, cached=rec.cached))
    return out

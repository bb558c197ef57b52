"""The similarity query layer: any registered measure between stored (model, layer) pairs, cached.

A query names representations (model id + layer), a measure from
:mod:`analysis.measure_registry` with its estimator and parameters, and a probe set;
values already in the ``similarities`` table are looked up, only the missing pairs are
computed — all of them in one call of the measure's all-pairs function (a square block
when both sides are the same representations) — and stored back. Concurrent queries
computing the same pair are harmless: the cache insert ignores keys that exist.

A cached value can never be stale: its key holds the sha256 of both activation
arrays it was computed from (``sha256_a``/``sha256_b`` in the stored ``params``),
and every array read is checked against that sha256 before a value computed from
it is stored. Replacing an array therefore makes the old values unreachable by
construction (``zoo check --fix`` drops them); a query that races the replace
reads the new records again instead of failing.

A measure's ``ValueError`` (a constant layer, too few samples) becomes one
``InvalidInputError`` naming the representation as ``model:layer``. Layer aliases and
probe-set resolution are in :mod:`analysis._reps`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis._reps import (
    Listing,
    Rep,
    activation_records,
    list_reps,
    resolve_layers,
    resolve_probe,
)
from analysis._streaming import lockstep
from analysis.measure_registry import DEFAULT_CODE_VERSION, MeasureSpec, measure_names, measure_spec
from store import (
    SIMILARITY_SOURCE_KEYS,
    ArrayStore,
    Catalog,
    ConcurrentChangeError,
    CorruptArrayError,
    InvalidInputError,
    SimilarityRecord,
    array_sha256,
)
from store.records import ActivationRecord

__all__ = [
    "CODE_VERSION",
    "MEASURES",
    "BlockCompute",
    "Listing",
    "Rep",
    "SimilarityQuery",
    "compare",
    "compute_block",
    "list_reps",
    "resolve_layers",
    "resolve_probe",
]

#: The code version of the built-in measures (each spec carries its own; part of every key).
CODE_VERSION = DEFAULT_CODE_VERSION
#: Registered measure names, in registry order.
MEASURES = tuple(measure_names())


@dataclass(frozen=True)
class SimilarityQuery:
    """How to compare: measure, estimator and parameters, on which probe set.

    Attributes:
        measure: A registered measure name or alias (``linear``/``linear_cka``, ``rbf``,
            ``procrustes``, ``svcca``, ``mknn``; see ``analysis.measure_registry``); stored
            as the canonical name.
        estimator: One of the measure's estimators (linear CKA: ``biased``, ``unbiased``,
            ``minibatch`` = unbiased HSIC averaged over minibatches streamed from the
            store); ``None`` picks the measure's default. Stored resolved.
        probe: probe set name or id; ``None`` picks the one set every rep is recorded on.
        options: The measure's parameters (``sigma_fraction``, ``batch_size``, ``k``, ...);
            missing ones take the registry's defaults. Stored resolved and checked.
        recompute: ignore cached values; compute them afresh and overwrite the cache.

    Raises:
        InvalidInputError: For an unknown measure, estimator or parameter, or a parameter
            out of range.
    """

    measure: str = "linear_cka"
    estimator: str | None = None
    probe: str | int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    recompute: bool = False

    def __post_init__(self) -> None:
        try:
            spec = measure_spec(self.measure)
            estimator, options = spec.resolve(self.estimator, self.options)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        object.__setattr__(self, "measure", spec.name)
        object.__setattr__(self, "estimator", estimator)
        object.__setattr__(self, "options", options)

    @property
    def spec(self) -> MeasureSpec:
        """The measure's registry entry."""
        return measure_spec(self.measure)

    @property
    def estimator_name(self) -> str:
        """The resolved estimator (never ``None`` once constructed)."""
        return str(self.estimator)

    @property
    def measure_name(self) -> str:
        """The name stored in the cache (``linear_cka``, ``rbf_cka``, ...)."""
        return self.spec.cache_name

    @property
    def params(self) -> str:
        """Canonical JSON of the parameters that change the value (part of the cache key)."""
        return self.spec.params_json(self.options)


#: How often a query re-reads the activation records when an array is replaced under it.
ATTEMPTS = 8


def _key(a: Rep, b: Rep, probe_id: int, q: SimilarityQuery,
         records: dict[Rep, ActivationRecord]) -> tuple[Any, ...]:
    spec = q.spec
    # a symmetric measure has one cache row per pair, keyed in sorted order
    lo, hi = (a, b) if a <= b or not spec.symmetric else (b, a)
    params = spec.params_json({**q.options, SIMILARITY_SOURCE_KEYS[0]: records[lo].sha256,
                               SIMILARITY_SOURCE_KEYS[1]: records[hi].sha256})
    return (lo.model_id, lo.layer, hi.model_id, hi.layer, probe_id, spec.cache_name,
            q.estimator_name, params, spec.code_version)


def _corrupt(rec: ActivationRecord) -> CorruptArrayError:
    return CorruptArrayError(
        f"activations of model {rec.model_id} layer {rec.layer!r} ({rec.array_key}) do not "
        "match their checksum: run `zoo check`")


def _read(arrays: ArrayStore, rec: ActivationRecord) -> np.ndarray:
    """A whole activation array, checked against the sha256 its record holds."""
    data = arrays.read(rec.array_key)
    if array_sha256(data) != rec.sha256:
        raise _corrupt(rec)
    return data


#: Float64 bytes of a square block's reps above which a measure with ``stream_full``
#: reads them in row blocks instead of whole (the whole read holds about four copies).
STREAM_FULL_BYTES = 256 * 2**20
#: Rows per block of such a read (rounded up to whole chunks by ``lockstep``'s reader).
_STREAM_ROWS = 8192


def _too_big(records: Iterable[ActivationRecord]) -> bool:
    r"""Whether the float64 copy of these reps exceeds ``STREAM_FULL_BYTES`` (and
    :math:`D \le n`, so that the ``(D, D)`` cross-covariance is the smaller object)."""
    recs = list(records)
    n = recs[0].shape[0]
    width = sum(int(np.prod(r.shape[1:], dtype=np.int64)) for r in recs)
    return 8 * n * width > STREAM_FULL_BYTES and width <= n


#: Computes the values of a block of pairs: ``(reps_a, reps_b, records, query)`` ->
#: ``[len(reps_a), len(reps_b)]``; :func:`compute_block` in this process, or a cluster's.
BlockCompute = Callable[[list[Rep], list[Rep], dict[Rep, ActivationRecord], SimilarityQuery],
                        np.ndarray]


def compute_block(arrays: ArrayStore, reps_a: list[Rep], reps_b: list[Rep],
                  records: dict[Rep, ActivationRecord], q: SimilarityQuery) -> np.ndarray:
    """Values for every (a, b) in ``reps_a`` x ``reps_b`` in one batched pass.

    Reads each rep's array (``records[rep]``) from ``arrays``, checked against its
    sha256, and calls the measure's all-pairs function once: on the square block of the
    union when both sides hold the same reps (each pair once, mirrored), else on the
    rectangle; a square block too big to hold whole (``STREAM_FULL_BYTES``) goes to the
    measure's ``stream_full`` function in row blocks, when it has one. Needs no
    catalog, so a cluster worker can run it on one block of a pair
    matrix. A measure's ``ValueError`` becomes ``InvalidInputError`` naming ``model:layer``.

    Shapes:
        - **output:** ``[len(reps_a), len(reps_b)]`` float64
    """
    spec, est = q.spec, q.estimator_name
    square = set(reps_a) == set(reps_b)
    union = list(dict.fromkeys(reps_a + reps_b))
    pos = {r: i for i, r in enumerate(union)}
    try:
        if est in spec.streamed:  # minibatches from the store, each chunk decoded once
            rows = int(q.options["batch_size"])
            blocks = lockstep(arrays, [records[r] for r in union], rows, _corrupt)
            full = spec.function("stream_pairs")(blocks, labels=[str(r) for r in union])
        elif square and spec.stream_full and _too_big(records[r] for r in union):
            recs = [records[r] for r in union]  # row blocks, read twice: memory flat in n
            full = spec.function("stream_full")(
                lambda: lockstep(arrays, recs, _STREAM_ROWS, _corrupt), est,
                [str(r) for r in union], len(union))
        elif square:
            full = spec.pairs([_read(arrays, records[r]) for r in union], None, estimator=est,
                              params=q.options, labels_x=[str(r) for r in union])
        else:
            load = {r: _read(arrays, records[r]) for r in union}
            return np.asarray(spec.pairs(
                [load[r] for r in reps_a], [load[r] for r in reps_b], estimator=est,
                params=q.options, labels_x=[str(r) for r in reps_a],
                labels_y=[str(r) for r in reps_b]), dtype=np.float64)
    except ValueError as exc:
        raise InvalidInputError(f"cannot compute {spec.title}: {exc}") from None
    return np.asarray(full, dtype=np.float64)[np.ix_([pos[a] for a in reps_a],
                                                     [pos[b] for b in reps_b])]


def compare(catalog: Catalog, reps_a: Sequence[Rep], reps_b: Sequence[Rep],
            query: SimilarityQuery, compute: BlockCompute | None = None,
            listing: Listing | None = None) -> list[SimilarityRecord]:
    """Similarity of every ``a`` in ``reps_a`` with every ``b`` in ``reps_b``.

    Returns one record per (a, b), in row-major order, each flagged ``cached`` when
    it came from the catalog. Missing values are computed in one batched pass and
    stored; with ``query.recompute`` all are computed afresh and replace the cache.
    ``compute`` computes the missing block (default: :func:`compute_block` here; a
    cluster's splits it into tasks, :mod:`zoo.cluster`); this process writes the rows.
    ``listing`` (from :func:`list_reps` for these models) saves listing them again.
    """
    model_ids = sorted({r.model_id for r in (*reps_a, *reps_b)})
    if listing is None or not set(model_ids) <= set(listing.by_model) or (
            query.probe is not None and query.probe not in (listing.probe.id,
                                                            listing.probe.name)):
        listing = list_reps(catalog, model_ids, query.probe)
    for attempt in range(ATTEMPTS):
        if attempt:  # after a replace: the records as they are now, not before the pause
            listing = list_reps(catalog, model_ids, listing.probe.id)
        records = activation_records(catalog, listing, [*reps_a, *reps_b])
        try:
            return _compare_once(catalog, list(reps_a), list(reps_b), query, listing, records,
                                 compute)
        except Exception:
            # an array replaced (or removed) under this query fails its read, its checksum or,
            # read half-deleted mid-stream, the measure: read the records again
            now = activation_records(catalog, list_reps(catalog, model_ids, listing.probe.id),
                                     [*reps_a, *reps_b])
            if all(now[r].array_key == records[r].array_key for r in records):
                raise  # nothing was replaced: the damage is real
            time.sleep(0.02 * (attempt + random.random()))
    raise ConcurrentChangeError(
        f"the activations compared were replaced {ATTEMPTS} times while this query ran: "
        "run it again when `zoo activations import --replace` / `zoo record` are done")


def _compare_once(catalog: Catalog, reps_a: list[Rep], reps_b: list[Rep],
                  query: SimilarityQuery, listing: Listing, records: dict[Rep, ActivationRecord],
                  compute: BlockCompute | None = None) -> list[SimilarityRecord]:
    probe_id, n = listing.probe.id, listing.probe.n_samples
    keys = {(a, b): _key(a, b, probe_id, query, records) for a in reps_a for b in reps_b}
    cached = {} if query.recompute else catalog.get_similarities(list(set(keys.values())))
    missing_a = [a for a in dict.fromkeys(reps_a) if any(keys[a, b] not in cached for b in reps_b)]
    fresh: dict[tuple[Any, ...], SimilarityRecord] = {}
    if missing_a:
        needed_b = [b for b in dict.fromkeys(reps_b)
                    if any(keys[a, b] not in cached for a in missing_a)]
        if compute is None:
            values = compute_block(catalog.arrays, missing_a, needed_b, records, query)
        else:
            values = compute(missing_a, needed_b, records, query)
        for i, a in enumerate(missing_a):
            for j, b in enumerate(needed_b):
                k = keys[a, b]
                if k in cached or k in fresh:
                    continue
                fresh[k] = SimilarityRecord(
                    model_a_id=k[0], layer_a=k[1], model_b_id=k[2], layer_b=k[3],
                    probe_set_id=probe_id, measure=k[5], estimator=k[6], params=k[7],
                    code_version=k[8], value=float(values[i, j]), n=n)
        catalog.put_similarities(fresh.values(), replace=query.recompute)
    out = []
    params = query.params
    for a in reps_a:
        for b in reps_b:
            rec = cached.get(keys[a, b]) or fresh[keys[a, b]]
            # report in the caller's orientation (the cache stores each pair once), with the
            # query's own parameters (the checksums in the key are the cache's business)
            out.append(SimilarityRecord(a.model_id, a.layer, b.model_id, b.layer, probe_id,
                                        rec.measure, rec.estimator, params,
                                        rec.code_version, rec.value, rec.n, cached=rec.cached))
    return out

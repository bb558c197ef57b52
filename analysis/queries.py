"""User-level similarity queries returning pandas DataFrames (what `zoo cka*` prints).

>>> cka(cat, 3, 7, layers="all")                       # doctest: +SKIP
>>> cka_matrix(cat, [3, 7, 9], layer="penultimate")    # doctest: +SKIP
>>> most_similar(cat, 3, layer="penultimate", top=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from analysis.similarity import (
    BlockCompute,
    Listing,
    Rep,
    SimilarityQuery,
    compare,
    list_reps,
)
from store import Catalog, InvalidInputError, NotFoundError, SimilarityRecord
from store.records import ActivationRecord

__all__ = [
    "cka",
    "cka_matrix",
    "most_similar",
    "records_frame",
    "similarity",
    "similarity_matrix",
]

COLUMNS = ["model_a_id", "layer_a", "model_b_id", "layer_b", "probe_set", "measure", "estimator",
           "params", "value", "n", "cached"]


def records_frame(catalog: Catalog, records: Sequence[SimilarityRecord],
                  listing: Listing | None = None) -> pd.DataFrame:
    """One row per similarity record, with the probe set's name; columns ``COLUMNS``.

    With the query's ``listing`` the probe set's name is taken from it (no catalog read).
    """
    if listing is not None and all(r.probe_set_id == listing.probe.id for r in records):
        names = {listing.probe.id: listing.probe.name}
    else:
        names = {p.id: p.name for p in catalog.list_probe_sets()}
    return pd.DataFrame(
        [[r.model_a_id, r.layer_a, r.model_b_id, r.layer_b, names.get(r.probe_set_id),
          r.measure, r.estimator, r.params, r.value, r.n, r.cached] for r in records],
        columns=COLUMNS,
    )


def similarity(catalog: Catalog, model_a: int, model_b: int, layers: str = "all",
               layers_b: str | None = None, query: SimilarityQuery | None = None
               ) -> pd.DataFrame:
    """A measure between the layers of two models: one row per (layer of a, layer of b).

    The activations of both models are listed once (probe set, aliases and array records
    all come from that listing), cached values fetched in one query.

    Args:
        layers: layers of ``model_a`` (names, comma-separated, or ``all``/``penultimate``/
            ``logits``/``first``); also used for ``model_b`` unless ``layers_b`` is given.
        query: measure, estimator, parameters, probe set (default: linear CKA, biased).
    """
    q = query or SimilarityQuery()
    listing = list_reps(catalog, [model_a, model_b], q.probe)
    reps_a = [Rep(model_a, x) for x in listing.resolve(model_a, layers)]
    reps_b = [Rep(model_b, x) for x in listing.resolve(model_b, layers_b or layers)]
    records = compare(catalog, reps_a, reps_b, replace(q, probe=listing.probe.id),
                      listing=listing)
    return records_frame(catalog, records, listing)


def similarity_matrix(catalog: Catalog, model_ids: Sequence[int], layer: str = "penultimate",
                      query: SimilarityQuery | None = None,
                      compute: BlockCompute | None = None) -> pd.DataFrame:
    """Square ``[k, k]`` DataFrame of a measure between one layer of each model.

    ``layer`` is resolved per model (aliases such as ``penultimate`` make models with
    different layer names comparable). Index and columns are ``"<id>:<layer>"``.
    ``compute`` computes missing values elsewhere (a cluster: :mod:`zoo.cluster`).
    ``attrs``: ``cached`` (how many values came from the cache), ``records``,
    ``listing`` (for :func:`records_frame`).
    """
    if len(model_ids) < 2:
        raise InvalidInputError(
            f"a similarity matrix needs at least 2 models, got {len(model_ids)}")
    q = query or SimilarityQuery()
    listing = list_reps(catalog, list(model_ids), q.probe)
    reps = [Rep(m, listing.resolve(m, layer)[0]) for m in model_ids]
    records = compare(catalog, reps, reps, replace(q, probe=listing.probe.id), compute,
                      listing=listing)
    labels = [str(r) for r in reps]
    values = [[records[i * len(reps) + j].value for j in range(len(reps))]
              for i in range(len(reps))]
    frame = pd.DataFrame(values, index=labels, columns=labels)
    frame.attrs["cached"] = sum(r.cached for r in records)
    frame.attrs["records"] = records
    frame.attrs["listing"] = listing
    return frame


#: The CKA names of :func:`similarity` / :func:`similarity_matrix` (any measure works).
cka = similarity
cka_matrix = similarity_matrix


def most_similar(catalog: Catalog, model_id: int, layer: str = "penultimate", top: int = 10,
                 query: SimilarityQuery | None = None, kind: str | None = None) -> pd.DataFrame:
    """The stored models whose (resolved) ``layer`` is most similar to this model's.

    Candidates are every other model with activations on the same probe set
    (optionally of one ``kind``); rows sorted from most to least alike (decreasing value
    for a similarity, increasing for a distance), at most ``top``.
    """
    q = query or SimilarityQuery()
    own = list_reps(catalog, [model_id], q.probe)
    probe = own.probe.id
    target = Rep(model_id, own.resolve(model_id, layer)[0])
    on_probe = catalog.list_activations(probe=probe)  # every model's, in one statement
    candidates = sorted({a.model_id for a in on_probe} - {model_id})
    if kind is not None:
        allowed = {m.id for m in catalog.list_models(kind=kind, ids=candidates)}
        candidates = [c for c in candidates if c in allowed]
    grouped: dict[int, list[ActivationRecord]] = {}
    for a in on_probe:
        grouped.setdefault(a.model_id, []).append(a)
    by_model = {m: tuple(grouped[m]) for m in candidates}
    listing = Listing(own.probe, {**own.by_model, **by_model})
    reps = []
    for m in candidates:
        try:
            reps.append(Rep(m, listing.resolve(m, layer)[0]))
        except (NotFoundError, InvalidInputError):
            continue  # this model has no such layer: not a candidate
    if not reps:
        raise NotFoundError(f"no other model has activations on this probe set to compare "
                            f"with model {model_id}")
    records = compare(catalog, [target], reps, replace(q, probe=probe), listing=listing)
    frame = records_frame(catalog, records, listing)
    kinds = {m.id: m.kind for m in catalog.list_models(ids=[r.model_id for r in reps])}
    frame.insert(3, "kind_b", frame["model_b_id"].map(kinds))
    ascending = q.spec.kind == "distance"
    return frame.sort_values("value", ascending=ascending).head(top).reset_index(drop=True)

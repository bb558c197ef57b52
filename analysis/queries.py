"""User-level similarity queries returning pandas DataFrames (what `zoo cka*` prints).

>>> cka(cat, 3, 7, layers="all")                       # doctest: +SKIP
>>> cka_matrix(cat, [3, 7, 9], layer="penultimate")    # doctest: +SKIP
>>> most_similar(cat, 3, layer="penultimate", top=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from analysis.similarity import Rep, SimilarityQuery, compare, resolve_layers, resolve_probe
from store import Catalog, InvalidInputError, NotFoundError, SimilarityRecord

__all__ = ["cka", "cka_matrix", "most_similar", "records_frame"]

COLUMNS = ["model_a", "layer_a", "model_b", "layer_b", "probe_set", "measure", "estimator",
           "params", "value", "n", "cached"]


def records_frame(catalog: Catalog, records: Sequence[SimilarityRecord]) -> pd.DataFrame:
    """One row per similarity record, with the probe set's name; columns ``COLUMNS``."""
    names = {p.id: p.name for p in catalog.list_probe_sets()}
    return pd.DataFrame(
        [[r.model_a_id, r.layer_a, r.model_b_id, r.layer_b, names.get(r.probe_set_id),
          r.measure, r.estimator, r.params, r.value, r.n, r.cached] for r in records],
        columns=COLUMNS,
    )


def cka(catalog: Catalog, model_a: int, model_b: int, layers: str = "all",
        layers_b: str | None = None, query: SimilarityQuery | None = None) -> pd.DataFrame:
    """Similarity between the layers of two models: one row per (layer of a, layer of b).

    Args:
        layers: layers of ``model_a`` (names, comma-separated, or ``all``/``penultimate``/
            ``logits``/``first``); also used for ``model_b`` unless ``layers_b`` is given.
    """
    q = query or SimilarityQuery()
    probe = resolve_probe(catalog, [model_a, model_b], q.probe)
    reps_a = [Rep(model_a, x) for x in resolve_layers(catalog, model_a, layers, probe)]
    reps_b = [Rep(model_b, x) for x in resolve_layers(catalog, model_b, layers_b or layers, probe)]
    return records_frame(catalog, compare(catalog, reps_a, reps_b, replace(q, probe=probe)))


def cka_matrix(catalog: Catalog, model_ids: Sequence[int], layer: str = "penultimate",
               query: SimilarityQuery | None = None) -> pd.DataFrame:
    """Square ``[k, k]`` DataFrame of similarities between one layer of each model.

    ``layer`` is resolved per model (aliases such as ``penultimate`` make models with
    different layer names comparable). Index and columns are ``"<id>:<layer>"``.
    """
    if len(model_ids) < 2:
        raise InvalidInputError(
            f"a similarity matrix needs at least 2 models, got {len(model_ids)}")
    q = query or SimilarityQuery()
    probe = resolve_probe(catalog, list(model_ids), q.probe)
    reps = [Rep(m, resolve_layers(catalog, m, layer, probe)[0]) for m in model_ids]
    records = compare(catalog, reps, reps, replace(q, probe=probe))
    labels = [str(r) for r in reps]
    values = [[records[i * len(reps) + j].value for j in range(len(reps))]
              for i in range(len(reps))]
    frame = pd.DataFrame(values, index=labels, columns=labels)
    frame.attrs["cached"] = sum(r.cached for r in records)
    frame.attrs["records"] = records
    return frame


def most_similar(catalog: Catalog, model_id: int, layer: str = "penultimate", top: int = 10,
                 query: SimilarityQuery | None = None, kind: str | None = None) -> pd.DataFrame:
    """The stored models whose (resolved) ``layer`` is most similar to this model's.

    Candidates are every other model with activations on the same probe set
    (optionally of one ``kind``); rows sorted by decreasing value, at most ``top``.
    """
    q = query or SimilarityQuery()
    probe = resolve_probe(catalog, [model_id], q.probe)
    target = Rep(model_id, resolve_layers(catalog, model_id, layer, probe)[0])
    candidates = sorted({a.model_id for a in catalog.list_activations(probe=probe)} - {model_id})
    if kind is not None:
        allowed = {m.id for m in catalog.list_models(kind=kind, ids=candidates)}
        candidates = [c for c in candidates if c in allowed]
    reps = []
    for m in candidates:
        try:
            reps.append(Rep(m, resolve_layers(catalog, m, layer, probe)[0]))
        except (NotFoundError, InvalidInputError):
            continue  # this model has no such layer: not a candidate
    if not reps:
        raise NotFoundError(f"no other model has activations on this probe set to compare "
                            f"with model {model_id}")
    frame = records_frame(catalog, compare(catalog, [target], reps, replace(q, probe=probe)))
    kinds = {m.id: m.kind for m in catalog.list_models(ids=[r.model_id for r in reps])}
    frame.insert(3, "kind_b", frame["model_b"].map(kinds))
    return frame.sort_values("value", ascending=False).head(top).reset_index(drop=True)

"""Similarity commands: cka, cka-matrix, similarity, similarity-matrix, similar."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from zoo.cli._cluster import cluster_option
from zoo.cli._common import (
    MODEL,
    echo_json,
    json_option,
    location_options,
    model_selection_options,
    open_catalog,
    print_table,
    select_models,
    stderr,
)
from zoo.cli._types import COUNT, OUT_FILE
from zoo.settings import Locations

__all__ = ["register_commands"]

F = TypeVar("F", bound=Callable[..., Any])


def _param_options(specs: list[Any]) -> list[Any]:
    """One ``--flag`` per parameter of ``specs`` (type, range and default from the registry)."""
    out, seen = [], set()
    for spec in specs:
        for p in spec.params:
            if p.name in seen:
                continue
            seen.add(p.name)
            if isinstance(p.default, int):
                kind: Any = click.IntRange(p.minimum, p.maximum)
            else:
                kind = click.FloatRange(p.minimum, p.maximum, min_open=p.exclusive_minimum)
            out.append(click.option(p.flag, p.name, type=kind, default=None,
                                    help=f"{p.help} [default: {p.default}]"))
    return out


def _query_options(family: str | None) -> Callable[[F], F]:
    """Options choosing a measure of the registry (one ``family``, or all) and its parameters.

    The choices, the estimators and every parameter's flag, range and default are read
    from :mod:`analysis.measure_registry`; the command gets a ``SimilarityQuery`` as
    ``query``. A parameter the chosen measure does not have is one ``Error:`` line.
    """
    from analysis.measure_registry import measure_specs

    specs = measure_specs(family)
    names = [s.aliases[0] if family and s.aliases else s.name for s in specs]
    estimators = list(dict.fromkeys(e for s in specs for e in s.estimators))
    defaults = ", ".join(f"{n}: {s.default_estimator}" for n, s in zip(names, specs,
                                                                        strict=True))
    options = [
        click.option("--probe", help="Probe set (name or id); default: the one the models "
                                     "share."),
        click.option("--measure", type=click.Choice(names), default=names[0],
                     show_default=True,
                     help="; ".join(f"{n}: {s.title}" for n, s in zip(names, specs,
                                                                      strict=True)) + "."),
        click.option("--estimator", type=click.Choice(estimators), default=None,
                     help=f"Estimator (default per measure: {defaults}); minibatch streams "
                          "the arrays."),
        *_param_options(specs),
        click.option("--recompute", is_flag=True, help="Ignore the cache and recompute."),
    ]
    # every registered parameter: the general command shares this wrapper (see _with_any_measure)
    param_names = list(dict.fromkeys(p.name for s in measure_specs() for p in s.params))

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, probe: str | None, measure: str, estimator: str | None,
                    recompute: bool, **kwargs: Any) -> Any:
            from analysis.similarity import SimilarityQuery

            given = {n: kwargs.pop(n) for n in param_names if n in kwargs}
            query = SimilarityQuery(measure, estimator, probe,
                                    {k: v for k, v in given.items() if v is not None},
                                    recompute)
            return fn(*args, query=query, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


#: The options of the CKA shortcuts (zoo cka, cka-matrix): --measure linear|rbf.
query_options = _query_options("cka")
#: The options of the general commands (zoo similarity, similarity-matrix, similar).
measure_options = _query_options(None)


def _emit(frame: Any, as_json: bool, title: str) -> None:
    if as_json:
        echo_json(frame.to_dict(orient="records"))
        return
    rows = frame.assign(value=frame["value"].map(lambda v: f"{v:.4f}")).to_dict(orient="records")
    hidden = ("params", "n", "model_a_id", "model_b_id")
    print_table(rows, [c for c in frame.columns if c not in hidden], title=title)


def _names(cat: Any, model_ids: list[int]) -> dict[int, str]:
    """Readable names of models by id (the id itself for a model without a name)."""
    return {m.id: str(m.name or m.id) for m in cat.list_models(ids=list(model_ids))}


def _named(frame: Any, names: dict[int, str]) -> Any:
    """A similarity frame with each side's model name (``name_a``, ``name_b``) beside its
    id, so tables, JSON and plots read in words."""
    frame = frame.copy()
    frame.insert(frame.columns.get_loc("model_a_id") + 1, "name_a",
                 frame["model_a_id"].map(names))
    frame.insert(frame.columns.get_loc("model_b_id") + 1, "name_b",
                 frame["model_b_id"].map(names))
    return frame


def _label(label: str, names: dict[int, str]) -> str:
    """``"<id>:<layer>"`` as ``"<name>:<layer>"``."""
    model, _, layer = str(label).partition(":")
    return f"{names.get(int(model), model)}:{layer}" if model.isdigit() else str(label)


@click.command(name="cka")
@click.argument("model_a", type=MODEL)
@click.argument("model_b", type=MODEL)
@click.option("--layers", default="all", show_default=True,
              help="Layers: names (comma-separated), all, penultimate, logits or first.")
@click.option("--layers-b", help="Layers of MODEL_B when they differ from --layers.")
@click.option("--out", type=OUT_FILE, help="Save a heatmap PNG here.")
@click.option("--curves", type=OUT_FILE,
              help="Save per-layer CKA curves here: x = layers of MODEL_A, a line per layer "
                   "of MODEL_B.")
@query_options
@json_option
@location_options
def cka_cmd(loc: Locations, model_a: str | int, model_b: str | int, layers: str,
            layers_b: str | None,
            out: str | None, curves: str | None, query: Any, as_json: bool) -> None:
    """CKA between the layers of two stored models (cached in the catalog).

    Example: zoo cka 3 7 --layers all --measure linear --estimator unbiased --json
    """
    from analysis.queries import cka

    with open_catalog(loc) as cat:
        id_a, id_b = cat.resolve_model(model_a), cat.resolve_model(model_b)
        names = _names(cat, [id_a, id_b])
        frame = _named(cka(cat, id_a, id_b, layers, layers_b, query), names)
    model_a, model_b = names[id_a], names[id_b]
    _emit(frame, as_json, f"{query.spec.title} of {model_a} vs {model_b}")
    pivot = frame.pivot(index="layer_a", columns="layer_b", values="value")
    pivot = pivot.loc[list(dict.fromkeys(frame["layer_a"])), list(dict.fromkeys(frame["layer_b"]))]
    title = f"{query.spec.title} ({query.estimator}), {model_a} vs {model_b}"
    if out:
        from analysis.plots import plot_similarity_heatmap

        plot_similarity_heatmap(pivot.to_numpy(), list(pivot.index), list(pivot.columns), title,
                                out, ylabel=str(model_a), xlabel=str(model_b))
        stderr.print(f"heatmap saved to {out}")
    if curves:
        from analysis.plots import plot_layer_curves

        series = {f"{model_b} {col}": pivot[col].tolist() for col in pivot.columns}
        plot_layer_curves(series, list(pivot.index), title, curves)
        stderr.print(f"curves saved to {curves}")


@click.command(name="cka-matrix")
@model_selection_options
@click.option("--layer", default="penultimate", show_default=True,
              help="Layer of each model (a name, or penultimate/logits/first).")
@click.option("--out", type=OUT_FILE, help="Save a heatmap PNG here.")
@query_options
@cluster_option
@json_option
@location_options
def cka_matrix_cmd(loc: Locations, where: str | None, models: str | None, layer: str,
                   out: str | None, query: Any, cluster: str | None, as_json: bool) -> None:
    """Similarity matrix of one layer across many models, computed in one batched pass
    (with --cluster: in blocks of pairs on the cluster's workers).

    Example: zoo cka-matrix --where "kind = 'gmn' AND dataset = 'mnist-5k'"
    --layer penultimate --out heatmap.png
    """
    from analysis.queries import cka_matrix, records_frame

    with open_catalog(loc) as cat:
        ids = select_models(loc, where, models)
        compute = None
        if cluster is not None:
            from zoo.cluster import block_compute

            compute = block_compute(cluster, cat.arrays.root)
        frame = cka_matrix(cat, ids, layer, query, compute)
        names = _names(cat, list(ids))
        records = _named(records_frame(cat, frame.attrs["records"]), names)
        labels = [_label(x, names) for x in frame.index]
        attrs = frame.attrs
        frame = frame.set_axis(labels, axis=0).set_axis(labels, axis=1)
        frame.attrs = attrs
    if as_json:
        echo_json(records.to_dict(orient="records"))
    else:
        print_table([{"": i, **{c: f"{v:.3f}" for c, v in row.items()}}
                     for i, row in frame.iterrows()], ["", *frame.columns],
                    title=f"{query.spec.title} ({query.estimator}), layer {layer}")
        stderr.print(f"{len(ids)} models, {frame.attrs['cached']} of {len(records)} "
                     "values from the cache")
    if out:
        from analysis.plots import plot_similarity_heatmap

        plot_similarity_heatmap(frame.to_numpy(), list(frame.index), list(frame.columns),
                                f"{query.spec.title}, layer {layer}", out)
        stderr.print(f"heatmap saved to {out}")


@click.command(name="similar")
@click.argument("model_id", type=MODEL)
@click.option("--layer", default="penultimate", show_default=True,
              help="Layer compared (resolved per model: a name or penultimate/logits/first).")
@click.option("--top", type=COUNT, default=10, show_default=True,
              help="How many to show.")
@click.option("--kind", help="Only candidates of this kind.")
@measure_options
@json_option
@location_options
def similar(loc: Locations, model_id: str | int, layer: str, top: int, kind: str | None,
            query: Any,
            as_json: bool) -> None:
    """The stored models most similar to this one at a layer.

    Example: zoo similar 12 --layer penultimate --top 10
    """
    from analysis.queries import most_similar

    with open_catalog(loc) as cat:
        ref = cat.resolve_model(model_id)
        frame = most_similar(cat, ref, layer, top, query, kind)
        ids = sorted({ref, *frame["model_a_id"], *frame["model_b_id"]})
        frame = _named(frame, _names(cat, ids))
        name = _names(cat, [ref])[ref]
    _emit(frame, as_json, f"most similar to {name} ({layer})")


def _with_any_measure(command: click.Command, name: str, doc: str) -> click.Command:
    """``command`` as ``name``, its CKA ``--measure`` replaced by every registered measure.

    The CKA shortcut and the general command share one body: only the query options
    differ (both come from the registry).
    """
    shortcut = {p.name for p in query_options(_no_op).__click_params__}  # type: ignore[attr-defined]
    general = measure_options(_no_op).__click_params__  # type: ignore[attr-defined]
    assert command.callback is not None
    return click.Command(name, callback=command.callback, help=doc,
                         params=[*(p for p in command.params if p.name not in shortcut),
                                 *reversed(general)])


def _no_op(**kwargs: Any) -> None:
    """A placeholder the option decorators attach their parameters to."""


similarity_cmd = _with_any_measure(
    cka_cmd, "similarity",
    "A similarity measure (--measure: CKA, Procrustes, SVCCA, mutual k-NN) between the "
    "layers of two stored models, cached.\n\nExample: zoo similarity 3 7 --measure procrustes "
    "--layers all --json")
similarity_matrix_cmd = _with_any_measure(
    cka_matrix_cmd, "similarity-matrix",
    "Matrix of a similarity measure (--measure) of one layer across many models, in one "
    "batched pass.\n\nExample: zoo similarity-matrix --models 3,7,9 --measure mknn --k 10")


def register_commands(group: click.Group) -> None:
    """Attach the similarity commands to the top-level group."""
    for command in (cka_cmd, cka_matrix_cmd, similarity_cmd,
                    similarity_matrix_cmd, similar):
        group.add_command(command)

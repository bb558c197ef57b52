"""Model commands: train, eval, record."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from zoo.cli._cluster import cluster_option
from zoo.cli._common import (
    MODEL,
    echo_json,
    json_option,
    location_options,
    model_selection_options,
    note,
    open_catalog,
    print_table,
    select_models,
)
from zoo.cli._kinds import KIND
from zoo.cli._progress import ProgressView, print_summary
from zoo.cli._types import COUNT, NONNEG, NONNEG_FLOAT, POSITIVE, PROBABILITY, SEED
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.command(name="train")
@click.argument("kind", type=KIND)
@click.option("--population", help="INR population to train on (gmn, ngt, mlp-weights).")
@click.option("--dataset", help="Dataset whose images to train on (mlp, cnn).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Initialisation seed (also the data-order seed unless --data-seed).")
@click.option("--data-seed", type=SEED, help="Seed of the data order and dropout.")
@click.option("--epochs", type=COUNT, default=20, show_default=True, help="Maximum epochs.")
@click.option("--batch-size", type=COUNT, default=64, show_default=True)
@click.option("--lr", type=POSITIVE, default=1e-3, show_default=True, help="AdamW learning rate.")
@click.option("--weight-decay", type=NONNEG_FLOAT,
              help="AdamW weight decay (default: 5e-4 for weight kinds, else 0).")
@click.option("--amsgrad/--no-amsgrad", default=None,
              help="AMSGrad variant (default: on for weight kinds).")
@click.option("--warmup-steps", type=NONNEG,
              help="Linear learning-rate warm-up over this many updates (default: 100 for "
                   "weight kinds, else none).")
@click.option("--patience", type=COUNT,
              help="Stop after this many epochs without a better val acc.")
@click.option("--hidden", type=COUNT, help="Hidden width (kind-specific default).")
@click.option("--layers", type=COUNT, help="Message-passing / hidden / conv layers.")
@click.option("--dropout", type=PROBABILITY,
              help="Dropout probability (GMN: after each layer; MLP/CNN: hidden layers).")
@click.option("--grad-clip", type=POSITIVE,
              help="Clip the global gradient norm to this value (default: 10 for "
                   "weight kinds, else none).")
@click.option("--probe-features", type=COUNT,
              help="gmn: give every neuron its values at this many fixed input points as "
                   "node features (probe features; default 0: weights only). They include "
                   "the image at those points.")
@click.option("--micro-batch", type=COUNT,
              help="Samples per forward/backward inside a batch, gradients accumulated (same "
                   "updates, better cache use; default: 16 for gmn and ngt, whole batches "
                   "otherwise).")
@click.option("--augment/--no-augment", default=None,
              help="gmn, mlp-weights: warp the training INRs randomly in weight space every "
                   "epoch (default: on, NG-GNN's ranges: rotation <= 45 deg, zoom 0.8-1.2, "
                   "shift <= 0.25 of the coordinate range, 1 % of weights dropped).")
@click.option("--augment-ranges", metavar="ROT,ZOOM,SHIFT,DROP",
              help="Augmentation ranges: max rotation (deg), zoom half-range, max shift "
                   "(coordinate units), weight-dropout probability; e.g. 15,0.1,0.1,0.")
@click.option("--tag", "tags", multiple=True, help="Tag the trained model (repeatable).")
@click.option("--threads", type=COUNT, help="torch CPU threads (default: torch's choice).")
@click.option("--retrain", is_flag=True,
              help="Train even when a stored model has this kind, source, seed, settings "
                   "and architecture (by default that model is reported and nothing runs).")
@json_option
@location_options
def train(loc: Locations, kind: str, population: str | None, dataset: str | None, seed: int,
          data_seed: int | None, epochs: int, batch_size: int, lr: float,
          weight_decay: float | None, amsgrad: bool | None, warmup_steps: int | None,
          patience: int | None, hidden: int | None, layers: int | None,
          dropout: float | None, grad_clip: float | None, probe_features: int | None,
          micro_batch: int | None,
          augment: bool | None, augment_ranges: str | None, tags: tuple[str, ...],
          threads: int | None, retrain: bool, as_json: bool) -> None:
    """Train a GMN or a baseline with a seed; register it with checkpoint, metrics, lineage.

    The best validation epoch is kept; test accuracy of those weights is stored. The
    model is named KIND-sSEED@SOURCE (see `zoo ls`). Running the same command again finds
    that model before any work and exits 0 (--retrain trains anew).

    Example: zoo train gmn --population mnist-5k/siren-w32-d3/s0 --seed 0 --epochs 20
    """
    import torch

    from store import DuplicateError
    from zoo.identity import find_trained, training_key
    from zoo.kinds import default_augment, get_kind, kind_names, kind_train_config
    from zoo.model_runs import train_model
    from zoo.outcomes import model_outcomes
    from zoo.train import report_progress

    started = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    given = {"weight_decay": weight_decay, "grad_clip": grad_clip, "amsgrad": amsgrad,
             "warmup_steps": warmup_steps}
    settings = {k: v for k, v in given.items() if v is not None}
    try:
        config = kind_train_config(kind, epochs=epochs, batch_size=batch_size, lr=lr,
                                   init_seed=seed,
                                   data_seed=seed if data_seed is None else data_seed,
                                   patience=patience, micro_batch=micro_batch, **settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if (augment or augment_ranges) and not get_kind(kind).reads_weights:
        weights = kind_names(reads=("inr-weights", "neural-graphs"))
        raise click.BadParameter(f"--augment warps INR weights: it applies to "
                                 f"{', '.join(weights)}, not {kind}")
    warp = default_augment(kind) if augment is None or augment else None
    if augment_ranges and augment is not False:
        warp = _parse_ranges(augment_ranges)
    options: dict[str, Any] = {"population": population, "dataset": dataset, "hidden": hidden,
               "layers": layers, "dropout": dropout, "probe_features": probe_features}
    with open_catalog(loc) as cat:
        key = training_key(cat, kind, config, augment=warp, **options)
        found = None if retrain else find_trained(cat, key)
        if found is None:
            try:
                with ProgressView(f"{kind} s{seed}") as view, report_progress(view.on_step):
                    record = train_model(cat, kind, config, tags=tags, augment=warp,
                                         on_epoch=lambda m: view.say(_epoch_line(m)),
                                         **options)
            except DuplicateError as exc:  # --retrain gave bit-identical weights
                if exc.existing_id is None:
                    raise
                found = cat.get_model(exc.existing_id)
                note(f"training reproduced the weights of model {found.name} "
                             "exactly: nothing new was stored")
        else:
            note(f"already trained: model {found.name} (id {found.id}) has this kind, "
                         "source, seed, settings and architecture; --retrain trains again")
        if found is not None:
            if tags:
                found = cat.tag(found.id, *tags)
            record = found
        metrics = {m.name: m.value for m in cat.get_metrics(record.id) if m.step is None
                   or m.name == "best_val_acc"}
        outcomes = model_outcomes(cat, [record.id])
    what = [f"model {record.name} (id {record.id})"]
    if as_json:
        echo_json({**record.to_dict(), "metrics": metrics, "found": found is not None})
    else:
        click.echo(f"model {record.name} (id {record.id}): best val acc "
                   f"{metrics.get('best_val_acc', float('nan')):.4f} at epoch "
                   f"{record.config.get('best_epoch')}, test acc "
                   f"{metrics.get('test_acc', float('nan')):.4f}, "
                   f"trained in {metrics.get('train_seconds', float('nan')):.0f} s"
                   + ("" if found is not None else f"; stored in {loc.db_url}"))
    print_summary(loc, time.perf_counter() - started, [] if found else what, outcomes,
                  found=what if found else ())


def _parse_ranges(text: str) -> Any:
    """``ROT,ZOOM,SHIFT,DROP`` -> a WeightAugment; a usage error names what is wrong."""
    from zoo.inr.augment import WeightAugment

    try:
        values = [float(v) for v in text.split(",")]
        if len(values) != 4:
            raise ValueError(f"expected 4 comma-separated numbers, got {len(values)}")
        return WeightAugment(*values)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (e.g. 45,0.2,0.25,0.01)",
                                 param_hint="--augment-ranges") from exc


def _epoch_line(m: Any) -> str:
    """The line an epoch's metrics make (above the bars on a terminal, else plain)."""
    return (f"epoch {m.epoch}: train loss {m.train_loss:.4f} acc {m.train_acc:.4f}, "
            f"val loss {m.val_loss:.4f} acc {m.val_acc:.4f} ({m.seconds:.0f} s)")


@click.command(name="eval")
@click.argument("model", type=MODEL)
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test",
              show_default=True)
@click.option("--batch-size", type=COUNT, default=256, show_default=True)
@json_option
@location_options
def eval_cmd(loc: Locations, model: str | int, split: str, batch_size: int,
             as_json: bool) -> None:
    """Accuracy and confusion matrix of a stored model on a split (stored as metrics).

    MODEL is an id, a name or KIND:SEED (see `zoo ls`).

    Example: zoo eval cnn:0 --split test
    """
    from zoo.model_runs import evaluate_model

    with open_catalog(loc) as cat:
        model_id = cat.resolve_model(model)
        name = cat.get_model(model_id).name
        summary = evaluate_model(cat, model_id, split, batch_size)
    if as_json:
        echo_json({"model_id": model_id, "name": name, "split": split, "n": summary.n,
                   "accuracy": summary.accuracy, "loss": summary.loss,
                   "confusion": summary.confusion.tolist()})
        return
    click.echo(f"model {name} on {split} ({summary.n} samples): accuracy "
               f"{summary.accuracy:.4f}, loss {summary.loss:.4f}")
    k = summary.confusion.shape[0]
    rows = [{"true": str(i), **{str(j): int(summary.confusion[i, j]) for j in range(k)}}
            for i in range(k)]
    print_table(rows, ["true", *map(str, range(k))], title="confusion (rows: true class)")


@click.command(name="record")
@click.argument("model", type=MODEL, required=False)
@model_selection_options
@click.option("--probe", required=True, help="Probe set to run the model on.")
@click.option("--layers", default="all", show_default=True,
              help="all, or comma-separated module names (see `zoo show`).")
@click.option("--batch-size", type=COUNT, default=256, show_default=True)
@click.option("--replace", is_flag=True, help="Overwrite activations already recorded.")
@cluster_option
@location_options
def record(loc: Locations, model: str | int | None, where: str | None, models: str | None,
           probe: str, layers: str, batch_size: int, replace: bool,
           cluster: str | None) -> None:
    """Record every layer's activations on a probe set into the store (streamed to Zarr).

    MODEL is a trained model's id, name or KIND:SEED; --where / --models record many
    models, one task each (on the Dask cluster with --cluster). What is recorded already
    is reported and nothing runs (--replace records again).

    Example: zoo record cnn:0 --probe test-500 --layers all

    Example: zoo record --where "kind = 'gmn'" --probe test-1000 --cluster tcp://HOST:8786
    """
    names = None if layers == "all" else [x.strip() for x in layers.split(",") if x.strip()]
    if model is not None and (where is not None or models is not None):
        raise click.UsageError("give MODEL or --where / --models, not both")
    if model is None and where is None and models is None:
        raise click.UsageError("give MODEL, --where or --models")
    if model is not None and cluster is None:
        _record_one(loc, model, probe, names, batch_size, replace)
        return
    ids = [model] if model is not None else select_models(loc, where, models)
    _record_many(loc, ids, probe, names, batch_size, replace, cluster)


def _record_one(loc: Locations, model: str | int, probe: str, names: list[str] | None,
                batch_size: int, replace: bool) -> None:
    """One model, in this process, with a progress bar per stage."""
    from zoo.model_runs import record_model
    from zoo.train import report_progress

    started = time.perf_counter()
    with open_catalog(loc) as cat:
        model_id = cat.resolve_model(model)
        name = cat.get_model(model_id).name
        have = {a.layer: a for a in cat.list_activations(model_id, probe=probe)}
        wanted = names or ["predictions"]
        stored = not replace and all(n in have for n in wanted)
        if stored:
            note(f"already recorded: model {name} on probe set {probe!r} "
                         "(--replace records again)")
            records = list(have.values()) if names is None else [have[n] for n in names]
        else:
            try:
                with ProgressView(name or str(model_id)) as view, \
                        report_progress(view.on_step):
                    records = record_model(cat, model_id, probe, names, batch_size=batch_size,
                                           replace=replace)
            except ValueError as exc:  # e.g. unknown layer names, from the recorder
                raise click.ClickException(str(exc).splitlines()[0]) from exc
    what = [f"activations of model {name} on probe set {probe!r}: "
            f"{len(records)} arrays ({', '.join(r.layer for r in records)})"]
    print_table([{"layer": r.layer, "shape": list(r.shape), "dtype": r.dtype,
                  "sha256": r.sha256[:12]} for r in records], ["layer", "shape", "dtype",
                                                                "sha256"],
                title=f"model {name} on probe set {probe!r}")
    print_summary(loc, time.perf_counter() - started, [] if stored else what,
                  found=what if stored else ())


def _record_many(loc: Locations, refs: Sequence[str | int], probe: str, names: list[str] | None,
                 batch_size: int, replace: bool, cluster: str | None) -> None:
    """Many models, one task each: on the cluster, else in this process."""
    from zoo.cluster import record_models

    started = time.perf_counter()
    with open_catalog(loc) as cat:
        ids = [cat.resolve_model(r) for r in refs]
        cat.get_probe_set(probe)  # an unknown probe set fails here, before any task
        try:
            done = set(record_models(cat, ids, probe, names, cluster=cluster,
                                     batch_size=batch_size, replace=replace))
        except ValueError as exc:  # e.g. unknown layer names, from a recorder
            raise click.ClickException(str(exc).splitlines()[0]) from exc
        rows = [{"model": cat.get_model(m).name, "id": m,
                 "layers": len(cat.list_activations(m, probe=probe)),
                 "now": "recorded" if m in done else "stored already"} for m in ids]
    print_table(rows, ["model", "id", "layers", "now"],
                title=f"{len(ids)} models on probe set {probe!r}")
    new = [r["model"] for r in rows if r["now"] == "recorded"]
    old = [r["model"] for r in rows if r["now"] != "recorded"]
    print_summary(loc, time.perf_counter() - started,
                  [f"activations of {len(new)} models on probe set {probe!r}"] if new else [],
                  found=[f"activations of {len(old)} models on probe set {probe!r}"]
                  if old else ())


def register_commands(group: click.Group) -> None:
    """Attach the model commands to the top-level group."""
    for command in (train, eval_cmd, record):
        group.add_command(command)

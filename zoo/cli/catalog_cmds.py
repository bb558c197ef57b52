"""Catalog commands: init, register, ls, show, tag, untag, rm, check, db."""

from __future__ import annotations

from typing import Any

import click

from store import Catalog, MetricRecord
from store.schema import current_revision, head_revision
from zoo.cli._common import (
    ZooGroup,
    echo_json,
    json_option,
    location_options,
    make_progress,
    open_catalog,
    print_table,
    stderr,
)
from zoo.registry import load_arch, load_state_dict_file
from zoo.settings import Locations

__all__ = ["register_commands"]

KIND_CHOICE = click.Choice(["gmn", "ngt", "mlp", "mlp-weights", "cnn", "other"])


@click.command()
@location_options
def init(loc: Locations) -> None:
    """Create a catalog (SQLite + local arrays under ./zoo-home by default).

    Running it on an existing catalog upgrades it to the newest schema.

    Example: zoo init --home /data/my-zoo
    """
    with Catalog.create(loc.db_url, loc.arrays_url) as cat:
        click.echo(f"catalog ready: {cat.url} (arrays: {cat.arrays.root})")


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--kind", type=KIND_CHOICE, required=True, help="What kind of model this is.")
@click.option("--dataset", help="Name of the registered dataset it was trained on.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1),
              help="Random seed it was trained with.")
@click.option("--arch", help="Architecture: a JSON file or inline JSON object.")
@click.option("--name", help="A human-readable name.")
@click.option("--parent", type=int, help="Id of the model this one derives from (lineage).")
@click.option("--tag", "tags", multiple=True, help="Tag to attach (repeatable).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME=VALUE",
              help="A metric to store with it, e.g. --metric test_acc=0.97 (repeatable).")
@json_option
@location_options
def register(loc: Locations, checkpoint: str, kind: str, dataset: str | None, seed: int | None,
             arch: str | None, name: str | None, parent: int | None, tags: tuple[str, ...],
             metrics: tuple[str, ...], as_json: bool) -> None:
    """Register a trained model from a checkpoint (.safetensors, or a .pt/.pth state dict).

    Pickled checkpoints are loaded with weights_only=True: anything but tensors is refused.

    Example: zoo register cnn.safetensors --kind cnn --dataset mnist-5k --seed 3
    --arch arch.json --tag baseline
    """
    parsed_metrics = [_parse_metric(m) for m in metrics]
    arch_dict = load_arch(arch)
    _, blob = load_state_dict_file(checkpoint)
    with open_catalog(loc) as cat:
        record = cat.add_model(kind, checkpoint=blob, arch=arch_dict, dataset=dataset, seed=seed,
                               name=name, parent_id=parent, tags=tags, metrics=parsed_metrics,
                               config={"source_file": checkpoint})
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(f"registered model {record.id} ({record.kind}, sha256 {record.sha256[:12]})"
                   if record.sha256 else f"registered model {record.id}")


def _parse_metric(text: str) -> MetricRecord:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return MetricRecord(model_id=0, name=name.strip(), value=float(value))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use NAME=NUMBER, e.g. test_acc=0.97",
                                 param_hint="--metric") from None


@click.command(name="ls")
@click.option("--kind", help="Only models of this kind (inr, gmn, mlp, mlp-weights, cnn, ...).")
@click.option("--dataset", help="Only models of this dataset (name or id).")
@click.option("--tag", help="Only models with this tag.")
@click.option("--population", help="Only INRs of this population (name or id).")
@click.option("--limit", type=click.IntRange(1, 2**31 - 1), help="At most this many rows.")
@json_option
@location_options
def ls_cmd(loc: Locations, kind: str | None, dataset: str | None, tag: str | None,
           population: str | None, limit: int | None, as_json: bool) -> None:
    """List models. INRs are listed only with --kind inr or --population.

    Example: zoo ls --kind cnn --dataset mnist-5k --tag baseline --json
    """
    with open_catalog(loc) as cat:
        records = cat.list_models(kind=kind, dataset=dataset, tag=tag, population=population,
                                  include_inrs=population is not None, limit=limit)
        hidden_inrs = cat.count_models("inr") if kind is None and population is None else 0
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    rows = [{**r.to_dict(), "tags": ",".join(r.tags), "sha256": (r.sha256 or "")[:12]}
            for r in records]
    print_table(rows, ["id", "kind", "name", "dataset_id", "seed", "parent_id", "tags", "sha256",
                       "created_at"])
    if hidden_inrs:
        stderr.print(f"({hidden_inrs} INRs not shown: use --kind inr or --population)")


@click.command()
@click.argument("model_id", type=int)
@json_option
@location_options
def show(loc: Locations, model_id: int, as_json: bool) -> None:
    """Show one model: metadata, arrays, metrics, lineage and checksum.

    Example: zoo show 12 --json
    """
    with open_catalog(loc) as cat:
        record = cat.get_model(model_id)
        info: dict[str, Any] = record.to_dict()
        info["metrics"] = [m.to_dict() for m in cat.get_metrics(model_id)]
        info["activations"] = [a.to_dict() for a in cat.list_activations(model_id)]
        info["lineage"] = [r.id for r in cat.lineage(model_id)][1:]
        info["children"] = [r.id for r in cat.children(model_id)]
        info["checkpoint_url"] = (f"{cat.arrays.root}/{record.checkpoint_key}"
                                  if record.checkpoint_key else None)
    if as_json:
        echo_json(info)
        return
    for key in ("id", "kind", "name", "dataset_id", "population_id", "population_row",
                "sample_id", "seed", "parent_id", "status", "created_at", "sha256",
                "checkpoint_url", "tags", "arch", "config", "lineage", "children"):
        click.echo(f"{key:>15}: {info[key]}")
    if info["metrics"]:
        print_table(info["metrics"], ["name", "value", "step", "split"], title="metrics")
    if info["activations"]:
        print_table(info["activations"], ["layer", "probe_set_id", "shape", "dtype", "sha256"],
                    title="activations")


@click.command()
@click.argument("model_id", type=int)
@click.argument("tags", nargs=-1, required=True)
@location_options
def tag(loc: Locations, model_id: int, tags: tuple[str, ...]) -> None:
    """Add tags to a model.

    Example: zoo tag 12 reviewed paper-figure
    """
    with open_catalog(loc) as cat:
        record = cat.tag(model_id, *tags)
    click.echo(f"model {record.id} tags: {', '.join(record.tags)}")


@click.command()
@click.argument("model_id", type=int)
@click.argument("tags", nargs=-1, required=True)
@location_options
def untag(loc: Locations, model_id: int, tags: tuple[str, ...]) -> None:
    """Remove tags from a model.

    Example: zoo untag 12 reviewed
    """
    with open_catalog(loc) as cat:
        record = cat.untag(model_id, *tags)
    click.echo(f"model {record.id} tags: {', '.join(record.tags) or '(none)'}")


@click.command()
@click.argument("model_id", type=int)
@location_options
def rm(loc: Locations, model_id: int) -> None:
    """Remove a model with its checkpoint, metrics, tags and activations.

    Example: zoo rm 12
    """
    with open_catalog(loc) as cat:
        record = cat.remove_model(model_id)
    click.echo(f"removed model {record.id} ({record.kind})")


@click.command()
@click.option("--fix", is_flag=True, help="Delete orphaned arrays/files and stale cached "
              "similarities (nothing else; safe while other processes write).")
@json_option
@location_options
def check(loc: Locations, fix: bool, as_json: bool) -> None:
    """Verify every array and checkpoint against its checksum; find orphans and stale
    cached similarities (computed from arrays since replaced).

    Exits 1 when anything is missing, mismatched, orphaned or stale (after --fix: left).

    Example: zoo check --fix
    """
    with open_catalog(loc) as cat, make_progress(transient=True) as progress:
        task = progress.add_task("verifying", total=None, status="")
        report = cat.check(fix=fix, progress=lambda d, t: progress.update(task, completed=d,
                                                                          total=t))
    if as_json:
        echo_json({**report.__dict__, "ok": report.ok})
    else:
        click.echo(f"checked {report.checked} arrays and files")
        for label, items in (("missing", report.missing), ("checksum mismatch", report.mismatched),
                             ("orphan", report.orphans), ("removed orphan", report.removed),
                             ("still being written (left alone)", report.in_progress),
                             ("stale cached similarity", report.stale_similarities),
                             ("removed cached similarity", report.removed_similarities),
                             ("partial population", report.partial_populations)):
            for item in items:
                click.echo(f"{label}: {item}")
        click.echo("ok" if report.ok else "problems found" + ("" if fix else
                   " (orphans and stale similarities can be removed with `zoo check --fix`)"))
    if not report.ok:
        raise SystemExit(1)


@click.group(cls=ZooGroup)
def db() -> None:
    """Manage the catalog database schema."""


@db.command(name="upgrade")
@location_options
def db_upgrade(loc: Locations) -> None:
    """Upgrade the catalog schema to the newest version (back it up first).

    Example: zoo db upgrade --db postgresql://postgres@127.0.0.1/zoo
    """
    with Catalog.create(loc.db_url, loc.arrays_url) as cat:
        click.echo(f"catalog schema at {current_revision(cat.engine)} (head {head_revision()})")


@db.command(name="current")
@location_options
def db_current(loc: Locations) -> None:
    """Print the catalog's schema revision and the newest this zoo knows.

    Example: zoo db current
    """
    from store._db import make_engine

    engine = make_engine(loc.db_url)
    try:
        click.echo(f"current: {current_revision(engine)}  head: {head_revision()}")
    finally:
        engine.dispose()


def register_commands(group: click.Group) -> None:
    """Attach the catalog commands to the top-level group."""
    for command in (init, register, ls_cmd, show, tag, untag, rm, check, db):
        group.add_command(command)

"""Catalog commands: init, register, ls, show, tag, untag, rm, check, db."""

from __future__ import annotations

from typing import Any

import click

from store import Catalog, MetricRecord
from store.schema import current_revision, head_revision
from zoo.cli._common import (
    MODEL,
    ZooGroup,
    echo_json,
    json_option,
    location_options,
    make_progress,
    open_catalog,
    print_table,
    stderr,
)
from zoo.cli._types import COUNT, SEED
from zoo.settings import Locations

__all__ = ["register_commands"]


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
@click.option("--kind", required=True,
              help="What kind of model this is: a zoo kind (gmn, ngt, mlp-weights, mlp, cnn), "
                   "a plugin's, or any name of lowercase letters, digits and '-' (e.g. other).")
@click.option("--dataset", help="Name of the registered dataset it was trained on.")
@click.option("--seed", type=SEED, help="Random seed it was trained with.")
@click.option("--arch", help="Architecture: a JSON file or inline JSON object.")
@click.option("--name", help="A unique readable name (default KIND-sSEED@DATASET, with #2, "
                             "#3 ... before the @ when taken).")
@click.option("--parent", type=MODEL,
              help="The model this one derives from (lineage): an id, name or KIND:SEED.")
@click.option("--tag", "tags", multiple=True, help="Tag to attach (repeatable).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME=VALUE",
              help="A metric to store with it, e.g. --metric test_acc=0.97 (repeatable).")
@json_option
@location_options
def register(loc: Locations, checkpoint: str, kind: str, dataset: str | None, seed: int | None,
             arch: str | None, name: str | None, parent: str | int | None, tags: tuple[str, ...],
             metrics: tuple[str, ...], as_json: bool) -> None:
    """Register a trained model from a checkpoint (.safetensors, or a .pt/.pth state dict).

    Pickled checkpoints are loaded with weights_only=True: anything but tensors is refused.

    Example: zoo register cnn.safetensors --kind cnn --dataset mnist-5k --seed 3
    --arch arch.json --tag baseline
    """
    from zoo.checkpoints import load_arch, load_state_dict_file

    parsed_metrics = [_parse_metric(m) for m in metrics]
    arch_dict = load_arch(arch)
    _, blob = load_state_dict_file(checkpoint)
    with open_catalog(loc) as cat:
        parent_id = cat.resolve_model(parent) if parent is not None else None
        record = cat.add_model(kind, checkpoint=blob, arch=arch_dict, dataset=dataset, seed=seed,
                               name=name, parent_id=parent_id, tags=tags, metrics=parsed_metrics,
                               config={"source_file": checkpoint})
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(f"registered model {record.name} (id {record.id}, {record.kind}"
                   + (f", sha256 {record.sha256[:12]})" if record.sha256 else ")"))


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
@click.option("--seed", type=SEED, help="Only models with this seed.")
@click.option("--limit", type=COUNT, help="At most this many rows.")
@json_option
@location_options
def ls_cmd(loc: Locations, kind: str | None, dataset: str | None, tag: str | None,
           population: str | None, seed: int | None, limit: int | None, as_json: bool) -> None:
    """List models, oldest first. INRs are listed only with --kind inr or --population.

    The name column is what every command accepts in place of an id.

    Example: zoo ls --kind cnn --dataset mnist-5k --tag reproduce --json
    """
    with open_catalog(loc) as cat:
        records = cat.list_models(kind=kind, dataset=dataset, tag=tag, population=population,
                                  include_inrs=population is not None,
                                  limit=limit if seed is None else None)
        if seed is not None:
            records = [r for r in records if r.seed == seed][:limit]
        hidden_inrs = cat.count_models("inr") if kind is None and population is None else 0
        datasets = {d.id: d.name for d in cat.list_datasets()}
        populations = {p.id: p.name for p in cat.list_populations()}
    rows = [{**r.to_dict(), "dataset": datasets.get(r.dataset_id) if r.dataset_id else None,
             "population": populations.get(r.population_id) if r.population_id else None}
            for r in records]  # the keys are models_wide's columns in `zoo sql`
    if as_json:
        echo_json(rows)
        return
    print_table([{**r, "tags": ",".join(r["tags"]), "sha256": (r["sha256"] or "")[:12]}
                 for r in rows], ["name", "id", "kind", "seed", "dataset", "tags", "sha256",
                                  "created_at"])
    if hidden_inrs:
        stderr.print(f"({hidden_inrs} INRs not shown: use --kind inr or --population)")


@click.command()
@click.argument("model", type=MODEL)
@json_option
@location_options
def show(loc: Locations, model: str | int, as_json: bool) -> None:
    """Show one model: what it is, how it scored, what is recorded, where it lives.

    MODEL is an id, a name (see `zoo ls`) or KIND:SEED. The summary rounds numbers and
    lists final metrics only; --json gives everything (every per-epoch metric too).

    Example: zoo show cnn:0
    """
    with open_catalog(loc) as cat:
        model_id = cat.resolve_model(model)
        record = cat.get_model(model_id)
        info: dict[str, Any] = record.to_dict()
        info["dataset"] = (cat.get_dataset(record.dataset_id).name
                           if record.dataset_id is not None else None)
        info["population"] = (cat.get_population(record.population_id).name
                              if record.population_id is not None else None)
        info["metrics"] = [m.to_dict() for m in cat.get_metrics(model_id)]
        probes = {p.id: p.name for p in cat.list_probe_sets()}
        info["activations"] = [{**a.to_dict(), "probe_set": probes.get(a.probe_set_id)}
                               for a in cat.list_activations(model_id)]
        parents, children = cat.lineage(model_id)[1:], cat.children(model_id)
        info["lineage"], info["children"] = [r.id for r in parents], [r.id for r in children]
        info["lineage_names"] = [r.name for r in parents]
        info["children_names"] = [r.name for r in children]
        info["checkpoint_url"] = (f"{cat.arrays.root}/{record.checkpoint_key}"
                                  if record.checkpoint_key else None)
    if as_json:
        echo_json(info)
        return
    for key, value in _summary(info):
        click.echo(f"{key:>12}: {value}")
    if info["activations"]:
        print_table([{**a, "shape": "x".join(map(str, a["shape"]))} for a in info["activations"]],
                    ["layer", "probe_set", "shape", "dtype"], title="recorded activations")


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def _summary(info: dict[str, Any]) -> list[tuple[str, str]]:
    """``zoo show``'s readable lines: identity, source, final metrics, history, files."""
    final = {m["name"]: m["value"] for m in info["metrics"] if m["step"] is None
             or m["name"] == "best_val_acc"}
    epochs = sorted({m["step"] for m in info["metrics"] if m["step"] is not None
                     and m["name"] == "val_acc"})
    arch = ", ".join(f"{k}={v}" for k, v in info["arch"].items()
                     if not isinstance(v, dict | list)) or "-"
    lines = [("name", str(info["name"])), ("id", str(info["id"])),
             ("kind", f"{info['kind']}, seed {info['seed']}"),
             ("trained on", str(info["population"] or info["dataset"] or "-")),
             ("status", f"{info['status']}, created {info['created_at']}"),
             ("tags", ", ".join(info["tags"]) or "-"), ("arch", arch)]
    if final:
        lines.append(("metrics", ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(final.items()))))
    if epochs:
        best = info["config"].get("best_epoch")
        lines.append(("history", f"{len(epochs)} epochs" + (f", best epoch {best}" if best
                                                              else "") + " (--json for each)"))
    if info["sha256"]:
        lines.append(("sha256", info["sha256"]))
    if info["checkpoint_url"]:
        lines.append(("checkpoint", info["checkpoint_url"]))
    if info["lineage"] or info["children"]:
        lines.append(("lineage", f"parents {', '.join(info['lineage_names']) or '-'}; "
                                 f"children {', '.join(info['children_names']) or '-'}"))
    return lines


@click.command()
@click.argument("model", type=MODEL)
@click.argument("tags", nargs=-1, required=True)
@location_options
def tag(loc: Locations, model: str | int, tags: tuple[str, ...]) -> None:
    """Add tags to a model (an id, a name or KIND:SEED).

    Example: zoo tag cnn:0 reviewed paper-figure
    """
    with open_catalog(loc) as cat:
        record = cat.tag(cat.resolve_model(model), *tags)
    click.echo(f"model {record.name} (id {record.id}) tags: {', '.join(record.tags)}")


@click.command()
@click.argument("model", type=MODEL)
@click.argument("tags", nargs=-1, required=True)
@location_options
def untag(loc: Locations, model: str | int, tags: tuple[str, ...]) -> None:
    """Remove tags from a model (an id, a name or KIND:SEED).

    Example: zoo untag cnn:0 reviewed
    """
    with open_catalog(loc) as cat:
        record = cat.untag(cat.resolve_model(model), *tags)
    click.echo(f"model {record.name} (id {record.id}) tags: {', '.join(record.tags) or '(none)'}")


@click.command()
@click.argument("model", type=MODEL)
@location_options
def rm(loc: Locations, model: str | int) -> None:
    """Remove a model with its checkpoint, metrics, tags and activations.

    MODEL is an id, a name or KIND:SEED (see `zoo ls`).

    Example: zoo rm cnn:0
    """
    with open_catalog(loc) as cat:
        record = cat.remove_model(cat.resolve_model(model))
    click.echo(f"removed model {record.name} (id {record.id}, {record.kind})")


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
    """Manage the catalog database schema.

    \b
    Examples:
      zoo db current
      zoo db upgrade --db postgresql://postgres@127.0.0.1/zoo
    """


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

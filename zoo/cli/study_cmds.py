"""The study commands: `zoo reproduce` (the product's main job) and `zoo report`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from store import Catalog
from zoo.cli._cluster import cluster_option
from zoo.cli._common import location_options, open_catalog, print_table
from zoo.cli._progress import ProgressView, print_summary
from zoo.cli._types import COUNT, OUT_DIR
from zoo.settings import Locations

__all__ = ["RichReporter", "register_commands"]


class RichReporter:
    """A :class:`~zoo.study.run.Reporter` on a :class:`ProgressView`: a bar per stage and
    per trained model, moved by every batch its worker trains; off a terminal a line per
    milestone (an epoch, a stored model) and a heartbeat while a stage runs."""

    def __init__(self, view: ProgressView) -> None:
        self.view = view

    def start(self, key: str, description: str, total: float | None) -> None:
        """Begin (or re-size) a task."""
        self.view.start(key, description, total)

    def update(self, key: str, completed: float, status: str = "") -> None:
        """Move a task on: a milestone, also printed off a terminal."""
        self.view.update(key, completed, status, line=bool(status))

    def step(self, key: str, completed: float, status: str = "") -> None:
        """Move a task inside a step (a batch): off a terminal only the heartbeat shows it."""
        self.view.update(key, completed, status)

    def say(self, message: str) -> None:
        """A line of news above the bars."""
        self.view.say(f"• {message}")


def _profile(name: str, seeds: str | None, kinds: str | None, epochs: tuple[str, ...],
             probe: str | None, workers: int | None) -> Any:
    from zoo.study.profiles import PROFILES, parse_overrides

    return parse_overrides(PROFILES[name], seeds, kinds, epochs, probe, workers)


def _dry_run(loc: Locations, profile: Any) -> None:
    from zoo.inr.fit import available_cores
    from zoo.study.profiles import estimate_seconds
    from zoo.study.run import measured_epoch_seconds

    measured: dict[str, float] = {}
    if loc.db_url.startswith("sqlite:///") and Path(loc.db_url[10:]).exists():
        with open_catalog(loc) as cat:
            measured = measured_epoch_seconds(cat)
    rows = [{"field": f.name, "value": str(v)} for f, v in
            ((f, getattr(profile, f.name)) for f in dataclasses.fields(profile))]
    print_table(rows, ["field", "value"], title=f"profile {profile.name}")
    workers = profile.workers or available_cores()
    est = estimate_seconds(profile, workers, measured)
    source = f"measured on this catalog for {', '.join(sorted(measured))}" if measured \
        else "built-in per-epoch times of this 2-core machine"
    print_table([{"stage": k, "minutes": f"{v / 60:.1f}"} for k, v in est.items()],
                ["stage", "minutes"],
                title=f"time estimate, {workers} worker(s)")
    click.echo(f"(per-epoch times: {source}; setup = scripts/setup.sh on a fresh clone)")


@click.command()
@click.option("--profile", "profile_name", type=click.Choice(["quick", "full"]),
              default="quick", show_default=True,
              help="quick: 3 seeds of gmn, mlp, cnn, few epochs (<= 20 min here); full: "
                   "5 seeds, 4 kinds, 20-30 epochs (hours, resumable).")
@click.option("--seeds", help="Seeds of every kind, e.g. 0,1,2,3 (at least 3).")
@click.option("--kinds", help="Kinds to train, e.g. gmn,mlp,cnn.")
@click.option("--epochs", multiple=True, metavar="KIND=N",
              help="Epochs of a kind, e.g. --epochs gmn=30 (repeat or comma-separate).")
@click.option("--probe", help="Probe set <split>-<n>, e.g. test-1000.")
@click.option("--workers", type=COUNT, help="Training processes (default: one per core).")
@click.option("--out", type=OUT_DIR, default=None,
              help="Folder for report.md and report.html (default: HOME/report).")
@click.option("--dry-run", is_flag=True, help="Print the profile and a time estimate only.")
@cluster_option
@location_options
def reproduce(loc: Locations, profile_name: str, seeds: str | None, kinds: str | None,
              epochs: tuple[str, ...], probe: str | None, workers: int | None,
              out: str | None, dry_run: bool, cluster: str | None) -> None:
    """Reproduce Yeom & Lee (2025), "On the Internal Representations of Graph
    Metanetworks": INRs -> GMNs and baselines (several seeds, trained in parallel) ->
    activations -> CKA of every layer pair, agreements, ensembles -> the four findings
    judged with bootstrap intervals -> report.md + report.html. Resumable: run it again
    after an interruption and it continues; nothing is trained twice. With --cluster the
    INR chunks and the trainings run as tasks on the Dask cluster's workers.

    Example: zoo reproduce --profile quick --epochs gmn=12
    """
    from zoo.study.run import reproduce as run_study

    profile = _profile(profile_name, seeds, kinds, epochs, probe, workers)
    if dry_run:
        _dry_run(loc, profile)
        return
    from zoo.outcomes import model_outcomes

    out_dir = Path(out) if out else loc.home / "report"
    with Catalog.create(loc.db_url, loc.arrays_url) as cat, ProgressView() as view:
        result = run_study(cat, profile, out_dir, RichReporter(view), cluster=cluster)
        outcomes = model_outcomes(cat, result.model_ids)
        names = {o.model_id: o.name for o in outcomes}
    click.echo(f"study {result.study}: {len(result.model_ids)} models ({result.trained} "
               f"trained now) in {result.seconds['total'] / 60:.1f} min")
    for f in result.findings:
        click.echo(f"  {f.finding}. {f.name}: {f.verdict} (difference {f.difference:+.3f}, "
                   f"interval [{f.ci_low:+.3f}, {f.ci_high:+.3f}])")
    click.echo(f"report: {result.report_md}\n        {result.report_html}")
    click.echo(f"next: zoo sql \"SELECT * FROM findings\", zoo report --study {result.study}")
    created = [f"population {result.population!r}"] if result.population_fitted else []
    if result.new_model_ids:
        created.append(f"{len(result.new_model_ids)} models: "
                       + ", ".join(names[i] for i in result.new_model_ids))
    old = [i for i in result.model_ids if i not in result.new_model_ids]
    found = [f"population {result.population!r}"] if (
        result.population and not result.population_fitted) else []
    if old:
        found.append(f"{len(old)} models: " + ", ".join(names[i] for i in old))
    print_summary(loc, result.seconds["total"], created, outcomes, found=found,
                  extra=[f"study {result.study!r}, report {result.report_html}"])


@click.command()
@click.option("--study", help="Study name (default: the most recent one).")
@click.option("--out", type=OUT_DIR, default=None,
              help="Folder for report.md and report.html (default: HOME/report).")
@location_options
def report(loc: Locations, study: str | None, out: str | None) -> None:
    """Render a study's report again from the catalog alone (no training, no computing).

    Example: zoo report --study quick --out report/
    """
    from analysis.study.report import render_report
    from store import NotFoundError

    with open_catalog(loc) as cat:
        names = cat.list_studies()
        if study is None:
            if not names:
                raise NotFoundError("the catalog holds no study: run `zoo reproduce` first")
            study = names[-1]
        md, html = render_report(cat, study, Path(out) if out else loc.home / "report")
        verdicts = [(f.finding, f.name, f.verdict) for f in cat.get_findings(study)]
    for number, name, verdict in verdicts:
        click.echo(f"  {number}. {name}: {verdict}")
    click.echo(f"report: {md}\n        {html}")


def register_commands(group: click.Group) -> None:
    """Attach the study commands to the top-level group."""
    group.add_command(reproduce)
    group.add_command(report)

"""The main-job command: `zoo quickstart`."""

from __future__ import annotations

from typing import Literal, cast

import click

from store import Catalog
from zoo.cli._common import location_options, print_table
from zoo.cli._progress import ProgressView, print_summary
from zoo.cli._types import COUNT, OUT_DIR
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.command()
@click.option("--inrs", type=COUNT, help="Fit only this many INRs (default: every image).")
@click.option("--epochs", type=COUNT, default=5, show_default=True,
              help="Training epochs of every model (a GMN epoch on 3,500 INRs takes ~25 s "
                   "on one core).")
@click.option("--seeds", default="0,1", show_default=True, help="Seeds of every model kind.")
@click.option("--init", "init", type=click.Choice(["per-inr", "shared"]), default="per-inr",
              show_default=True,
              help="INR initialisation (see `zoo inr fit --init`); shared-init INRs are far "
                   "easier for the weight-space models.")
@click.option("--out", type=OUT_DIR, default=None,
              help="Folder for the figures (default: HOME/figures).")
@location_options
def quickstart(loc: Locations, inrs: int | None, epochs: int, seeds: str, init: str,
               out: str | None) -> None:
    """The main job on one catalog: bundled MNIST -> 5,000 INRs -> GMNs and baselines
    -> activations -> CKA matrix. Resumable: run it again to continue.

    Example: zoo quickstart --inrs 1000 --epochs 5
    """
    import time
    from pathlib import Path

    from analysis.plots import penultimate_cka_figure
    from zoo.inr.fit import FitConfig
    from zoo.outcomes import model_outcomes
    from zoo.pipeline import PipelineConfig, run_pipeline
    from zoo.train import report_progress

    started = time.perf_counter()

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"{seeds!r}: give seeds like 0,1", param_hint="--seeds") from None
    fit = FitConfig(init=cast(Literal["per-inr", "shared"], init))
    config = PipelineConfig(n_inrs=inrs, seeds=seed_list, epochs={}, default_epochs=epochs,
                            fit=fit)
    with Catalog.create(loc.db_url, loc.arrays_url) as cat, ProgressView() as view, \
            report_progress(view.on_step):
        before = {m.id for m in cat.list_models(include_inrs=False)}
        pops = {p.name for p in cat.list_populations() if p.status == "complete"}

        fitting: list[int] = []

        def fit_progress(done: int, total: int, psnr: float) -> None:
            if not fitting:  # the first report: where this fit starts (none when all stored)
                fitting.append(done)
                view.start("fit", "fit INRs" + (f" (resuming at {done})" if done else ""),
                           total)
            view.update("fit", done, f"mean PSNR {psnr:.1f} dB", line=bool(done))

        def say(message: str) -> None:
            view.say(f"• {message}")
            if not message.startswith(" "):  # a new step: it labels the batch bars
                view.context = message.split(" (")[0]

        result = run_pipeline(cat, config, Path(out) if out else loc.home / "figures",
                              say=say, fit_progress=fit_progress,
                              figures=penultimate_cka_figure)
        outcomes = model_outcomes(cat, [m.id for m in result.models])
        rows = [{"name": model.name, "id": model.id, "kind": model.kind, "seed": model.seed,
                 "test_acc": "" if o.accuracy is None else f"{o.accuracy:.4f}"}
                for model, o in zip(result.models, outcomes, strict=True)]
    print_table(rows, ["name", "id", "kind", "seed", "test_acc"],
                title=f"models on {result.population}")
    for path in result.figures:
        click.echo(f"figure: {path}")
    click.echo("next: zoo cka-matrix --where \"kind = 'gmn'\" --layer penultimate, "
               "zoo sql \"SELECT * FROM similarity_pairs\"")
    new = [m.name or str(m.id) for m in result.models if m.id not in before]
    created = ([f"population {result.population!r}"] if result.population not in pops else [])
    created += [f"{len(new)} models: {', '.join(new)}"] if new else []
    old = [m.name or str(m.id) for m in result.models if m.id in before]
    print_summary(loc, time.perf_counter() - started, created, outcomes,
                  found=[f"{len(old)} models: {', '.join(old)}"] if old else (),
                  extra=[f"figures {', '.join(map(str, result.figures))}"])


def register_commands(group: click.Group) -> None:
    """Attach the pipeline commands to the top-level group."""
    group.add_command(quickstart)

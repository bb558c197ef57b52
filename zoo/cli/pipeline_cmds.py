"""The main-job command: `zoo quickstart`."""

from __future__ import annotations

from typing import Literal, cast

import click

from store import Catalog
from zoo.cli._common import location_options, make_progress, print_table, stderr
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
    from pathlib import Path

    from zoo.inr.fit import FitConfig
    from zoo.pipeline import PipelineConfig, run_pipeline

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"{seeds!r}: give seeds like 0,1", param_hint="--seeds") from None
    fit = FitConfig(init=cast(Literal["per-inr", "shared"], init))
    config = PipelineConfig(n_inrs=inrs, seeds=seed_list, epochs={}, default_epochs=epochs,
                            fit=fit)
    with Catalog.create(loc.db_url, loc.arrays_url) as cat, make_progress() as progress:
        task = progress.add_task("fitting INRs", total=None, status="")

        def fit_progress(done: int, total: int, psnr: float) -> None:
            progress.update(task, completed=done, total=total, status=f"mean PSNR {psnr:.1f} dB")
            if progress.disable and done:  # not a terminal: a plain line per stored chunk
                stderr.print(f"fitted {done}/{total} INRs, mean PSNR {psnr:.1f} dB")

        result = run_pipeline(cat, config, Path(out) if out else loc.home / "figures",
                              say=lambda msg: progress.console.print(f"• {msg}"),
                              fit_progress=fit_progress)
        rows = []
        for model in result.models:
            metrics = {m.name: m.value for m in cat.get_metrics(model.id)}
            rows.append({"id": model.id, "kind": model.kind, "seed": model.seed,
                         "test_acc": f"{metrics.get('test_acc', float('nan')):.4f}"})
    print_table(rows, ["id", "kind", "seed", "test_acc"], title=f"models on {result.population}")
    for path in result.figures:
        click.echo(f"figure: {path}")
    click.echo("next: zoo cka-matrix --where \"kind = 'gmn'\" --layer penultimate, "
               "zoo sql \"SELECT * FROM similarity_pairs\"")


def register_commands(group: click.Group) -> None:
    """Attach the pipeline commands to the top-level group."""
    group.add_command(quickstart)

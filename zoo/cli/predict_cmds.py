"""Prediction commands: `zoo agree` (accuracy, agreement, kappa and ensembles)."""

from __future__ import annotations

import click

from zoo.cli._common import (
    echo_json,
    json_option,
    location_options,
    model_selection_options,
    open_catalog,
    print_table,
    select_models,
    stderr,
)
from zoo.settings import Locations

__all__ = ["register_commands"]


@click.command(name="agree")
@model_selection_options
@click.option("--probe", help="Probe set (default: the one every model was recorded on).")
@click.option("--ensemble/--no-ensemble", default=True, show_default=True,
              help="Also report the accuracy of the models' averaged logits.")
@json_option
@location_options
def agree(loc: Locations, where: str | None, models: str | None, probe: str | None,
          ensemble: bool, as_json: bool) -> None:
    """Compare what models predict on a probe set, pair by pair.

    Per pair: both accuracies, agreement, Cohen's kappa and the fractions of samples both,
    only the first or only the second classify correctly; then the accuracy of the
    ensemble that averages all their logits. Needs `zoo record` of every model.

    Example: zoo agree --models 5001,5005,5007 --probe test-500
    """
    from analysis.predictions import ensemble_accuracy, prediction_pairs

    with open_catalog(loc) as cat:
        ids = select_models(loc, where, models)
        frame = prediction_pairs(cat, ids, probe)
        together = ensemble_accuracy(cat, ids, probe) if ensemble else None
    if as_json:
        echo_json({"pairs": frame.to_dict(orient="records"), "ensemble_acc": together,
                   "models": ids})
        return
    columns = [c for c in frame.columns if c != "probe_set"]
    print_table([{c: (f"{row[c]:.3f}" if isinstance(row[c], float) else row[c])
                  for c in columns} for _, row in frame.iterrows()], columns,
                title=f"predictions on probe set {frame['probe_set'].iloc[0]!r}")
    if together is not None:
        stderr.print(f"ensemble of {len(ids)} models (averaged logits): accuracy "
                     f"{together:.3f}")


def register_commands(group: click.Group) -> None:
    """Attach the prediction commands to the top-level group."""
    group.add_command(agree)

"""The ``zoo`` command line: a thin layer over ``store``, ``zoo`` and ``analysis``."""

from __future__ import annotations

import click

from zoo.cli._common import ZooGroup
from zoo.cli.catalog_cmds import register_commands as _catalog
from zoo.cli.data_cmds import register_commands as _data
from zoo.cli.inr_cmds import register_commands as _inr
from zoo.cli.pipeline_cmds import register_commands as _pipeline
from zoo.cli.predict_cmds import register_commands as _predict
from zoo.cli.probe_cmds import register_commands as _probe
from zoo.cli.sim_cmds import register_commands as _similarity
from zoo.cli.sql_cmds import register_commands as _sql
from zoo.cli.study_cmds import register_commands as _study
from zoo.cli.train_cmds import register_commands as _train

__all__ = ["cli", "main"]


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="model-zoo")
def cli() -> None:
    """A database-backed model zoo and representation store.

    Register INRs, graph metanetworks and baselines; record their activations;
    query CKA between any stored models; run SQL over the catalog.

    Start with the main job, which fills ./zoo-home (dataset, INRs, models, CKA, report):

        zoo reproduce --profile quick      (what scripts/run.sh runs; resumable)

    then look around: zoo ls, zoo show cnn:0, zoo sql "SELECT * FROM findings". Models
    are named KIND-sSEED@SOURCE and every command takes a name, an id or KIND:SEED.

    Where things live: --home / ZOO_HOME (default ./zoo-home), --db /
    ZOO_DATABASE_URL, --arrays / ZOO_ARRAYS_URL, given to each command.
    """


_catalog(cli)
_data(cli)
_inr(cli)
_pipeline(cli)
_predict(cli)
_probe(cli)
_similarity(cli)
_sql(cli)
_study(cli)
_train(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="zoo")

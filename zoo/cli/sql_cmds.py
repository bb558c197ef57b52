"""The ``zoo sql`` command: read-only SQL (DuckDB dialect) over the catalog."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo.cli._common import location_options, open_catalog, print_table, stderr
from zoo.cli._types import OUT_FILE
from zoo.settings import Locations

__all__ = ["register_commands", "sql"]

FORMATS = ("table", "csv", "json", "parquet")


@click.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table (stdout), csv, json (an array of row objects) or parquet (needs --out).")
@click.option("--out", type=OUT_FILE, metavar="FILE",
              help="Write csv/json/parquet to FILE instead of stdout.")
@location_options
def sql(loc: Locations, query: str, fmt: str, out: Path | None) -> None:
    """Run one read-only SQL query (DuckDB dialect) over the catalog; QUERY '-' reads stdin.

    Views: models, datasets, populations, metrics, tags, probe_sets, activations,
    similarities, and the joined models_wide, model_tags, model_metrics and
    similarity_pairs (kind_a/kind_b, seed_a/seed_b, dataset_a/dataset_b, probe_set,
    value, ...). Only SELECT-like statements run, on a read-only snapshot of the
    catalog: no file, URL, server-side SQL or other database is reachable.

    Example: zoo sql "SELECT kind_a, kind_b, avg(value) FROM similarity_pairs GROUP BY ALL"
    """
    if fmt == "parquet" and out is None:
        raise click.ClickException("--format parquet writes binary: give --out FILE.parquet")
    if fmt == "table" and out is not None:
        raise click.ClickException("--out needs --format csv, json or parquet")
    if query == "-":
        query = sys.stdin.read()
    from analysis.sql import run_sql
    from analysis.sql_output import frame_records, write_frame

    with open_catalog(loc):  # schema check; "run zoo init" / "zoo db upgrade" errors
        pass
    frame = run_sql(loc.db_url, query)
    if fmt == "table":
        rows = [{k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()}
                for r in frame_records(frame)]
        print_table(rows, [str(c) for c in frame.columns])
        stderr.print(f"{len(frame)} row{'s' if len(frame) != 1 else ''}")
        return
    write_frame(frame, fmt, out)
    if out is not None:
        stderr.print(f"wrote {len(frame)} rows to {out}")


def register_commands(group: click.Group) -> None:
    """Add ``sql`` to ``group`` (the ``zoo`` CLI)."""
    group.add_command(sql)

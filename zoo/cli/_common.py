"""What the CLI commands share: location options, catalog opening, output and progress."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from store import Catalog, InvalidInputError, ZooError
from zoo.settings import Locations, resolve_locations

__all__ = [
    "ZooGroup",
    "echo_json",
    "emit_rows",
    "json_option",
    "location_options",
    "make_progress",
    "model_selection_options",
    "open_catalog",
    "print_table",
    "select_models",
    "stderr",
]

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True)


class ZooGroup(click.Group):
    """A click group that turns the zoo's own errors into one ``Error:`` line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            stderr.print("interrupted: nothing half-written was registered")
            ctx.exit(130)


def location_options(fn: F) -> F:
    """Add ``--home``, ``--db`` and ``--arrays`` and pass the result as ``loc``."""

    @click.option("--home", envvar="ZOO_HOME", metavar="DIR",
                  help="Zoo home directory (default ./zoo-home; env ZOO_HOME).")
    @click.option("--db", envvar="ZOO_DATABASE_URL", metavar="URL",
                  help="Catalog database URL (default sqlite:///HOME/catalog.db; "
                       "env ZOO_DATABASE_URL), e.g. postgresql://user@host/db.")
    @click.option("--arrays", envvar="ZOO_ARRAYS_URL", metavar="URL",
                  help="Array store root, a directory or fsspec URL (default HOME/arrays; "
                       "env ZOO_ARRAYS_URL).")
    @functools.wraps(fn)
    def wrapper(*args: Any, home: str | None, db: str | None, arrays: str | None,
                **kwargs: Any) -> Any:
        return fn(*args, loc=resolve_locations(home, db, arrays), **kwargs)

    return wrapper  # type: ignore[return-value]


def json_option(fn: F) -> F:
    """Add ``--json``: print machine-readable JSON instead of a table."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON (for scripts) instead of a table.")(fn)


def model_selection_options(fn: F) -> F:
    """Add ``--where`` and ``--models`` (resolve them with :func:`select_models`)."""
    fn = click.option("--models", help="Comma-separated model ids (instead of --where).")(fn)
    return click.option(
        "--where", "where", help="SQL filter over models (columns of `models`, plus `dataset` "
        "and `population` names), e.g. \"kind = 'gmn'\".")(fn)


def open_catalog(loc: Locations) -> Catalog:
    """Open the catalog at ``loc``; errors say to run `zoo init` or `zoo db upgrade`."""
    return Catalog.open(loc.db_url, loc.arrays_url)


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    click.echo(json.dumps(obj, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Iterable[str], title: str | None = None
                ) -> None:
    """Print rows as a table on stdout (plain text when piped)."""
    cols = list(columns)
    table = Table(title=title, show_edge=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def emit_rows(rows: Sequence[dict[str, Any]], columns: Iterable[str], as_json: bool,
              title: str | None = None) -> None:
    """Print a listing: every field as JSON with ``--json``, else the chosen columns as a table."""
    if as_json:
        echo_json(list(rows))
    else:
        print_table(rows, columns, title)


def make_progress(transient: bool = False) -> Progress:
    """A rich progress bar on stderr (so stdout stays pipeable), quiet when not a TTY."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr, transient=transient, disable=not stderr.is_terminal,
    )


def select_models(loc: Locations, where: str | None, models: str | None) -> list[int]:
    """Model ids from exactly one of ``--where`` (an SQL filter over ``models``, plus
    ``dataset`` and ``population`` names) or ``--models`` (comma-separated ids)."""
    if (where is None) == (models is None):
        raise click.UsageError("give exactly one of --where or --models")
    if models is not None:
        try:
            return [int(x) for x in models.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter(f"{models!r}: give ids like 3,7,9",
                                     param_hint="--models") from None
    from analysis.sql import run_sql

    frame = run_sql(loc.db_url, "SELECT id FROM (SELECT m.*, d.name AS dataset, p.name AS "
                    "population FROM models m LEFT JOIN datasets d ON d.id = m.dataset_id "
                    "LEFT JOIN populations p ON p.id = m.population_id) AS models "
                    f"WHERE {where} ORDER BY id")
    ids = [int(x) for x in frame["id"]]
    if not ids:
        raise InvalidInputError(f"no model matches --where {where!r}")
    return ids

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
    "MODEL",
    "ModelRefType",
    "ZooGroup",
    "echo_json",
    "emit_rows",
    "json_option",
    "location_options",
    "make_progress",
    "model_selection_options",
    "note",
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
        except OSError as exc:  # a full disk, a permission, an I/O error: one line
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from exc
        except KeyboardInterrupt:
            stderr.print("interrupted: nothing half-written was registered")
            ctx.exit(130)


class ModelRefType(click.ParamType):
    """A model given by id (``5001``), name (``gmn-s0@mnist-5k/siren-w32-d3/s0``) or
    ``KIND:SEED`` (``cnn:1``); commands resolve it with ``Catalog.resolve_model``."""

    name = "MODEL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str | int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not text:
            self.fail("give a model id, name or KIND:SEED (see `zoo ls`)", param, ctx)
        return int(text) if text.isdigit() else text


#: The one option type for "a model" (id, name or KIND:SEED) of every command.
MODEL = ModelRefType()


def note(message: str) -> None:
    """One plain line on stderr (never wrapped or styled: scripts and tests read it)."""
    click.echo(message, err=True)


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
    fn = click.option("--models", help="Comma-separated model ids, names or KIND:SEED "
                      "(instead of --where).")(fn)
    return click.option(
        "--where", "where", help="SQL filter over models (columns of `models`, plus `dataset` "
        "and `population` names, `tags` and `tag`), e.g. \"kind = 'gmn' AND tag = "
        "'reproduce'\".")(fn)


def open_catalog(loc: Locations) -> Catalog:
    """Open the catalog at ``loc``; errors say to run `zoo init` or `zoo db upgrade`."""
    return Catalog.open(loc.db_url, loc.arrays_url)


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    click.echo(json.dumps(obj, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Iterable[str], title: str | None = None
                ) -> None:
    """Print rows as a table on stdout: boxed on a terminal, else plain tab-separated lines
    (a header line, then a line per row; the title goes to stderr)."""
    cols = list(columns)
    cells = [["" if row.get(c) is None else str(row.get(c)) for c in cols] for row in rows]
    if not sys.stdout.isatty():
        if title:
            stderr.print(title)
        click.echo("\t".join(cols))
        for line in cells:
            click.echo("\t".join(c.replace("\t", " ").replace("\n", " ") for c in line))
        return
    table = Table(title=title, show_edge=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold")
    for line in cells:
        table.add_row(*line)
    Console().print(table)


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
    """Model ids from exactly one of ``--where`` (an SQL filter over ``models_wide``: every
    ``models`` column, ``dataset`` and ``population`` names, ``tags`` (a list), and
    ``tag``, true for a model with that tag: ``tag = 'baseline'``) or ``--models``
    (comma-separated ids, names or ``KIND:SEED``)."""
    if (where is None) == (models is None):
        raise click.UsageError("give exactly one of --where or --models")
    if models is not None:
        refs = [MODEL.convert(x, None, None) for x in models.split(",") if x.strip()]
        if not refs:
            raise click.BadParameter(f"{models!r}: give ids or names like 5001,cnn:1",
                                     param_hint="--models")
        with open_catalog(loc) as cat:
            return [cat.resolve_model(r) for r in refs]
    from analysis.sql import run_sql

    frame = run_sql(loc.db_url, "SELECT DISTINCT id FROM (SELECT w.*, t.tag FROM models_wide w "
                    "LEFT JOIN tags t ON t.model_id = w.id) AS models "
                    f"WHERE {where} ORDER BY id")
    ids = [int(x) for x in frame["id"]]
    if not ids:
        raise InvalidInputError(f"no model matches --where {where!r}")
    return ids

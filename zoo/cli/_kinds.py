"""The ``KIND`` argument type: the registered kinds (:mod:`zoo.kinds`), read lazily so that
commands that never train (``zoo --help``, ``zoo ls``) do not import torch."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["KIND"]


class KindType(click.ParamType):
    """A registered model kind (built-in or from a ``zoo.kinds`` entry-point plugin)."""

    name = "kind"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        """``{gmn|ngt|...}`` from the registry, as ``click.Choice`` would show it."""
        from zoo.kinds import kind_names

        return "{" + "|".join(kind_names()) + "}"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        """``value`` when it names a registered kind; otherwise a usage error listing them."""
        from zoo.kinds import kind_names

        names = kind_names()
        if value in names:
            return str(value)
        self.fail(f"{value!r} is not a model kind: use one of {', '.join(names)}", param, ctx)


#: The shared kind type.
KIND = KindType()

"""The ``--cluster`` option the heavy commands share (#20)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from zoo.cluster import CLUSTER_ENV, resolve_cluster

__all__ = ["cluster_option"]

F = TypeVar("F", bound=Callable[..., Any])


def cluster_option(fn: F) -> F:
    """``--cluster ADDRESS`` (default ``$ZOO_CLUSTER``); passes ``cluster``: the scheduler
    address, or ``None`` to run locally (no address, ``""`` or ``local``)."""

    @click.option("--cluster", "cluster_flag", metavar="ADDRESS",
                  help=f"Run the work as tasks on this Dask scheduler (tcp://HOST:8786); "
                       f"default ${CLUSTER_ENV}; 'local' runs here.")
    @functools.wraps(fn)
    def wrapper(*args: Any, cluster_flag: str | None, **kwargs: Any) -> Any:
        return fn(*args, cluster=resolve_cluster(cluster_flag), **kwargs)

    return wrapper  # type: ignore[return-value]

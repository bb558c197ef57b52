"""Per-model work as tasks against the shared catalog: one training or one recording each.

A task opens the catalog and the array store on its worker (by URL: PostgreSQL and
``s3://`` at scale; a SQLite file and a local directory on one machine), does its
work through the same library calls as one process would, and returns ids. Writes keep
the catalog's order: arrays first, the row last, so a worker that dies mid-task leaves
at most an unregistered array (which names its dead writer, so `zoo check --fix`
removes it) and the scheduler runs the task again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import as_completed
from typing import TYPE_CHECKING, Any, TypeVar

from store import Catalog, DuplicateError
from zoo.cluster._executors import open_executor
from zoo.cluster._similarity import shared_root

if TYPE_CHECKING:
    from zoo.train import TrainConfig

__all__ = ["catalog_location", "map_catalog_tasks", "record_models", "train_models"]

T = TypeVar("T")
R = TypeVar("R")


def catalog_location(catalog: Catalog) -> tuple[str, str]:
    """``(database URL, array root)`` as another process opens them (password kept)."""
    return (catalog.engine.url.render_as_string(hide_password=False),
            shared_root(catalog.arrays.root))


def _with_catalog(location: tuple[str, str], fn: Callable[..., R], *args: Any) -> R:
    """Run ``fn(catalog, *args)`` on a catalog opened here (a worker) and closed after."""
    with Catalog.open(*location) as cat:
        return fn(cat, *args)


def map_catalog_tasks(catalog: Catalog, fn: Callable[..., R], items: Sequence[tuple[Any, ...]],
                      cluster: str | None = None, workers: int = 1
                      ) -> Iterator[tuple[int, R]]:
    """Run ``fn(catalog, *item)`` for every item as a task; yield ``(index, result)`` as
    each finishes (in any order).

    ``fn`` must be a picklable top-level function (or a ``functools.partial`` of one).
    Tasks run on the cluster at ``cluster``, else in ``workers`` local processes (1: here).
    """
    location = catalog_location(catalog)
    if cluster is None and workers > 1:
        catalog.engine.dispose()  # no pooled connection is shared with forked children
    with open_executor(workers, cluster) as executor:
        futures = {executor.submit(_with_catalog, location, fn, *item): i
                   for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _record(cat: Catalog, model_id: int, probe: str, layers: list[str] | None,
            batch_size: int = 256, replace: bool = False) -> int:
    """Record one model; returns how many layers were stored."""
    from zoo.model_runs import record_model

    return len(record_model(cat, model_id, probe, layers, batch_size=batch_size,
                            replace=replace, progress=False))


def record_models(catalog: Catalog, model_ids: Sequence[int], probe: str,
                  layers: Sequence[str] | None = None, cluster: str | None = None,
                  workers: int = 1, *, batch_size: int = 256,
                  replace: bool = False) -> list[int]:
    """Record every given model on ``probe``, one task per model; returns the ids recorded.

    A model whose activations on ``probe`` are stored (``predictions``, or every one of
    ``layers``) is skipped unless ``replace``.
    """
    wanted = list(layers) if layers else ["predictions"]
    todo = [m for m in dict.fromkeys(model_ids) if replace or any(
        catalog.find_activation(m, layer, probe) is None for layer in wanted)]
    items = [(m, probe, list(layers) if layers else None, batch_size, replace) for m in todo]
    for _ in map_catalog_tasks(catalog, _record, items, cluster, workers):
        pass
    return todo


def _train(cat: Catalog, kind: str, config: dict[str, Any], population: str | None,
           dataset: str | None, tags: list[str]) -> int:
    from zoo.model_runs import train_model
    from zoo.train import TrainConfig

    try:
        return train_model(cat, kind, TrainConfig.from_dict(config), population=population,
                           dataset=dataset, tags=tags, progress=False).id
    except DuplicateError as exc:  # a retried task whose first run had registered it
        if exc.existing_id is None:
            raise
        return exc.existing_id


def train_models(catalog: Catalog,
                 runs: Sequence[tuple[str, TrainConfig, str | None, str | None]],
                 tags: Sequence[str] = (), cluster: str | None = None,
                 workers: int = 1) -> list[int]:
    """Train ``(kind, config, population, dataset)`` runs, one task each; model ids in order.

    A run that trains weights already registered (a retried task, the same seeds again)
    returns the stored model's id.
    """
    items = [(kind, config.to_dict(), population, dataset, list(tags))
             for kind, config, population, dataset in runs]
    out: dict[int, int] = dict(map_catalog_tasks(catalog, _train, items, cluster, workers))
    return [out[i] for i in range(len(items))]

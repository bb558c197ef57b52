"""Where independent tasks run: an executor registry (this process, local worker
processes, a Dask cluster) behind the one ``concurrent.futures.Executor`` interface.

Every task runs with one torch thread: on the zoo's small kernels, processes scale
across cores where intra-op threads do not, and a worker must not oversubscribe the
cores it shares with its siblings.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from store.errors import ZooError

__all__ = [
    "CLUSTER_ENV",
    "EXECUTORS",
    "ClusterError",
    "ExecutorSpec",
    "connect",
    "one_thread_call",
    "open_executor",
    "resolve_cluster",
    "slots",
]

T = TypeVar("T")

#: Environment variable naming the Dask scheduler every heavy command uses by default.
CLUSTER_ENV = "ZOO_CLUSTER"
#: How often a task that raised is run again on a cluster; a task whose worker died is
#: rescheduled by the scheduler itself (``distributed.scheduler.allowed-failures``).
RETRIES = 2
#: Seconds to wait for a scheduler to answer (``ZOO_CLUSTER_TIMEOUT`` overrides).
CONNECT_TIMEOUT = 10.0


class ClusterError(ZooError):
    """The Dask cluster cannot be reached or used (one ``Error:`` line in the CLI)."""


def resolve_cluster(flag: str | None = None) -> str | None:
    """The scheduler address to use: ``flag``, else ``$ZOO_CLUSTER``; ``None`` = run locally.

    ``""`` and ``"local"`` mean local too, so ``--cluster local`` overrides the variable.
    """
    address = flag if flag is not None else os.environ.get(CLUSTER_ENV)
    if address is None or address.strip() in ("", "local"):
        return None
    return address.strip()


def one_thread_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` with one torch thread (what every zoo task runs in)."""
    import torch

    torch.set_num_threads(1)
    return fn(*args, **kwargs)


@functools.cache
def connect(address: str) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address`` (one per process).

    Raises:
        ClusterError: dask.distributed is not installed or the scheduler does not answer.
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise ClusterError(f"--cluster needs dask.distributed: pip install "
                           f"'dask[distributed]' ({exc})") from exc
    try:
        timeout = float(os.environ.get("ZOO_CLUSTER_TIMEOUT") or CONNECT_TIMEOUT)
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no Dask scheduler answers at {address!r} ({exc}): start one with "
                           "`dask scheduler` and `dask worker ADDRESS`, or check --cluster / "
                           f"{CLUSTER_ENV}") from exc


def slots(address: str) -> int:
    """Task slots of the cluster at ``address``: the worker threads of all its workers."""
    return max(1, sum(connect(address).nthreads().values()))


class _DaskExecutor(Executor):
    """``concurrent.futures`` view of a Dask client: each task one torch thread, retried."""

    def __init__(self, client: Any) -> None:
        self._inner = client.get_executor(pure=False, retries=RETRIES)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._inner.submit(one_thread_call, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)


def _one_thread_worker() -> None:
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def _inline(workers: int, address: str | None) -> Iterator[Executor]:
    class _Inline(Executor):
        def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
            future: Future[T] = Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)
            return future

    yield _Inline()


@contextlib.contextmanager
def _processes(workers: int, address: str | None) -> Iterator[Executor]:
    # fork, as torch's DataLoader workers: no re-import of the caller's __main__ (spawn
    # needs an `if __name__ == "__main__"` guard in every script that calls this)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread_worker)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _dask(workers: int, address: str | None) -> Iterator[Executor]:
    if address is None:
        raise ClusterError("the dask executor needs a scheduler address (--cluster)")
    executor = _DaskExecutor(connect(address))
    try:
        yield executor
    finally:
        executor.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class ExecutorSpec:
    """One way of running independent tasks.

    Attributes:
        name: registry key.
        description: one line for docs and errors.
        open: ``open(workers, address)`` -> a context manager yielding an ``Executor``.
    """

    name: str
    description: str
    open: Callable[[int, str | None], contextlib.AbstractContextManager[Executor]]


#: The executors, by name: ``inline`` (this process), ``processes`` (local worker
#: processes, forked), ``dask`` (the workers of a Dask cluster).
EXECUTORS: dict[str, ExecutorSpec] = {
    spec.name: spec for spec in (
        ExecutorSpec("inline", "in this process, one task at a time", _inline),
        ExecutorSpec("processes", "local worker processes (fork), one torch thread each",
                     _processes),
        ExecutorSpec("dask", "the workers of a Dask cluster (--cluster / ZOO_CLUSTER)", _dask),
    )
}


def open_executor(workers: int = 1, cluster: str | None = None
                  ) -> contextlib.AbstractContextManager[Executor]:
    """An executor for independent tasks: a cluster's when ``cluster`` is an address, else
    ``workers`` local processes (``workers == 1``: this process).

    Tasks must be picklable top-level functions; results come back as their futures.
    """
    if cluster is not None:
        return EXECUTORS["dask"].open(workers, cluster)
    return EXECUTORS["inline" if workers <= 1 else "processes"].open(workers, None)

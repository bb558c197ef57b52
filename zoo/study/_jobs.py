"""Training jobs of a study: which models a profile asks for, which are stored already,
and training the rest in parallel worker processes (one torch thread each), or as tasks
on a Dask cluster (:mod:`zoo.cluster`).

A model is identified by its *slot*: kind, seed, source (population or dataset) and a
hash of its training settings and architecture. A slot is filled by the model a study
recorded for it, or by any stored model with the same kind, seed, source, training
settings and architecture; only empty slots are trained, so an interrupted run trains
only what it had not finished.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from store import Catalog, DuplicateError, ModelRecord
from zoo.identity import TrainingKey, find_trained, training_key
from zoo.kinds import WEIGHT_KINDS, default_augment, kind_train_config
from zoo.train import TrainConfig

__all__ = ["Job", "find_model", "plan_jobs", "run_jobs"]

TAG = "reproduce"


@dataclass(frozen=True)
class Job:
    """One model of the study: train it (``model_id`` None) and/or record it on ``probe``."""

    slot: str
    kind: str
    seed: int
    epochs: int
    batch_size: int
    population: str | None
    dataset: str | None
    probe: str
    model_id: int | None = None

    @property
    def label(self) -> str:
        """``gmn s0``."""
        return f"{self.kind} s{self.seed}"

    def train_config(self) -> TrainConfig:
        """The training settings: the kind's recipe, this job's seed, epochs and batch."""
        return kind_train_config(self.kind, epochs=self.epochs, batch_size=self.batch_size,
                                 init_seed=self.seed, data_seed=self.seed)

    def augment(self) -> dict[str, float] | None:
        """The kind's default weight-space augmentation, as stored with a model."""
        warp = default_augment(self.kind)
        return warp.to_dict() if warp is not None else None


def _key(catalog: Catalog, job: Job) -> TrainingKey:
    """The training key (:mod:`zoo.identity`) of the model this job trains."""
    return training_key(catalog, job.kind, job.train_config(), population=job.population,
                        dataset=job.dataset, augment=default_augment(job.kind))


def slot_of(catalog: Catalog, job: Job) -> str:
    """The slot key of a job (what identifies its model across runs and studies)."""
    return f"{job.kind}|s{job.seed}|{job.population or job.dataset}|" \
        f"{_key(catalog, job).digest()}"


def find_model(catalog: Catalog, job: Job) -> ModelRecord | None:
    """The stored model that fills the job's slot, if any."""
    found = catalog.find_slot(job.slot)
    if found is not None:
        return catalog.get_model(found)
    return find_trained(catalog, _key(catalog, job))


def plan_jobs(catalog: Catalog, kinds: tuple[str, ...], seeds: tuple[int, ...],
              epochs: Callable[[str], int], batch_size: int, population: str | None,
              dataset: str, probe: str) -> list[Job]:
    """One job per (kind, seed), with ``model_id`` set where a stored model fills it."""
    jobs = []
    for kind in kinds:
        for seed in seeds:
            on_weights = kind in WEIGHT_KINDS
            job = Job("", kind, seed, epochs(kind), batch_size,
                      population if on_weights else None, None if on_weights else dataset,
                      probe)
            job = replace(job, slot=slot_of(catalog, job))
            found = find_model(catalog, job)
            jobs.append(replace(job, model_id=found.id if found else None))
    return jobs


_QUEUE: Any = None
_LOCATION: tuple[str, str] = ("", "")


def _init_worker(events: Any, location: tuple[str, str]) -> None:
    global _QUEUE, _LOCATION
    import torch

    torch.set_num_threads(1)
    _QUEUE, _LOCATION = events, location


def _step_sender(job: Job, put: Callable[[tuple[Any, ...]], None]) -> Any:
    """A progress hook sending ``("step", slot, StepProgress)`` at most once a second (and
    at the end of each pass) to the parent."""
    last = [0.0]

    def send(step: Any) -> None:
        now = time.monotonic()
        if step.done == 1 or step.done == step.total or now - last[0] >= 1.0:
            last[0] = now
            put(("step", job.slot, step))

    return send


def _job_on(cat: Catalog, job: Job, put: Callable[[tuple[Any, ...]], None]) -> int:
    """Train (unless stored) and record one model on ``cat``; events go to ``put``."""
    from zoo.model_runs import record_model, train_model
    from zoo.train import report_progress

    with report_progress(_step_sender(job, put)):
        model_id = job.model_id
        if model_id is None:
            try:
                model_id = train_model(
                    cat, job.kind, job.train_config(), population=job.population,
                    dataset=job.dataset, tags=[TAG], progress=False,
                    augment=default_augment(job.kind),
                    on_epoch=lambda m: put(("epoch", job.slot, m.epoch, m.val_acc))).id
            except DuplicateError as exc:  # the kept epoch's weights are stored already
                if exc.existing_id is None:
                    raise
                model_id = exc.existing_id
        put(("trained", job.slot, model_id))
        if cat.find_activation(model_id, "predictions", job.probe) is None:
            record_model(cat, model_id, job.probe, progress=False)
        put(("recorded", job.slot, model_id))
        return model_id


def _run_job(job: Job) -> int:
    """:func:`_job_on` in a worker process, on its catalog; events to the parent's queue."""
    put = _QUEUE.put if _QUEUE is not None else (lambda event: None)
    with Catalog.open(*_LOCATION) as cat:
        return _job_on(cat, job, put)


def _cluster_job(cat: Catalog, job: Job) -> int:
    """:func:`_job_on` as a cluster task (no event channel: the client reports each end)."""
    return _job_on(cat, job, lambda event: None)


def _run_on_cluster(catalog: Catalog, order: list[Job], cluster: str,
                    on_event: Callable[[tuple[Any, ...]], None],
                    on_done: Callable[[Job, int], None]) -> dict[str, int]:
    """Every job one task on the cluster's workers; events as each task ends."""
    from zoo.cluster import map_catalog_tasks

    out = {}
    for i, model_id in map_catalog_tasks(catalog, _cluster_job, [(j,) for j in order],
                                         cluster):
        job = order[i]
        out[job.slot] = model_id
        on_event(("trained", job.slot, model_id))
        on_event(("recorded", job.slot, model_id))
        on_done(job, model_id)
    return out


def run_jobs(catalog: Catalog, jobs: list[Job], workers: int,
             on_event: Callable[[tuple[Any, ...]], None],
             on_done: Callable[[Job, int], None],
             cluster: str | None = None) -> dict[str, int]:
    """Run ``jobs`` on ``workers`` processes (or, given a scheduler address ``cluster``, as
    tasks on that Dask cluster), longest first; returns slot -> model id.

    ``on_event`` gets ``("step", slot, StepProgress)`` (a batch of a training or a
    recording, at most one a second per job), ``("epoch", slot, epoch, val_acc)``,
    ``("trained", slot, id)`` and ``("recorded", slot, id)``; ``on_done(job, model_id)``
    runs as each job finishes. On a cluster the per-batch and per-epoch events are not
    sent; ``trained`` and ``recorded`` come as each task ends.
    """
    global _QUEUE, _LOCATION
    location = (catalog.engine.url.render_as_string(hide_password=False), catalog.arrays.root)
    order = sorted(jobs, key=lambda j: (j.model_id is not None, -j.epochs, j.kind != "gmn"))
    if cluster is not None:
        return _run_on_cluster(catalog, order, cluster, on_event, on_done)
    if workers <= 1 or len(jobs) <= 1:
        _QUEUE, _LOCATION = _Direct(on_event), location  # events as they happen
        out = {}
        try:
            for job in order:
                out[job.slot] = model_id = _run_job(job)
                on_done(job, model_id)
        finally:
            _QUEUE = None
        return out
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    events = context.Queue()
    catalog.engine.dispose()  # no pooled connection is shared with the children
    out = {}
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(events, location))
    try:
        pending: dict[Future[int], Job] = {pool.submit(_run_job, j): j for j in order}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(events, on_event)
            for future in done:
                job = pending.pop(future)
                out[job.slot] = future.result()
                _drain(events, on_event)
                on_done(job, out[job.slot])
    except BaseException:  # Ctrl-C or a failed job: stop the others now, keep what is stored
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return out


@dataclass(frozen=True)
class _Direct:
    """A queue stand-in for jobs run in this process: ``put`` hands the event on at once."""

    put: Callable[[tuple[Any, ...]], None]


def _drain(events: Any, on_event: Callable[[tuple[Any, ...]], None]) -> None:
    while True:
        try:
            on_event(events.get_nowait())
        except queue_mod.Empty:
            return

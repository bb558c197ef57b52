"""``zoo reproduce``: the study of Yeom & Lee (2025) on one catalog, from one call.

Stages, each resuming from what the catalog holds: data -> INR population(s) -> probe
set -> train and record every (kind, seed) in parallel workers -> CKA of every layer pair
(cached in ``similarities``) -> agreements and ensembles of every model pair (stored) ->
the four verdicts (stored in ``findings``) -> ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from store import Catalog, FindingRecord
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig, available_cores
from zoo.inr.population import default_population_name, fit_population
from zoo.kinds import WEIGHT_KINDS
from zoo.models.siren import SirenConfig
from zoo.study._jobs import Job, plan_jobs, run_jobs
from zoo.study.profiles import Profile, estimate_seconds, roles

__all__ = ["Reporter", "StudyResult", "measured_epoch_seconds", "reproduce"]


class Reporter(Protocol):
    """Where progress goes: one task per stage or model, plus messages."""

    def start(self, key: str, description: str, total: float | None) -> None:
        """Begin a task (``total`` None: unknown)."""

    def update(self, key: str, completed: float, status: str = "") -> None:
        """Move a task to ``completed``."""

    def step(self, key: str, completed: float, status: str = "") -> None:
        """Move a task inside a step (many calls a second: a batch of a training or a
        recording); plain logs show these only as a heartbeat."""

    def say(self, message: str) -> None:
        """A line of news."""


@dataclass(frozen=True)
class StudyResult:
    """What a run produced: the report's files, the findings, the models and timings; the
    INR population and whether this run fitted it; the models this run trained."""

    study: str
    report_md: Path
    report_html: Path
    findings: tuple[FindingRecord, ...]
    model_ids: tuple[int, ...]
    trained: int
    seconds: dict[str, float]
    population: str | None = None
    population_fitted: bool = False
    new_model_ids: tuple[int, ...] = ()


def measured_epoch_seconds(catalog: Catalog) -> dict[str, float]:
    """Median seconds per training epoch of the stored models of each kind."""
    per_kind: dict[str, list[float]] = {}
    for model in catalog.list_models(include_inrs=False):
        metrics = catalog.get_metrics(model.id)
        seconds = [m.value for m in metrics if m.name == "train_seconds"]
        epochs = sum(m.name == "val_acc" for m in metrics)
        if seconds and epochs:
            per_kind.setdefault(model.kind, []).append(seconds[0] / epochs)
    return {k: statistics.median(v) for k, v in per_kind.items()}


def _population(catalog: Catalog, profile: Profile, rep: Reporter, workers: int,
                cluster: str | None = None) -> tuple[str | None, bool]:
    """The population's name (None when no kind reads weights), fitted now or not."""
    if not any(k in WEIGHT_KINDS for k in profile.kinds):
        return None, False
    siren = SirenConfig(variant=profile.siren)
    fit = FitConfig(init=profile.inr_init, views=profile.views,  # type: ignore[arg-type]
                    steps=profile.fit_steps, lr=profile.fit_lr)
    name = default_population_name(profile.dataset, siren, fit, None, profile.n_inrs)
    existing = catalog.find_population(name)
    if existing is None or existing.status != "complete":
        def progress(done: int, total: int, psnr: float) -> None:
            rep.start("fit", f"fit INRs {name}", total)  # re-sizes it after the first call
            rep.update("fit", done, f"mean PSNR {psnr:.1f} dB")

        fit_population(catalog, profile.dataset, siren, fit, name=name, limit=profile.n_inrs,
                       progress=progress, workers=workers, cluster=cluster)
        return name, True
    return name, False


def _probe(catalog: Catalog, profile: Profile, population: str | None) -> str:
    if profile.probe in {p.name for p in catalog.list_probe_sets()}:
        return profile.probe
    split, size = profile.probe_split_size()
    _, _, splits = catalog.dataset_arrays(profile.dataset)
    allowed = (set(catalog.population_sample_ids(population).tolist()) if population
               else set(range(len(splits))))
    ids = [i for i in range(len(splits)) if splits[i] == split and i in allowed][:size]
    catalog.create_probe_set(profile.probe, ids, dataset=profile.dataset)
    return profile.probe


def _train(catalog: Catalog, profile: Profile, jobs: list[Job], workers: int,
           rep: Reporter, members: dict[str, int], cluster: str | None = None) -> list[int]:
    """Train and record what ``jobs`` lack; returns the ids of the models trained now."""
    todo = [j for j in jobs if j.model_id is None or not _recorded(catalog, j)]
    by_slot = {j.slot: j for j in todo}
    rep.start("record", "record activations", len(jobs))
    recorded = [len(jobs) - len(todo)]
    rep.update("record", recorded[0])
    for job in todo:
        if job.model_id is None:
            rep.start(job.slot, f"train {job.label}", job.epochs)

    def on_event(event: tuple[Any, ...]) -> None:
        kind, slot = event[0], event[1]
        if kind == "step":
            _step(rep, by_slot[slot], event[2])
        elif kind == "epoch":
            rep.update(slot, event[2], f"val acc {event[3]:.3f}")
        elif kind == "trained" and by_slot[slot].model_id is None:
            rep.update(slot, by_slot[slot].epochs, f"model {event[2]}")
        elif kind == "recorded":
            recorded[0] += 1
            rep.update("record", recorded[0])

    def on_done(job: Job, model_id: int) -> None:
        members[job.slot] = model_id
        catalog.set_study_models(profile.name, members)  # resumable from here on

    run_jobs(catalog, todo, workers, on_event, on_done, cluster)
    return [members[j.slot] for j in todo if j.model_id is None]


def _step(rep: Reporter, job: Job, step: Any) -> None:
    """A batch of a worker's training (the model's task, in fractions of an epoch: 0.9 for
    the training pass, 0.1 for validation) or recording (its own task)."""
    if step.stage == "record":
        key = f"{job.slot}|record"
        if step.done == 1:
            rep.start(key, f"record {job.label}", step.total)
        rep.step(key, step.done, step.status)
        return
    part = step.done / step.total if step.total else 0.0
    done = step.epoch - 1 + (0.9 * part if step.stage == "train" else 0.9 + 0.1 * part)
    rep.step(job.slot, done, f"{step.label}: {step.status}")


def _recorded(catalog: Catalog, job: Job) -> bool:
    assert job.model_id is not None
    return catalog.find_activation(job.model_id, "predictions", job.probe) is not None


def _compare(catalog: Catalog, model_ids: list[int], probe: str, layers: str,
             rep: Reporter) -> None:
    from analysis.similarity import Rep, SimilarityQuery, compare, resolve_layers

    probe_id = catalog.get_probe_set(probe).id
    reps = {m: [Rep(m, x) for x in resolve_layers(catalog, m, layers, probe_id)]
            for m in model_ids}
    query = SimilarityQuery("linear", "biased", probe=probe_id)
    rep.start("cka", "linear CKA, every layer pair", len(model_ids))
    for i, m in enumerate(model_ids):  # one batched pass per model against the rest
        others = [r for other in model_ids[i:] for r in reps[other]]
        compare(catalog, reps[m], others, query)
        rep.update("cka", i + 1)


def reproduce(catalog: Catalog, profile: Profile, out_dir: Path, rep: Reporter,
              clock: Callable[[], float] = time.monotonic,
              cluster: str | None = None) -> StudyResult:
    """Run (or continue) the study ``profile`` on ``catalog``; the report goes to ``out_dir``.

    ``cluster``: a Dask scheduler address; the INR chunks and the trainings (with their
    recordings) then run as tasks on its workers, which open the same catalog and arrays.
    """
    from analysis.study import StudyRoles, judge_study, store_pair_stats
    from analysis.study.report import render_report

    seconds: dict[str, float] = {}
    t0 = clock()
    if cluster is not None:
        from zoo.cluster import slots

        workers = slots(cluster)  # also: an unreachable scheduler fails before any work
    else:
        workers = profile.workers or available_cores()
    if profile.dataset not in {d.name for d in catalog.list_datasets()}:
        rep.say(f"adding dataset {profile.dataset}")
        add_bundled_dataset(catalog, profile.dataset)
    population, fitted = _population(catalog, profile, rep, workers, cluster)
    probe = _probe(catalog, profile, population)
    seconds["data"] = clock() - t0
    jobs = plan_jobs(catalog, profile.kinds, profile.seeds, profile.epochs_for,
                     profile.batch_size, population, profile.dataset, probe)
    catalog.save_study(profile.name, profile.to_dict(), probe, population)
    members = {j.slot: j.model_id for j in jobs if j.model_id is not None}
    catalog.set_study_models(profile.name, members)
    stored = sum(j.model_id is not None for j in jobs)
    rep.say(f"{len(jobs)} models: {stored} stored, {len(jobs) - stored} to train "
            f"on {workers} worker{'s' * (workers > 1)}"
            + (f" of the cluster at {cluster}" if cluster else ""))
    if stored < len(jobs):
        kinds = tuple(dict.fromkeys(j.kind for j in jobs if j.model_id is None))
        todo = dataclasses.replace(profile, kinds=kinds, epochs=tuple(
            (k, e) for k, e in profile.epochs if k in kinds))
        est = estimate_seconds(todo, workers, measured_epoch_seconds(catalog),
                               fresh_clone=False)
        rep.say(f"estimated training time: {est['train'] / 60:.1f} min")
    t1 = clock()
    new_ids = _train(catalog, profile, jobs, workers, rep, members, cluster)
    seconds["train"] = clock() - t1
    ids = [members[j.slot] for j in jobs]
    catalog.set_study_models(profile.name, {j.slot: members[j.slot] for j in jobs})
    t2 = clock()
    _compare(catalog, ids, probe, profile.layers, rep)
    rep.start("pairs", "agreements, ensembles, verdicts", 2)
    store_pair_stats(catalog, ids, probe)
    rep.update("pairs", 1)
    metanets, baselines = roles(profile.kinds)
    findings = judge_study(catalog, profile.name, StudyRoles(
        metanets, baselines, chance_margin=profile.chance_margin, n_boot=profile.n_boot,
        accuracy_gap=profile.accuracy_gap))
    rep.update("pairs", 2)
    seconds["compare"] = clock() - t2
    t3 = clock()
    md, html = render_report(catalog, profile.name, out_dir)
    seconds["report"] = clock() - t3
    seconds["total"] = clock() - t0
    return StudyResult(profile.name, md, html, tuple(findings), tuple(ids), len(new_ids),
                       seconds, population, fitted, tuple(new_ids))

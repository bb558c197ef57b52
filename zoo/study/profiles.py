"""Profiles of ``zoo reproduce``: what the study trains and compares, as frozen data.

A profile says the dataset, the INR population (views per image, initialisation), the
kinds and seeds, the epochs per kind, batch size, the probe set and layers, and how
findings are judged. Architectures and every other training setting are the kinds'
defaults (:func:`zoo.kinds.default_arch`, :class:`zoo.train.TrainConfig`), so a recipe
changed there is picked up, and models trained under another recipe are not reused.

>>> print(describe(PROFILES["quick"]))   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from store import InvalidInputError
from zoo.kinds import KINDS, WEIGHT_KINDS
from zoo.models.siren import SIREN_VARIANTS

__all__ = ["PROFILES", "Profile", "estimate_seconds", "parse_overrides", "roles"]

#: Seconds per training epoch on this 2-core machine (one torch thread, 3,500 training
#: samples), used when the catalog has no trained model of the kind to measure from.
#: GMN: ~25 s measured; its recipe is being reworked, so budget twice that.
EPOCH_SECONDS = {"gmn": 50.0, "mlp-weights": 1.5, "mlp": 3.0, "cnn": 12.0}
_OTHER_EPOCH_SECONDS = 50.0
#: Seconds outside training: set-up of a fresh clone, INR fit per 1,000 INRs per worker,
#: recording per model, similarities + agreements + verdicts + report per model pair
#: (the fit figure is for 60 Adam steps per INR; it scales with the profile's steps).
SETUP_SECONDS, FIT_SECONDS_PER_1000, RECORD_SECONDS, PAIR_SECONDS = 90.0, 8.0, 6.0, 0.3


@dataclass(frozen=True)
class Profile:
    """One configuration of the study.

    Attributes:
        name: the study's name in the catalog (``studies.name``).
        dataset: bundled dataset (``mnist-5k``, ``digits``); ``n_inrs`` INRs are fitted
            (``None``: one per image), ``views`` per image, initialised ``inr_init``, of the
            SIREN variant ``siren``, with ``fit_steps`` Adam steps at peak rate ``fit_lr``.
        kinds, seeds: every kind is trained with every seed (>= 3 seeds: a finding about
            seeds needs several seed pairs).
        epochs: ``(kind, epochs)`` pairs; kinds not listed train ``default_epochs``.
        batch_size: training batch size of every kind.
        probe: probe set ``<split>-<n>`` (the first n samples of the split that have INRs).
        layers: layers recorded and compared (``all`` or comma-separated names).
        accuracy_gap: finding 3 (predictions at similar accuracy) is inconclusive when the
            metanetworks' and the baselines' probe accuracies differ by more.
        n_boot, chance_margin: bootstrap replicates; a kind below chance + margin makes
            the findings inconclusive.
        workers: training processes (``None``: one per core).
    """

    name: str
    dataset: str = "mnist-5k"
    n_inrs: int | None = None
    views: int = 1
    inr_init: str = "per-inr"
    siren: str = "dwsnet"
    fit_steps: int = 200
    fit_lr: float = 3e-2
    kinds: tuple[str, ...] = ("gmn", "mlp", "cnn")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: tuple[tuple[str, int], ...] = ()
    default_epochs: int = 5
    batch_size: int = 64
    probe: str = "test-500"
    layers: str = "all"
    n_boot: int = 500
    chance_margin: float = 0.1
    accuracy_gap: float = 0.1
    workers: int | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise InvalidInputError(f"unknown kinds {unknown}: use some of {', '.join(KINDS)}")
        if len(set(self.seeds)) < 3 or len(set(self.seeds)) != len(self.seeds):
            raise InvalidInputError(f"give at least 3 distinct seeds (a finding about seeds "
                                    f"needs several seed pairs), got {list(self.seeds)}")
        bad = [k for k, e in self.epochs if k not in self.kinds or e < 1]
        if bad or self.default_epochs < 1:
            raise InvalidInputError(f"epochs must be >= 1 and for kinds of the profile "
                                    f"({', '.join(self.kinds)}): check {bad}")
        self.probe_split_size()
        if self.views < 1 or self.batch_size < 1 or (self.workers is not None
                                                     and self.workers < 1):
            raise InvalidInputError("views, batch size and workers must be >= 1")
        if self.inr_init not in ("per-inr", "shared"):
            raise InvalidInputError(f"inr_init must be per-inr or shared, got {self.inr_init}")
        if self.siren not in SIREN_VARIANTS or self.fit_steps < 1 or not self.fit_lr > 0:
            raise InvalidInputError(f"siren must be one of {', '.join(SIREN_VARIANTS)}, "
                                    "fit_steps >= 1 and fit_lr > 0")

    def epochs_for(self, kind: str) -> int:
        """Training epochs of ``kind``."""
        return dict(self.epochs).get(kind, self.default_epochs)

    def probe_split_size(self) -> tuple[str, int]:
        """``(split, n)`` of the probe set name ``<split>-<n>``."""
        match = re.fullmatch(r"(train|val|test)-([1-9][0-9]*)", self.probe)
        if match is None:
            raise InvalidInputError(f"probe {self.probe!r}: give <split>-<n>, e.g. test-500")
        return match.group(1), int(match.group(2))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (stored with the study)."""
        out = dataclasses.asdict(self)
        out["epochs"] = {k: self.epochs_for(k) for k in self.kinds}
        return out


PROFILES: dict[str, Profile] = {
    # ~15 min on this 2-core machine from a fresh clone (README): GMN epochs sized to fit
    "quick": Profile("quick", kinds=("gmn", "mlp", "cnn"), seeds=(0, 1, 2),
                     epochs=(("gmn", 8), ("mlp", 5), ("cnn", 5)), probe="test-500"),
    "full": Profile("full", kinds=("gmn", "mlp-weights", "mlp", "cnn"), seeds=(0, 1, 2, 3, 4),
                    epochs=(("gmn", 30), ("mlp-weights", 20), ("mlp", 20), ("cnn", 20)),
                    probe="test-1000", n_boot=1000),
}


def roles(kinds: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(metanetworks, baselines)`` among ``kinds``: metanetworks read INR weights as
    graphs (every weight kind except the flat ``mlp-weights``), baselines read images."""
    metanets = tuple(k for k in kinds if k in WEIGHT_KINDS and k != "mlp-weights")
    return metanets, tuple(k for k in kinds if k not in WEIGHT_KINDS)


def parse_overrides(profile: Profile, seeds: str | None = None, kinds: str | None = None,
                    epochs: Sequence[str] = (), probe: str | None = None,
                    workers: int | None = None) -> Profile:
    """``profile`` with the CLI's overrides: ``--seeds 0,1,2,3``, ``--kinds gmn,mlp``,
    ``--epochs gmn=30`` (repeatable, or comma-separated), ``--probe test-1000``."""
    changes: dict[str, Any] = {}
    if seeds is not None:
        try:
            changes["seeds"] = tuple(int(s) for s in seeds.split(",") if s.strip())
        except ValueError:
            raise InvalidInputError(f"--seeds {seeds!r}: give seeds like 0,1,2") from None
    if kinds is not None:
        changes["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    kept = changes.get("kinds", profile.kinds)
    table = {k: e for k, e in profile.epochs if k in kept}
    for item in (x for spec in epochs for x in spec.split(",") if x.strip()):
        kind, _, value = item.partition("=")
        if not value.strip().isdigit():
            raise InvalidInputError(f"--epochs {item!r}: give KIND=N, e.g. gmn=30")
        table[kind.strip()] = int(value)
    changes["epochs"] = tuple(sorted(table.items()))
    if probe is not None:
        changes["probe"] = probe
    if workers is not None:
        changes["workers"] = workers
    return dataclasses.replace(profile, **changes)


def estimate_seconds(profile: Profile, workers: int,
                     measured: Mapping[str, float] | None = None,
                     n_train: int = 3500, fresh_clone: bool = True) -> dict[str, float]:
    """A time estimate per stage on this machine, and ``total``.

    Training jobs are scheduled longest first on ``workers`` processes; seconds per epoch
    come from ``measured`` (kind -> seconds per epoch of stored models) where known, else
    :data:`EPOCH_SECONDS`, scaled by ``n_train / 3500``.
    """
    per_epoch = {**EPOCH_SECONDS, **(measured or {})}
    jobs = sorted((per_epoch.get(k, _OTHER_EPOCH_SECONDS) * n_train / 3500
                   * profile.epochs_for(k) for k in profile.kinds for _ in profile.seeds),
                  reverse=True)
    loads = [0.0] * workers
    for job in jobs:
        loads[loads.index(min(loads))] += job
    n_models = len(jobs)
    n_inrs = (profile.n_inrs or 5000) * profile.views if any(
        k in WEIGHT_KINDS for k in profile.kinds) else 0
    out = {"setup": SETUP_SECONDS if fresh_clone else 0.0,
           "fit": FIT_SECONDS_PER_1000 * profile.fit_steps / 60 * n_inrs / 1000 / workers * 2,
           "train": max(loads),
           "record": RECORD_SECONDS * n_models / workers,
           "compare": PAIR_SECONDS * n_models * (n_models - 1) / 2 + 10.0}
    out["total"] = sum(out.values())
    return out

"""The main job, end to end on one catalog: data -> INRs -> models -> activations -> CKA.

Every step is idempotent (it finds what an earlier run stored and skips it; an
interrupted INR fit resumes), so running the pipeline again continues where it
stopped. This is what `zoo quickstart` runs on the embedded default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from store import Catalog, ModelRecord
from zoo.data.register import add_bundled_dataset
from zoo.identity import find_trained, training_key
from zoo.inr.fit import FitConfig, available_cores
from zoo.inr.population import default_population_name, fit_population
from zoo.kinds import get_kind
from zoo.model_runs import record_model, train_model
from zoo.models.siren import SirenConfig
from zoo.train import TrainConfig

__all__ = ["PipelineConfig", "PipelineResult", "run_pipeline"]


@dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline builds.

    Attributes:
        dataset: bundled dataset to start from.
        n_inrs: INRs to fit (``None``: one per image).
        fit: INR fitting settings; ``siren`` the INR architecture.
        kinds: model kinds to train, each with every seed in ``seeds``.
        epochs: training epochs per kind (kinds not listed use ``default_epochs``).
        probe: name and size of the probe set (test split) activations are recorded on.
        tag: tag put on every trained model, used to find them again.
        fit_workers: processes fitting INR chunks in parallel (``None``: one per core).
    """

    dataset: str = "mnist-5k"
    n_inrs: int | None = None
    siren: SirenConfig = field(default_factory=SirenConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    kinds: tuple[str, ...] = ("gmn", "mlp-weights", "mlp", "cnn")
    seeds: tuple[int, ...] = (0, 1)
    epochs: dict[str, int] = field(default_factory=lambda: {"gmn": 10})
    default_epochs: int = 10
    batch_size: int = 64
    probe: str = "test-500"
    probe_size: int = 500
    tag: str = "quickstart"
    fit_workers: int | None = None


@dataclass(frozen=True)
class PipelineResult:
    """What the pipeline produced: the population name, the trained models, figures."""

    population: str
    models: tuple[ModelRecord, ...]
    figures: tuple[Path, ...]


#: Makes the figures of a run: ``(catalog, model ids, out_dir) -> paths`` (the CLI passes
#: :func:`analysis.plots.penultimate_cka_figure`; ``zoo`` itself draws nothing).
Figures = Callable[[Catalog, list[int], Path], tuple[Path, ...]]


def run_pipeline(catalog: Catalog, config: PipelineConfig, out_dir: Path,
                 say: Callable[[str], None] = print,
                 fit_progress: Callable[[int, int, float], None] | None = None,
                 figures: Figures | None = None) -> PipelineResult:
    """Run every step on ``catalog``; ``figures`` (if given) draws into ``out_dir``.
    ``say`` reports each step."""
    names = {d.name for d in catalog.list_datasets()}
    if config.dataset not in names:
        say(f"adding dataset {config.dataset}")
        add_bundled_dataset(catalog, config.dataset)
    pop_name = default_population_name(config.dataset, config.siren, config.fit, None,
                                       config.n_inrs)
    existing = catalog.find_population(pop_name)
    if existing is None or existing.status != "complete":
        say(f"fitting INRs into population {pop_name}"
            + (f" (resuming at {existing.rows_done})" if existing else ""))
        fit_population(catalog, config.dataset, config.siren, config.fit, name=pop_name,
                       limit=config.n_inrs, progress=fit_progress,
                       workers=config.fit_workers or available_cores())
    if config.probe not in {p.name for p in catalog.list_probe_sets()}:
        inr_ids = set(catalog.population_sample_ids(pop_name).tolist())
        _, _, splits = catalog.dataset_arrays(config.dataset)
        test = [i for i in range(len(splits)) if splits[i] == "test" and i in inr_ids]
        catalog.create_probe_set(config.probe, test[: config.probe_size], dataset=config.dataset)
    models = []
    for kind in config.kinds:
        for seed in config.seeds:
            models.append(_trained(catalog, config, kind, seed, pop_name, say))
    for model in models:
        if not catalog.list_activations(model.id, probe=config.probe):
            say(f"recording activations of {model.name} (id {model.id})")
            record_model(catalog, model.id, config.probe, progress=False)
    paths = figures(catalog, [m.id for m in models], out_dir) if figures else ()
    return PipelineResult(pop_name, tuple(models), paths)


def _trained(catalog: Catalog, config: PipelineConfig, kind: str, seed: int, pop_name: str,
             say: Callable[[str], None]) -> ModelRecord:
    """The model of ``kind`` and ``seed`` this configuration asks for: found (the same
    training, :mod:`zoo.identity`) or trained now."""
    epochs = config.epochs.get(kind, config.default_epochs)
    on_weights = get_kind(kind).reads_weights
    train = TrainConfig(epochs=epochs, batch_size=config.batch_size, init_seed=seed,
                        data_seed=seed)
    population, dataset = (pop_name, None) if on_weights else (None, config.dataset)
    found = find_trained(catalog, training_key(catalog, kind, train, population=population,
                                               dataset=dataset))
    if found is not None:
        return found
    say(f"training {kind} (seed {seed}, {epochs} epochs)")
    return train_model(catalog, kind, train, tags=[config.tag], population=population,
                       dataset=dataset,
                       on_epoch=lambda m: say(f"  epoch {m.epoch}/{epochs}: train acc "
                                              f"{m.train_acc:.3f}, val acc {m.val_acc:.3f} "
                                              f"({m.seconds:.0f} s)"))

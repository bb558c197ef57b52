"""The main job end to end on small real data; running it again adds nothing."""

from __future__ import annotations

from pathlib import Path

from analysis.plots import penultimate_cka_figure
from store import Catalog
from zoo.inr.fit import FitConfig
from zoo.models.siren import SirenConfig
from zoo.pipeline import PipelineConfig, run_pipeline


def test_pipeline_end_to_end_and_idempotent(sqlite_catalog: Catalog, tmp_path: Path) -> None:

    config = PipelineConfig(dataset="digits", n_inrs=160, siren=SirenConfig(hidden_width=16),
                            fit=FitConfig(steps=20, batch_size=80), seeds=(0,), epochs={},
                            default_epochs=1, probe="p", probe_size=24)
    said: list[str] = []
    result = run_pipeline(sqlite_catalog, config, tmp_path / "fig", say=said.append,
                          figures=penultimate_cka_figure)
    assert sum(line.strip().startswith("epoch 1/1") for line in said) == 4  # one per model
    assert [m.kind for m in result.models] == ["gmn", "mlp-weights", "mlp", "cnn"]
    assert result.figures[0].read_bytes()[:4] == b"\x89PNG"
    for model in result.models:
        layers = [a.layer for a in sqlite_catalog.list_activations(model.id, probe="p")]
        assert layers[-2:] == ["logits", "predictions"]
    from analysis.sql import run_sql

    url = sqlite_catalog.engine.url.render_as_string(hide_password=False)
    assert run_sql(url, "SELECT count(*) AS n FROM similarities")["n"][0] == 10  # 4x4 sym.
    n_models = sqlite_catalog.count_models()
    said.clear()
    again = run_pipeline(sqlite_catalog, config, tmp_path / "fig", say=said.append,
                          figures=penultimate_cka_figure)
    assert said == [] and sqlite_catalog.count_models() == n_models
    assert [m.id for m in again.models] == [m.id for m in result.models]

    # Another INR initialisation is another population: only the weight-space models are
    # trained again; the image models are reused.
    shared = PipelineConfig(**{**config.__dict__, "fit": FitConfig(steps=20, batch_size=80,
                                                                     init="shared")})
    said.clear()
    other = run_pipeline(sqlite_catalog, shared, tmp_path / "fig", say=said.append,
                          figures=penultimate_cka_figure)
    assert other.population.endswith("-shared") and other.population != result.population
    trained = [line for line in said if line.startswith("training")]
    assert [line.split()[1] for line in trained] == ["gmn", "mlp-weights"]
    assert [m.id for m in other.models][2:] == [m.id for m in result.models][2:]
    assert all(m.config["population"] == other.population for m in other.models[:2])

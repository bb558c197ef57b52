"""Prediction agreement, Cohen's kappa and ensembles, against sklearn and the raw arrays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from analysis.predictions import (
    agreement,
    cohens_kappa,
    ensemble_accuracy,
    prediction_pairs,
    probe_labels,
    recorded_output,
)
from store import Catalog, InvalidInputError, NotFoundError
from zoo.cli import cli
from zoo.data.register import add_bundled_dataset
from zoo.model_runs import record_model, train_model
from zoo.train import TrainConfig


@pytest.mark.parametrize("seed", range(4))
def test_kappa_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 5, 200))  # partly agreeing
    assert cohens_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert agreement(a, b) == pytest.approx(float(np.mean(a == b)))


def test_kappa_edge_cases() -> None:
    assert cohens_kappa([3, 1, 2], [3, 1, 2]) == 1.0
    assert cohens_kappa([2, 2, 2], [2, 2, 2]) == 1.0  # both constant and equal
    assert cohens_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    with pytest.raises(InvalidInputError, match="equal length"):
        cohens_kappa([1, 2], [1])
    with pytest.raises(InvalidInputError, match="non-empty"):
        agreement([], [])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, list[int]]]:
    """Three image models (two MLP seeds and a CNN) on sklearn digits, recorded on a probe."""
    root = tmp_path_factory.mktemp("predictions")
    catalog = Catalog.create(f"sqlite:///{root / 'c.db'}", str(root / "arrays"))
    add_bundled_dataset(catalog, "digits")
    _, _, splits = catalog.dataset_arrays("digits")
    catalog.create_probe_set("probe", np.flatnonzero(splits == "test")[:120].tolist(),
                             dataset="digits")
    ids = []
    for kind, seed in (("mlp", 0), ("mlp", 1), ("cnn", 0)):
        config = TrainConfig(epochs=2, batch_size=32, lr=3e-3, init_seed=seed, data_seed=seed)
        model = train_model(catalog, kind, config, dataset="digits", progress=False)
        record_model(catalog, model.id, "probe", progress=False)
        ids.append(model.id)
    yield catalog, ids
    catalog.close()


def test_pairs_and_ensemble_match_the_recorded_arrays(
        recorded: tuple[Catalog, list[int]]) -> None:
    cat, ids = recorded
    labels = probe_labels(cat, "probe")
    _, all_labels, _ = cat.dataset_arrays("digits")
    assert np.array_equal(labels, all_labels[cat.probe_sample_ids("probe")])
    frame = prediction_pairs(cat, ids)
    assert len(frame) == 3 and set(frame["probe_set"]) == {"probe"}
    preds = {m: recorded_output(cat, m, "probe", "predictions") for m in ids}
    for _, row in frame.iterrows():
        a, b = preds[row["model_a_id"]], preds[row["model_b_id"]]
        assert row["acc_a"] == pytest.approx(np.mean(a == labels))
        assert row["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
        parts = row["both_correct"] + row["only_a_correct"] + row["only_b_correct"]
        assert parts <= 1.0 and row["only_a_correct"] == pytest.approx(
            np.mean((a == labels) & (b != labels)))
    logits = [recorded_output(cat, m, "probe", "logits") for m in ids]
    expected = np.mean(np.mean(logits, axis=0).argmax(axis=1) == labels)
    assert ensemble_accuracy(cat, ids) == pytest.approx(expected)
    single = ensemble_accuracy(cat, ids[:1])
    assert single == pytest.approx(np.mean(preds[ids[0]] == labels))  # argmax of logits
    with pytest.raises(InvalidInputError, match="at least 2 models"):
        prediction_pairs(cat, ids[:1])
    with pytest.raises(NotFoundError, match="no recorded 'margins'"):
        recorded_output(cat, ids[0], "probe", "margins")


def test_cli_agree(recorded: tuple[Catalog, list[int]], tmp_path: Path) -> None:
    cat, ids = recorded
    env = {"ZOO_DATABASE_URL": cat.engine.url.render_as_string(hide_password=False),
           "ZOO_ARRAYS_URL": cat.arrays.root}
    runner = CliRunner()
    models = ",".join(map(str, ids))
    result = runner.invoke(cli, ["agree", "--models", models, "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["pairs"]) == 3 and out["ensemble_acc"] == pytest.approx(
        ensemble_accuracy(cat, ids))
    table = runner.invoke(cli, ["agree", "--where", "kind = 'mlp'"], env=env)
    assert table.exit_code == 0 and "kappa" in table.stdout and "ensemble of 2" in table.stderr
    bad = runner.invoke(cli, ["agree", "--models", "1,x"], env=env)  # x: no such model name
    errors = [line for line in bad.output.splitlines() if line.startswith("Error:")]
    assert bad.exit_code != 0 and len(errors) == 1 and "'x'" in errors[0]
    assert "Traceback" not in bad.output

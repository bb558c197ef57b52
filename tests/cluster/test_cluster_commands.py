"""`zoo record --cluster` and `zoo reproduce --cluster` (#20): the same models and arrays
as without a cluster, one task per model on a Dask LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from store import Catalog
from tests.conftest import ZooRunner
from zoo.cluster import train_models
from zoo.data.register import add_bundled_dataset
from zoo.study._jobs import plan_jobs, run_jobs
from zoo.train import TrainConfig

RUNS = [("mlp", TrainConfig(epochs=1, batch_size=128, init_seed=s, data_seed=s), None, "digits")
        for s in (0, 1)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as every cluster task runs
    yield
    torch.set_num_threads(threads)


def _shas(cat: Catalog, model_id: int, probe: str) -> dict[str, str]:
    return {a.layer: a.sha256 for a in cat.list_activations(model_id, probe=probe)}


def test_record_where_on_the_cluster_equals_recording_here(tmp_path: Path, dask_cluster: str,
                                                           one_thread: None) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Catalog.create(url, str(tmp_path / "arrays")) as cat:
        add_bundled_dataset(cat, "digits")
        ids = train_models(cat, RUNS)
        for probe in ("here", "there"):  # the same samples under two names
            cat.create_probe_set(probe, list(range(0, 400, 10)), dataset="digits")
    zoo = ZooRunner({"ZOO_HOME": str(tmp_path / "home"), "ZOO_DATABASE_URL": url,
                     "ZOO_ARRAYS_URL": str(tmp_path / "arrays"), "ZOO_CLUSTER": ""})
    for m in ids:  # the single-model form, in this process
        zoo("record", str(m), "--probe", "here")
    out = zoo("record", "--where", "kind = 'mlp'", "--probe", "there", "--cluster",
              dask_cluster)
    assert out.stdout.count("\trecorded") == 2
    again = zoo("record", "--models", ",".join(map(str, ids)), "--probe", "there",
                "--cluster", dask_cluster)
    assert again.stdout.count("stored already") == 2
    with Catalog.open(url, str(tmp_path / "arrays")) as cat:
        for m in ids:
            here, there = _shas(cat, m, "here"), _shas(cat, m, "there")
            assert here == there and "predictions" in here
        assert cat.check().ok
    both = zoo("record", str(ids[0]), "--models", str(ids[1]), "--probe", "here", ok=False)
    assert both.exit_code == 2 and "not both" in both.output
    bad = zoo("record", "--where", "kind = 'mlp'", "--probe", "nope", "--cluster",
              dask_cluster, ok=False)
    assert bad.exit_code == 1 and bad.output.count("Error:") == 1


def _train_jobs(root: Path, cluster: str | None) -> list[str]:
    """Plan and run two mlp jobs on a fresh catalog; the checkpoints' sha256s in order."""
    with Catalog.create(f"sqlite:///{root / 'catalog.db'}", str(root / "arrays")) as cat:
        add_bundled_dataset(cat, "digits")
        cat.create_probe_set("test-20", list(range(1000, 1020)), dataset="digits")
        jobs = plan_jobs(cat, ("mlp",), (0, 1), lambda kind: 1, 128, None, "digits",
                         "test-20")
        events: list[str] = []
        out = run_jobs(cat, jobs, 1, lambda e: events.append(e[0]), lambda j, m: None,
                       cluster=cluster)
        assert events.count("recorded") == 2 and cat.check().ok
        for m in out.values():
            assert cat.find_activation(m, "predictions", "test-20") is not None
        return [cat.get_model(out[j.slot]).sha256 or "" for j in jobs]


def test_reproduce_jobs_on_the_cluster_train_the_same_models(tmp_path: Path,
                                                             dask_cluster: str,
                                                             one_thread: None) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    here = _train_jobs(tmp_path / "here", None)
    there = _train_jobs(tmp_path / "there", dask_cluster)
    assert here == there and len(set(here)) == 2


def test_reproduce_cluster_unreachable_is_one_error_line(tmp_path: Path) -> None:
    zoo = ZooRunner({"ZOO_HOME": str(tmp_path / "home"), "ZOO_CLUSTER_TIMEOUT": "1",
                     "ZOO_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    out = zoo("reproduce", "--cluster", "tcp://127.0.0.1:9", ok=False)
    assert out.exit_code == 1 and out.output.count("Error:") == 1
    assert "no Dask scheduler answers" in out.output

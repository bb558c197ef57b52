"""All-pairs similarity on a Dask LocalCluster (#20): the same matrix as in one process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from store import Catalog
from tests.conftest import ZooRunner
from zoo.cluster import block_size, resolve_cluster


def _models_with_activations(cat: Catalog, k: int, n: int = 48) -> list[int]:
    """``k`` models, each with one random ``[n, d]`` layer (widths differ) on probe ``p``."""
    from zoo.checkpoints import state_dict_to_safetensors

    cat.create_probe_set("p", list(range(n)))
    rng = np.random.default_rng(7)
    base = rng.normal(size=(n, 6))
    ids = []
    for i in range(k):
        import torch

        ckpt = state_dict_to_safetensors({"w": torch.full((2,), float(i))})
        model = cat.add_model("mlp", checkpoint=ckpt, arch={}, config={}, seed=i)
        width = 3 + i % 4
        acts = base @ rng.normal(size=(6, width)) + 0.3 * rng.normal(size=(n, width))
        cat.add_activation(model.id, "h", "p", acts.astype(np.float32))
        cat.add_activation(model.id, "logits", "p", rng.normal(size=(n, 2)).astype(np.float32))
        ids.append(model.id)
    return ids


@pytest.fixture
def zoo_s3(tmp_path: Path, s3_arrays: str) -> ZooRunner:
    """``zoo`` on a SQLite catalog with its arrays on the session's S3 server."""
    run = ZooRunner({"ZOO_HOME": str(tmp_path / "home"),
                     "ZOO_DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
                     "ZOO_ARRAYS_URL": s3_arrays, "ZOO_CLUSTER": ""})
    run("init")
    return run


def _matrix(out: str, k: int) -> np.ndarray:
    rows = json.loads(out)
    ids = sorted({r["model_a_id"] for r in rows})
    m = np.full((k, k), np.nan)
    for r in rows:
        m[ids.index(r["model_a_id"]), ids.index(r["model_b_id"])] = r["value"]
    return m


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "minibatch"])
def test_cka_matrix_on_cluster_equals_local(zoo_s3: ZooRunner, tmp_path: Path,
                                            dask_cluster: str, estimator: str) -> None:
    k = 7
    with Catalog.open(zoo_s3.env["ZOO_DATABASE_URL"], zoo_s3.env["ZOO_ARRAYS_URL"]) as cat:
        ids = _models_with_activations(cat, k)
    models = ",".join(map(str, ids))
    common = ("cka-matrix", "--models", models, "--layer", "penultimate", "--json",
              "--estimator", estimator, "--batch-size", "16")
    remote = zoo_s3(*common, "--cluster", dask_cluster)
    assert all(not r["cached"] for r in json.loads(remote.output))
    local = zoo_s3(*common, "--recompute")  # computed again here, in this process
    a, b = _matrix(remote.output, k), _matrix(local.output, k)
    assert not np.isnan(a).any() and np.allclose(np.diag(a), 1.0)
    assert np.max(np.abs(a - b)) <= 1e-12
    again = zoo_s3(*common, "--cluster", dask_cluster)  # the client wrote the cache rows
    assert all(r["cached"] for r in json.loads(again.output))
    assert np.array_equal(_matrix(again.output, k), b)


def test_cluster_address_and_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CLUSTER", "tcp://10.0.0.1:8786")
    assert resolve_cluster(None) == "tcp://10.0.0.1:8786"
    assert resolve_cluster("local") is None and resolve_cluster("") is None
    monkeypatch.delenv("ZOO_CLUSTER")
    assert resolve_cluster(None) is None
    assert block_size(200, 2) == 50 and block_size(7, 2) == 2 and block_size(1, 64) == 1
    assert block_size(100_000, 8) == 128  # bounded memory per task


def test_unreachable_cluster_is_one_error_line(zoo_s3: ZooRunner,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CLUSTER_TIMEOUT", "1")
    with Catalog.open(zoo_s3.env["ZOO_DATABASE_URL"], zoo_s3.env["ZOO_ARRAYS_URL"]) as cat:
        ids = _models_with_activations(cat, 2)
    port = __import__("tests.conftest", fromlist=["_free_port"])._free_port()
    result = zoo_s3("cka-matrix", "--models", f"{ids[0]},{ids[1]}", "--cluster",
                    f"tcp://127.0.0.1:{port}", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no Dask scheduler answers at") and (
        "Traceback" not in result.output)

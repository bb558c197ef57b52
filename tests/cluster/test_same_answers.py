"""Same answers at scale (#20): one small pipeline run two ways gives identical results.

1. SQLite + local arrays, everything in this process;
2. PostgreSQL + ``s3://`` arrays + a Dask LocalCluster with two worker processes.

Populations must be equal bit for bit, checkpoints of the same seeds byte for byte,
and CKA values to 1e-12.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from store import Catalog
from zoo.cluster import block_compute, record_models, train_models
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.models.siren import SirenConfig
from zoo.train import TrainConfig

SIREN = SirenConfig(hidden_width=8)
FIT = FitConfig(steps=10, batch_size=8, seed=2)
RUNS = [("mlp", TrainConfig(epochs=1, batch_size=128, init_seed=s, data_seed=s), None, "digits")
        for s in (0, 1, 2)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as every cluster task runs
    yield
    torch.set_num_threads(threads)


def _pipeline(cat: Catalog, cluster: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Population weights, checkpoint sha256s, and the CKA matrix of the trained models."""
    from analysis.queries import cka_matrix

    add_bundled_dataset(cat, "digits")
    pop = fit_population(cat, "digits", SIREN, FIT, limit=32, cluster=cluster)
    ids = train_models(cat, RUNS, cluster=cluster)
    cat.create_probe_set("p", list(range(0, 600, 5)), dataset="digits")
    assert record_models(cat, ids, "p", cluster=cluster) == ids
    compute = block_compute(cluster, cat.arrays.root, block=2) if cluster else None
    frame = cka_matrix(cat, ids, layer="first", compute=compute)
    assert cat.check().ok
    shas = [cat.get_model(m).sha256 or "" for m in ids]
    return cat.arrays.read(pop.array_key), shas, frame.to_numpy()


@pytest.mark.postgres
def test_laptop_and_cluster_give_the_same_answers(tmp_path: Path, pg_url: str, s3_arrays: str,
                                                  dask_cluster: str, one_thread: None) -> None:
    with Catalog.create(f"sqlite:///{tmp_path / 'one.db'}", str(tmp_path / "arrays")) as cat:
        weights, shas, cka = _pipeline(cat, None)
    with Catalog.create(pg_url, s3_arrays) as cat:
        assert cat.dialect == "postgresql" and cat.arrays.root.startswith("s3://")
        weights_c, shas_c, cka_c = _pipeline(cat, dask_cluster)
    assert weights.dtype == weights_c.dtype and np.array_equal(weights, weights_c)
    assert shas == shas_c and len(set(shas)) == len(shas)
    assert np.allclose(np.diag(cka), 1.0) and np.max(np.abs(cka - cka_c)) <= 1e-12

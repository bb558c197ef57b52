"""Object storage for real (#20): the array-store contract, a population fit, a recording
and a CKA query on ``s3://`` arrays served by moto's S3 server on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from store import ArrayStore, Catalog
from tests.conftest import S3_SECRET
from tests.store.test_arrays import ArrayStoreContract
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.model_runs import record_model, train_model
from zoo.models.siren import SirenConfig
from zoo.train import TrainConfig


class TestS3ArrayStore(ArrayStoreContract):
    """The contract every back-end keeps, on an ``s3://bucket/prefix`` root."""

    @pytest.fixture
    def store(self, s3_arrays: str) -> ArrayStore:
        return ArrayStore(s3_arrays)


def test_another_process_sees_what_one_wrote(s3_arrays: str) -> None:
    """No listing is cached: a second store instance (as another process would be)
    sees a key the first wrote after the second listed the category."""
    one, two = ArrayStore(s3_arrays), ArrayStore(s3_arrays)
    assert two.list_keys("activations") == []
    key = one.new_key("activations")
    one.write(key, np.ones((3, 2), np.float32))
    assert two.list_keys("activations") == [key] and two.exists(key)


@pytest.fixture
def s3_catalog(tmp_path: Path, s3_arrays: str) -> Catalog:
    catalog = Catalog.create(f"sqlite:///{tmp_path / 'catalog.db'}", s3_arrays)
    add_bundled_dataset(catalog, "digits")
    return catalog


def test_fit_record_and_cka_on_s3(s3_catalog: Catalog, tmp_path: Path) -> None:
    from analysis.queries import cka_matrix

    cat = s3_catalog
    pop = fit_population(cat, "digits", SirenConfig(hidden_width=8), FitConfig(steps=5,
                         batch_size=8), split="test", limit=16)
    assert pop.status == "complete" and cat.arrays.root.startswith("s3://")
    assert cat.arrays.checksum(pop.array_key) == pop.sha256
    assert cat.arrays.read(pop.array_key).shape == (16, pop.n_params)
    cat.create_probe_set("p", list(range(40)), dataset="digits")
    config = TrainConfig(epochs=1, batch_size=64)
    ids = [train_model(cat, "mlp", TrainConfig.from_dict({**config.to_dict(), "init_seed": s}),
                       dataset="digits", progress=False).id for s in (0, 1)]
    for model_id in ids:
        recorded = record_model(cat, model_id, "p", progress=False)
        assert recorded and all(cat.arrays.exists(a.array_key) for a in recorded)
    frame = cka_matrix(cat, ids, layer="penultimate")
    values = frame.to_numpy()
    assert np.allclose(np.diag(values), 1.0) and np.isclose(values[0, 1], values[1, 0])
    # the same value from the arrays read back and an independent float64 linear CKA
    rec = {a.model_id: a for a in cat.list_activations(probe="p")
           if a.layer == frame.index[0].split(":")[1]}
    x = cat.arrays.read(rec[ids[0]].array_key).astype(np.float64)
    y = cat.arrays.read(cat.get_activation(ids[1], frame.columns[1].split(":")[1],
                                           "p").array_key).astype(np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    ref = np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    assert abs(values[0, 1] - ref) < 1e-10
    assert cat.check().ok


def test_credentials_never_reach_the_catalog(s3_catalog: Catalog, tmp_path: Path) -> None:
    """The keys come from the AWS variables only: the catalog file holds no trace of them."""
    cat = s3_catalog
    fit_population(cat, "digits", SirenConfig(hidden_width=8), FitConfig(steps=2, batch_size=8),
                   split="test", limit=8)
    cat.close()
    blob = (tmp_path / "catalog.db").read_bytes()
    for wal in tmp_path.glob("catalog.db-*"):
        blob += wal.read_bytes()
    assert S3_SECRET.encode() not in blob and b"zoo-test-key" not in blob

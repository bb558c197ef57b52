"""Each layer is recorded once: a module whose output repeats another recorded module's
(the CNN's ``pool`` is the spatial mean of its last conv block) is not stored again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from store import Catalog
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.model_runs import record_model, train_model
from zoo.models.siren import SirenConfig
from zoo.train import InMemorySink, TrainConfig, record_activations

ONE_EPOCH = TrainConfig(epochs=1, batch_size=32, lr=3e-3, init_seed=0, data_seed=0)


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    """8x8 digits, 64 INRs of them and a probe set of 24."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("record_once")
    catalog = Catalog.create(f"sqlite:///{root / 'c.db'}", str(root / "arrays"))
    add_bundled_dataset(catalog, "digits")
    fit_population(catalog, "digits", SirenConfig(hidden_width=8), FitConfig(steps=5,
                   batch_size=64), name="inrs", limit=64)
    catalog.create_probe_set("probe", catalog.population_sample_ids("inrs")[:24].tolist(),
                             dataset="digits")
    yield catalog
    catalog.close()


@pytest.mark.parametrize(("kind", "source"), [("gmn", {"population": "inrs"}),
                                              ("ngt", {"population": "inrs"}),
                                              ("mlp-weights", {"population": "inrs"}),
                                              ("mlp", {"dataset": "digits"}),
                                              ("cnn", {"dataset": "digits"})])
def test_no_two_recorded_layers_are_the_same_array(cat: Catalog, kind: str,
                                                   source: dict[str, str]) -> None:
    model = train_model(cat, kind, ONE_EPOCH, progress=False, **source)
    records = record_model(cat, model.id, "probe", progress=False)
    arrays = {r.layer: np.asarray(cat.arrays.read(r.array_key)) for r in records
              if r.layer != "predictions"}
    assert len(arrays) >= 3
    for (a, x), (b, y) in itertools.combinations(arrays.items(), 2):
        assert not (x.shape == y.shape and np.array_equal(x, y)), f"{kind}: {a} == {b}"
    if kind == "cnn":
        assert "pool" not in arrays and any(n.startswith("features.") for n in arrays)


def test_the_cnn_names_pool_an_alias_of_its_last_conv_block() -> None:
    from zoo.models.cnn import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=10)
    images = torch.rand(10, 1, 8, 8)
    aliases: dict[str, str] = {}
    sink = InMemorySink()
    record_activations(model, images, None, sink, batch_size=4, progress=False,
                       aliases=aliases)
    last = f"features.{len(model.features) - 1}"
    assert aliases == {"pool": last} and "pool" not in sink.shapes
    with torch.no_grad():  # what pool returns is exactly the array stored for the block
        x = images
        for block in model.features:
            x = block(x)
        pooled = model.pool(x).numpy()
    np.testing.assert_array_equal(sink[last], pooled)

"""Multi-view populations, the DWSNets SIREN variant, weight dropout and LR warm-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from store import Catalog, InvalidInputError
from zoo.data.register import add_bundled_dataset
from zoo.inputs import load_inputs
from zoo.inr.augment import NG_GNN_AUGMENT, WeightAugment, augment_siren_params
from zoo.inr.batched import batched_siren_forward
from zoo.inr.fit import FitConfig, fit_inrs
from zoo.inr.population import fit_population
from zoo.models.siren import Siren, SirenConfig, init_flat_params, make_coordinates
from zoo.train import TrainConfig

DWS = SirenConfig(variant="dwsnet")


@pytest.fixture
def cat(sqlite_catalog: Catalog) -> Catalog:
    add_bundled_dataset(sqlite_catalog, "mnist-5k")
    return sqlite_catalog


def test_multi_view_population_rows_views_and_inputs(cat: Catalog) -> None:
    one = fit_population(cat, "mnist-5k", SirenConfig(), FitConfig(steps=5, batch_size=8),
                         limit=12)
    three = fit_population(cat, "mnist-5k", SirenConfig(),
                           FitConfig(steps=5, batch_size=8, views=3), limit=12)
    assert three.name.endswith("s0-t5-lr0.01-v3") and three.n_inrs == 36
    rows = cat.arrays.read(three.array_key)
    # view 0 is exactly the one-view fit; other views start elsewhere and differ
    assert np.array_equal(rows[:12], cat.arrays.read(one.array_key))
    assert not np.allclose(rows[12:24], rows[:12])
    inrs = cat.list_models(population=three.id)
    assert [m.sample_id for m in inrs] == cat.population_sample_ids(three.id).tolist()
    assert [m.config["view"] for m in inrs] == [0] * 12 + [1] * 12 + [2] * 12
    assert len({m.sample_id for m in inrs}) == 12
    first = load_inputs(cat, "mlp-weights", three.id)
    every = load_inputs(cat, "mlp-weights", three.id, view=None)
    second = load_inputs(cat, "mlp-weights", three.id, view=2)
    assert len(first.sample_ids) == 12 and len(every.sample_ids) == 36
    assert np.array_equal(every.sample_ids, np.tile(first.sample_ids, 3))
    torch.testing.assert_close(second.dataset.tensors[0], torch.from_numpy(rows[24:]))
    torch.testing.assert_close(every.dataset.tensors[1], first.dataset.tensors[1].repeat(3))
    with pytest.raises(InvalidInputError, match=r"views 0\.\.2"):
        load_inputs(cat, "mlp-weights", three.id, view=3)


def test_views_need_per_inr_inits() -> None:
    with pytest.raises(ValueError, match="per-inr"):
        FitConfig(views=2, init="shared")
    with pytest.raises(ValueError, match="views"):
        FitConfig(views=0)


def test_dwsnet_variant_init_offset_and_fit() -> None:
    flat = init_flat_params(2000, DWS, torch.Generator().manual_seed(0))
    model = Siren(DWS)
    model.load_flat_parameters(flat[0])
    weights = [layer.weight for layer in model.linears]
    biases = [layer.bias for layer in model.linears]
    bound0 = math.sqrt(6 / 2) / 30
    assert float(weights[0].abs().max()) <= bound0 and float(biases[0].abs().max()) == 0.0
    assert float(biases[1].abs().max()) == 0.0 and float(biases[2].abs().max()) > 0.0
    coords = make_coordinates(28, 28)
    with torch.no_grad():  # the module and the batched forward both add +0.5
        direct = model(coords)
        torch.testing.assert_close(batched_siren_forward(flat[:1], coords, DWS)[0], direct)
        plain = batched_siren_forward(flat[:1], coords, SirenConfig(variant="sitzmann"))[0]
    torch.testing.assert_close(direct - plain, torch.full_like(direct, 0.5))
    images = torch.zeros(2, 28, 28)
    images[:, 10:18, 10:18] = 1.0
    fit = fit_inrs(images, DWS, FitConfig(steps=150, lr=1e-2, batch_size=2))
    with torch.no_grad():
        out = batched_siren_forward(fit.params, coords, DWS).reshape(2, 28, 28)
    mse = (out - images).square().mean(dim=(1, 2))
    torch.testing.assert_close(mse, fit.mse, rtol=1e-3, atol=1e-6)  # offset counted once
    assert float(mse.max()) < 0.02  # a blank fit of this image has mse 0.08
    with pytest.raises(ValueError, match="variant"):
        SirenConfig(variant="other")


def test_weight_dropout_drops_and_rescales() -> None:
    flat = torch.randn(64, SirenConfig().n_params) + 3.0
    gen = torch.Generator().manual_seed(0)
    dropped = augment_siren_params(flat, SirenConfig(), WeightAugment(0, 0, 0, 0.1), gen)
    zero = dropped == 0
    assert 0.08 < float(zero.float().mean()) < 0.12
    torch.testing.assert_close(dropped[~zero], flat[~zero] / 0.9)
    assert NG_GNN_AUGMENT.to_dict() == {"rotation_deg": 45.0, "scale": 0.2,
                                        "translation": 0.25, "weight_dropout": 0.01}
    with pytest.raises(ValueError, match="weight_dropout"):
        WeightAugment(weight_dropout=1.0)


def test_warmup_ramps_the_learning_rate_linearly() -> None:
    from zoo.train.loop import _make_optimizer, _make_warmup

    model = nn.Linear(3, 2)
    config = TrainConfig(lr=0.1, warmup_steps=4, amsgrad=True)
    optimizer = _make_optimizer(model, config)
    assert optimizer.param_groups[0]["amsgrad"] is True
    scheduler = _make_warmup(optimizer, config)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(rates, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    flat = _make_optimizer(model, TrainConfig(lr=0.1))
    _make_warmup(flat, TrainConfig(lr=0.1))
    assert flat.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)

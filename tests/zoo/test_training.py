"""Training, evaluating and recording real models from the catalog (digits + their INRs)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from store import Catalog, DuplicateError, InvalidInputError
from zoo.data.register import add_bundled_dataset
from zoo.graphs import flat_from_mlp_params, mlp_params_from_flat, permute_hidden
from zoo.inputs import Inputs, load_inputs, model_inputs, weight_inputs
from zoo.inr.augment import WeightAugment
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.kinds import DEFAULT_PROBE_FEATURES, default_micro_batch, load_model
from zoo.model_runs import evaluate_model, record_model, train_model
from zoo.models.siren import SirenConfig
from zoo.train import TrainConfig

FAST = TrainConfig(epochs=2, batch_size=32, lr=3e-3, init_seed=0, data_seed=0)


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    """Real 8x8 digits and a population of 150 INRs fitted to them."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("training")
    catalog = Catalog.create(f"sqlite:///{root / 'c.db'}", str(root / "arrays"))
    add_bundled_dataset(catalog, "digits")
    fit_population(catalog, "digits", SirenConfig(hidden_width=16), FitConfig(steps=25,
                   batch_size=75), name="inrs", limit=150)
    catalog.create_probe_set("probe", catalog.population_sample_ids("inrs")[:40].tolist(),
                             dataset="digits")
    yield catalog
    catalog.close()


@pytest.mark.parametrize(("kind", "source"), [("gmn", {"population": "inrs"}),
                                              ("ngt", {"population": "inrs"}),
                                              ("mlp-weights", {"population": "inrs"}),
                                              ("mlp", {"dataset": "digits"}),
                                              ("cnn", {"dataset": "digits"})])
def test_train_register_record(cat: Catalog, kind: str, source: dict[str, str]) -> None:
    record = train_model(cat, kind, FAST, progress=False, tags=["t"], **source)
    assert record.kind == kind and record.seed == 0 and record.tags == ("t",)
    assert record.config["train"]["init_seed"] == 0 and record.sha256
    # GMN batches are computed in cache-sized pieces by default; the config says so.
    assert record.config["train"]["micro_batch"] == default_micro_batch(kind, FAST.batch_size)
    assert record.arch.get("probe_features", 0) == (DEFAULT_PROBE_FEATURES if kind in (
        "gmn", "ngt") else 0) == 0  # weights only by default
    assert record.config.get("population", record.config.get("dataset")) in ("inrs", "digits")
    names = [m.name for m in cat.get_metrics(record.id)]
    assert names.count("val_acc") == 2 and "test_acc" in names
    with pytest.raises(DuplicateError, match=f"as model {record.id} .*nothing new"):  # same seeds
        train_model(cat, kind, FAST, progress=False, **source)
    other = train_model(cat, kind, TrainConfig(epochs=2, batch_size=32, lr=3e-3, init_seed=1),
                        progress=False, **source)
    assert other.sha256 != record.sha256

    summary = evaluate_model(cat, record.id, "test")
    assert summary.confusion.sum() == summary.n and 0 <= summary.accuracy <= 1
    stored = next(m.value for m in cat.get_metrics(record.id) if m.name == "test_acc")
    assert summary.accuracy == pytest.approx(stored)

    layers = record_model(cat, record.id, "probe", progress=False)
    names = [r.layer for r in layers]
    assert names[-2:] == ["logits", "predictions"] and len(names) >= 3
    _check_against_direct_forward(cat, record.id, {r.layer: cat.arrays.read(r.array_key)
                                                   for r in layers})


def _check_against_direct_forward(cat: Catalog, model_id: int, stored: dict[str, np.ndarray]
                                  ) -> None:
    """The stored arrays equal a forward pass with our own hooks on the whole probe set."""
    record, model = load_model(cat, model_id)
    inputs = model_inputs(cat, record, sample_ids=cat.probe_sample_ids("probe"))
    batch = (inputs.collate(list(inputs.dataset)) if inputs.collate
             else inputs.dataset.tensors[0])
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    hooks = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out))
        for name in stored if name in modules]
    with torch.no_grad():
        logits = model(batch)
    for h in hooks:
        h.remove()
    np.testing.assert_allclose(stored["logits"], logits.numpy(), rtol=1e-5, atol=1e-5)
    assert np.array_equal(stored["predictions"], logits.argmax(1).numpy())
    for name, out in seen.items():
        direct = out.mean(dim=(2, 3)) if out.dim() == 4 else out.flatten(1)
        np.testing.assert_allclose(stored[name], direct.numpy(), rtol=1e-5, atol=1e-5)


def test_gmn_invariant_to_hidden_permutations_of_real_inrs(cat: Catalog) -> None:
    record = train_model(cat, "gmn", TrainConfig(epochs=1, batch_size=32, init_seed=7),
                         progress=False, population="inrs", probe_features=0)  # biases only
    _, model = load_model(cat, record.id)
    inputs = load_inputs(cat, "gmn", "inrs", split="test",
                         weight_norm=record.arch["weight_norm"])
    assert inputs.collate is not None
    params = inputs.dataset.tensors[0][:16].double()
    sizes = record.arch["spec"]
    weights, biases = mlp_params_from_flat(params, sizes)
    gen = torch.Generator().manual_seed(0)
    permuted = []
    for i in range(params.shape[0]):
        perms = [torch.randperm(d, generator=gen) for d in sizes[1:-1]]
        w, b = permute_hidden([x[i] for x in weights], [x[i] for x in biases], perms)
        permuted.append(flat_from_mlp_params(w, b))
    flat_perm = torch.stack(permuted)
    assert not torch.allclose(flat_perm, params)  # the weights really moved
    labels = inputs.dataset.tensors[1][:16]
    model = model.double()
    with torch.no_grad():
        a = model(inputs.collate(list(zip(params, labels, strict=True))))
        b = model(inputs.collate(list(zip(flat_perm, labels, strict=True))))
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["gmn", "mlp-weights"])
def test_augmented_training_is_seeded_and_recorded(cat: Catalog, kind: str) -> None:
    warp = WeightAugment(rotation_deg=10.0, scale=0.05, translation=0.05)
    config = TrainConfig(epochs=2, batch_size=32, lr=3e-3, init_seed=3, data_seed=4)
    record = train_model(cat, kind, config, population="inrs", augment=warp, progress=False)
    assert record.config["augment"] == warp.to_dict()
    plain = train_model(cat, kind, config, population="inrs", progress=False)
    assert plain.config["augment"] is None
    assert plain.sha256 != record.sha256  # the warps changed what was learned
    with pytest.raises(DuplicateError):  # ...deterministically, given the data seed
        train_model(cat, kind, config, population="inrs", augment=warp, progress=False)
    # evaluation never warps: stored test accuracy equals a fresh evaluation
    stored = next(m.value for m in cat.get_metrics(record.id) if m.name == "test_acc")
    assert evaluate_model(cat, record.id, "test", store=False).accuracy == pytest.approx(stored)


def test_augmenting_images_is_refused(cat: Catalog) -> None:
    from store import InvalidInputError

    with pytest.raises(InvalidInputError, match="augmentation"):
        train_model(cat, "cnn", FAST, dataset="digits", augment=WeightAugment(), progress=False)


def test_wrong_sources_are_clear_errors(cat: Catalog) -> None:
    from store import InvalidInputError

    with pytest.raises(InvalidInputError, match="--population"):
        train_model(cat, "gmn", FAST, dataset="digits", progress=False)
    with pytest.raises(InvalidInputError, match="--dataset"):
        train_model(cat, "cnn", FAST, population="inrs", progress=False)


def test_model_kinds_are_modules() -> None:
    from zoo.kinds import build_model, default_arch

    arch = default_arch("cnn", num_classes=10, sample_shape=(8, 8))
    assert isinstance(build_model("cnn", arch), nn.Module)


@pytest.mark.parametrize(("kind", "source"), [("gmn", {"population": "inrs"}),
                                              ("mlp", {"dataset": "digits"})])
def test_dropout_is_part_of_the_stored_architecture(cat: Catalog, kind: str,
                                                    source: dict[str, str]) -> None:
    from store import InvalidInputError

    record = train_model(cat, kind, FAST, dropout=0.3, progress=False, **source)
    arch = record.arch["gmn"] if kind == "gmn" else record.arch
    assert arch["dropout"] == 0.3
    _, model = load_model(cat, record.id)  # rebuilt with the same dropout
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in model.modules())
    with pytest.raises(InvalidInputError, match="dropout"):
        train_model(cat, kind, FAST, dropout=1.0, progress=False, **source)


def test_default_micro_batch_only_splits_large_gmn_batches() -> None:
    assert default_micro_batch("gmn", 64) == 16
    assert default_micro_batch("gmn", 16) is None  # already small
    assert default_micro_batch("gmn", 40) is None  # 16 does not divide it
    assert default_micro_batch("mlp", 64) is None and default_micro_batch("cnn", 256) is None


def test_gmn_with_probe_features_trains_records_and_stays_invariant(cat: Catalog) -> None:
    record = train_model(cat, "gmn", TrainConfig(epochs=1, batch_size=32, init_seed=11),
                         probe_features=4, progress=False, population="inrs")
    assert record.arch["probe_features"] == 4 and record.arch["gmn"]["node_dim"] == 5
    assert evaluate_model(cat, record.id, "val", store=False).n > 0
    layers = [a.layer for a in record_model(cat, record.id, "probe", progress=False)]
    assert layers[-2:] == ["logits", "predictions"]
    _, model = load_model(cat, record.id)
    raw = load_inputs(cat, "gmn", "inrs", split="test")  # unnormalised weights
    params, labels = (t[:12] for t in raw.dataset.tensors)
    params = params.double()
    sizes = record.arch["spec"]
    weights, biases = mlp_params_from_flat(params, sizes)
    gen = torch.Generator().manual_seed(1)
    permuted = torch.stack([flat_from_mlp_params(*permute_hidden(
        [x[i] for x in weights], [x[i] for x in biases],
        [torch.randperm(d, generator=gen) for d in sizes[1:-1]])) for i in range(12)])
    model = model.double()
    logits = []
    for flat in (params, permuted):
        inputs = weight_inputs("gmn", cat.get_population("inrs").arch,
                               Inputs(TensorDataset(flat, labels), None, raw.sample_ids[:12]),
                               record.arch["weight_norm"], probe_features=4)
        assert len(inputs.dataset.tensors) == 3  # params, probe features, labels
        assert inputs.collate is not None
        items = [(p.double(), f.double(), y) for p, f, y in zip(*inputs.dataset.tensors,
                                                                  strict=True)]
        with torch.no_grad():
            logits.append(model(inputs.collate(items)))
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-9, atol=1e-9)
    with pytest.raises(InvalidInputError, match="node features of a GMN"):
        train_model(cat, "mlp-weights", FAST, probe_features=4, progress=False,
                    population="inrs")


def test_ngt_is_recorded_like_the_gmn(cat: Catalog) -> None:
    """NG-T's representation layers (pooled node embeddings after each layer, readout,
    logits) are recorded per probe sample, as the GMN's."""
    record = train_model(cat, "ngt", TrainConfig(epochs=1, batch_size=32, init_seed=3),
                         progress=False, population="inrs")
    stored = record_model(cat, record.id, "probe", progress=False)
    shapes = {r.layer: r.shape for r in stored}
    assert [shapes[f"pooled.{t}"] for t in range(4)] == [(40, 64)] * 4
    assert shapes["readout.0"] == (40, 128) and shapes["logits"] == (40, 10)
    assert shapes["predictions"] == (40,)

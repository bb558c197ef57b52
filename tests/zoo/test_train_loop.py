"""Tests of zoo.train: TrainConfig, train_classifier and evaluate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv, global_mean_pool

import zoo.train as zt
from zoo.train import EpochMetrics, TrainConfig, evaluate, train_classifier


class TinyMLP(nn.Module):
    """64 -> hidden -> 10 with dropout (so the dropout seeding is exercised)."""

    def __init__(self, hidden: int = 32, p: float = 0.1) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(torch.relu(self.fc1(x))))

    def representation_layers(self) -> list[str]:
        return ["fc1", "out"]


class TinyGNN(nn.Module):
    """GraphConv -> mean pool -> linear, on torch_geometric Batches."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = GraphConv(2, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, data: Data) -> Tensor:
        h = torch.relu(self.conv(data.x, data.edge_index))
        return self.head(global_mean_pool(h, data.batch))


@pytest.fixture(scope="module")
def digits() -> tuple[TensorDataset, TensorDataset]:
    """sklearn's 1,797 real 8x8 digits, scaled to [0, 1], split 1400 / 397."""
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    xt = torch.tensor(x[perm] / 16.0, dtype=torch.float32)
    yt = torch.tensor(y[perm], dtype=torch.int64)
    return TensorDataset(xt[:1400], yt[:1400]), TensorDataset(xt[1400:], yt[1400:])


@pytest.fixture(scope="module")
def small_digits(
    digits: tuple[TensorDataset, TensorDataset],
) -> tuple[TensorDataset, TensorDataset]:
    """A 300 / 100 subset for the fast determinism tests."""
    (xt, yt), (xv, yv) = digits[0].tensors, digits[1].tensors
    return TensorDataset(xt[:300], yt[:300]), TensorDataset(xv[:100], yv[:100])


def random_labels(n: int, seed: int) -> TensorDataset:
    """Noise inputs with random labels: validation accuracy wanders, never converges."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g))


def capturing(factory: Callable[[], nn.Module]) -> tuple[Callable[[], nn.Module], list]:
    """Wrap a factory to keep (model, copy of its initial state_dict)."""
    built: list[tuple[nn.Module, dict[str, Tensor]]] = []

    def wrapped() -> nn.Module:
        model = factory()
        built.append((model, {k: v.clone() for k, v in model.state_dict().items()}))
        return model

    return wrapped, built


def states_equal(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_learns_real_digits(digits: tuple[TensorDataset, TensorDataset]) -> None:
    cfg = TrainConfig(epochs=8, batch_size=64, lr=5e-3, init_seed=1, data_seed=2)
    result = train_classifier(TinyMLP, digits[0], digits[1], cfg, progress=False)
    assert len(result.history) == 8
    assert result.best.val_acc > 0.85
    assert result.history[-1].train_loss < result.history[0].train_loss
    model = TinyMLP()
    model.load_state_dict(result.best_state)
    assert evaluate(model, digits[1], 128).accuracy == pytest.approx(result.best.val_acc)
    assert result.train_seconds >= sum(m.seconds for m in result.history) * 0.99


def test_same_seeds_give_bit_identical_weights(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, init_seed=3, data_seed=4)
    runs = []
    for outer_seed in (0, 12345):  # the caller's global RNG state must not matter
        torch.manual_seed(outer_seed)
        factory, built = capturing(TinyMLP)
        result = train_classifier(factory, *small_digits, cfg, progress=False)
        runs.append((result, built[0][0].state_dict()))
    (r1, final1), (r2, final2) = runs
    assert states_equal(final1, final2)
    assert states_equal(r1.best_state, r2.best_state)
    assert [dataclasses.replace(m, seconds=0) for m in r1.history] == [
        dataclasses.replace(m, seconds=0) for m in r2.history
    ]


def test_init_seed_changes_initial_and_final_weights(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    finals, inits = [], []
    for init_seed in (0, 1):
        factory, built = capturing(TinyMLP)
        cfg = TrainConfig(epochs=2, batch_size=32, init_seed=init_seed, data_seed=7)
        train_classifier(factory, *small_digits, cfg, progress=False)
        inits.append(built[0][1])
        finals.append(built[0][0].state_dict())
    assert not torch.equal(inits[0]["fc1.weight"], inits[1]["fc1.weight"])
    assert not torch.equal(finals[0]["fc1.weight"], finals[1]["fc1.weight"])


def test_data_seed_changes_trajectory_not_init(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    finals, inits, histories = [], [], []
    for data_seed in (0, 1):
        factory, built = capturing(lambda: TinyMLP(p=0.0))  # no dropout: only the order differs
        cfg = TrainConfig(epochs=2, batch_size=32, init_seed=5, data_seed=data_seed)
        result = train_classifier(factory, *small_digits, cfg, progress=False)
        inits.append(built[0][1])
        finals.append(built[0][0].state_dict())
        histories.append([m.train_loss for m in result.history])
    assert states_equal(inits[0], inits[1])
    assert not torch.equal(finals[0]["fc1.weight"], finals[1]["fc1.weight"])
    assert histories[0] != histories[1]


def test_dropout_stream_depends_only_on_data_seed(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    torch.manual_seed(42)
    start = TinyMLP(p=0.5).state_dict()

    def plain() -> nn.Module:
        model = TinyMLP(p=0.5)
        model.load_state_dict(start)
        return model

    def greedy() -> nn.Module:  # same weights, but eats global random numbers
        torch.rand(1000)
        return plain()

    finals = []
    for factory in (plain, greedy):
        wrapped, built = capturing(factory)
        cfg = TrainConfig(epochs=2, batch_size=32, init_seed=0, data_seed=3)
        train_classifier(wrapped, *small_digits, cfg, progress=False)
        finals.append(built[0][0].state_dict())
    assert states_equal(finals[0], finals[1])


def test_ties_keep_the_first_best_epoch(small_digits: tuple[TensorDataset, TensorDataset]) -> None:
    # with a negligible lr the validation accuracy is the same every epoch
    cfg = TrainConfig(epochs=3, batch_size=64, lr=1e-30)
    result = train_classifier(TinyMLP, *small_digits, cfg, progress=False)
    assert len({m.val_acc for m in result.history}) == 1
    assert result.best_epoch == 1
    assert not result.stopped_early


def test_global_rng_state_is_restored(small_digits: tuple[TensorDataset, TensorDataset]) -> None:
    torch.manual_seed(99)
    before = torch.get_rng_state()
    train_classifier(TinyMLP, *small_digits, TrainConfig(epochs=1), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_model_selection_keeps_best_val_epoch() -> None:
    train, val = random_labels(200, 0), random_labels(100, 1)
    cfg = TrainConfig(epochs=10, batch_size=20, lr=3e-2, init_seed=0, data_seed=0)
    seen: list[EpochMetrics] = []
    factory, built = capturing(lambda: TinyMLP(hidden=64))
    result = train_classifier(factory, train, val, cfg, on_epoch=seen.append, progress=False)
    assert seen == result.history
    accs = [m.val_acc for m in result.history]
    assert result.best_epoch == int(np.argmax(accs)) + 1  # first epoch with the max
    assert result.best.epoch == result.best_epoch
    assert [m.epoch for m in result.history] == list(range(1, 11))
    model = TinyMLP(hidden=64)
    model.load_state_dict(result.best_state)
    assert evaluate(model, val, 50).accuracy == result.best.val_acc
    final = built[0][0].state_dict()
    assert result.best_epoch < 10, "noise labels should peak before the last epoch"
    assert not states_equal(final, result.best_state)


def test_early_stopping_with_patience() -> None:
    train, val = random_labels(200, 2), random_labels(100, 3)
    cfg = TrainConfig(epochs=40, batch_size=20, lr=3e-2, patience=3)
    result = train_classifier(lambda: TinyMLP(hidden=64), train, val, cfg, progress=False)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3 < 40
    after = [m.val_acc for m in result.history[result.best_epoch :]]
    assert all(acc <= result.best.val_acc for acc in after)


def test_sgd_with_grad_clip_and_custom_collate(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    train = [(x, int(y)) for x, y in zip(*small_digits[0].tensors, strict=True)]
    val = [(x, int(y)) for x, y in zip(*small_digits[1].tensors, strict=True)]
    calls = []

    def collate(items: list[tuple[Tensor, int]]) -> tuple[Tensor, Tensor]:
        calls.append(len(items))
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])

    cfg = TrainConfig(epochs=6, batch_size=16, lr=0.05, optimizer="sgd", grad_clip=1.0)
    result = train_classifier(TinyMLP, train, val, cfg, collate=collate, progress=False)
    assert calls and max(calls) == 16
    assert result.best.val_acc > 0.5


def test_non_finite_loss_raises(small_digits: tuple[TensorDataset, TensorDataset]) -> None:
    class Broken(TinyMLP):
        def forward(self, x: Tensor) -> Tensor:
            return super().forward(x) * float("nan")

    with pytest.raises(FloatingPointError, match="loss"):
        train_classifier(Broken, *small_digits, TrainConfig(epochs=1), progress=False)


def graph_set(n: int, seed: int) -> list[Data]:
    """Random graphs; label = whether the mean of node feature 0 is positive."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(n):
        k = int(torch.randint(3, 9, (1,), generator=g))
        x = torch.randn(k, 2, generator=g)
        edge_index = torch.randint(0, k, (2, 2 * k), generator=g)
        graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([int(x[:, 0].mean() > 0)])))
    return graphs


def test_graph_batches_learn_and_are_deterministic() -> None:
    train, val = graph_set(240, 0), graph_set(80, 1)
    cfg = TrainConfig(epochs=8, batch_size=32, lr=1e-2, init_seed=0, data_seed=1)
    r1 = train_classifier(TinyGNN, train, val, cfg, progress=False)
    r2 = train_classifier(TinyGNN, train, val, cfg, progress=False)
    assert r1.best.val_acc > 0.8
    assert states_equal(r1.best_state, r2.best_state)


def _max_weight_difference(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_micro_batches_give_the_updates_of_whole_batches(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    # 300 samples, batches of 32: the last batch has 12 samples (pieces of 8 and 4).
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, init_seed=3, data_seed=4)
    whole = train_classifier(lambda: TinyMLP(p=0.0), *small_digits, cfg, progress=False)
    pieces = train_classifier(lambda: TinyMLP(p=0.0), *small_digits,
                              dataclasses.replace(cfg, micro_batch=8), progress=False)
    assert _max_weight_difference(whole.best_state, pieces.best_state) < 1e-4
    for a, b in zip(whole.history, pieces.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
        assert (a.train_acc, a.val_acc) == (b.train_acc, b.val_acc)
    moved = train_classifier(lambda: TinyMLP(p=0.0), *small_digits,
                             dataclasses.replace(cfg, batch_size=8), progress=False)
    assert _max_weight_difference(whole.best_state, moved.best_state) > 1e-2  # not a no-op


def test_micro_batches_of_graphs() -> None:
    train, val = graph_set(100, 0), graph_set(40, 1)
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, init_seed=0, data_seed=1)
    whole = train_classifier(TinyGNN, train, val, cfg, progress=False)
    pieces = train_classifier(TinyGNN, train, val, dataclasses.replace(cfg, micro_batch=16),
                              progress=False)
    assert _max_weight_difference(whole.best_state, pieces.best_state) < 1e-4


def test_evaluate_matches_direct_computation(
    small_digits: tuple[TensorDataset, TensorDataset],
) -> None:
    torch.manual_seed(0)
    model = TinyMLP()
    model.train()
    x, y = small_digits[1].tensors
    result = evaluate(model, small_digits[1], batch_size=7)
    assert model.training, "evaluate must restore the train/eval mode"
    model.eval()
    with torch.no_grad():
        logits = model(x)
    pred = logits.argmax(1).numpy()
    np.testing.assert_array_equal(result.predictions, pred)
    assert result.predictions.dtype == np.int64
    assert result.accuracy == pytest.approx(float((pred == y.numpy()).mean()))
    expected_loss = float(nn.functional.cross_entropy(logits, y))
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    confusion = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(y.numpy(), pred, strict=True):
        confusion[t, p] += 1
    np.testing.assert_array_equal(result.confusion, confusion)


# ----------------------------------------------------------------------------- config


def test_config_round_trip() -> None:
    cfg = TrainConfig(epochs=3, lr=0.1, optimizer="sgd", patience=2, grad_clip=0.5, data_seed=9)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({}) == TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs"),
        ("epochs", 2.0, "epochs"),
        ("batch_size", True, "batch_size"),
        ("lr", 0.0, "lr"),
        ("lr", float("nan"), "lr"),
        ("weight_decay", -1e-4, "weight_decay"),
        ("optimizer", "rmsprop", "optimizer"),
        ("init_seed", -1, "init_seed"),
        ("data_seed", 2**64, "data_seed"),
        ("patience", 0, "patience"),
        ("grad_clip", 0.0, "grad_clip"),
        ("micro_batch", 0, "micro_batch"),
        ("micro_batch", 48, "must divide batch_size"),
        ("device", "not-a-device", "device"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_config_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"epochs": 2, "learning_rate": 0.1})


def test_public_api_sorted() -> None:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical
    def rank(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert zt.__all__ == sorted(zt.__all__, key=rank)
    assert all(hasattr(zt, name) for name in zt.__all__)

"""Tests of zoo.train.record: streaming activation recording with forward hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv, global_mean_pool

from zoo.train import ActivationSink, InMemorySink, record_activations

ATOL, RTOL = 1e-6, 1e-5  # batched vs full-set matmuls may differ in the last bits


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.act1 = nn.ReLU()
        self.drop = nn.Dropout(0.5)  # must be off while recording
        self.fc2 = nn.Linear(16, 8)
        self.act2 = nn.Tanh()
        self.out = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.act2(self.fc2(self.drop(self.act1(self.fc1(x))))))

    def representation_layers(self) -> list[str]:
        return ["act1", "act2", "out"]


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(6 * 6 * 6, 5)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(h.flatten(1))

    def representation_layers(self) -> list[str]:
        return ["conv1", "act2", "fc"]


class MeanPool(nn.Module):
    def forward(self, x: Tensor, batch: Tensor) -> Tensor:
        return global_mean_pool(x, batch)


class GNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = GraphConv(2, 8)
        self.pool = MeanPool()
        self.head = nn.Linear(8, 3)

    def forward(self, data: Data) -> Tensor:
        return self.head(self.pool(torch.relu(self.conv(data.x, data.edge_index)), data.batch))

    def representation_layers(self) -> list[str]:
        return ["pool", "head"]


class PeakSink(InMemorySink):
    """Remembers every (name, start, rows) write: proves blocks stream."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, int, int]] = []

    def write(self, name: str, start: int, block: np.ndarray) -> None:
        self.writes.append((name, start, len(block)))
        super().write(name, start, block)


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def mlp_data(n: int = 53) -> tuple[MLP, Tensor]:
    torch.manual_seed(0)
    return MLP(), torch.randn(n, 10)


def test_mlp_activations_equal_manual_forward() -> None:
    model, x = mlp_data()
    model.train()  # recording must switch to eval (dropout off) and back
    sink = InMemorySink()
    shapes = record_activations(
        model, TensorDataset(x, torch.zeros(len(x))), None, sink, batch_size=16, progress=False
    )
    assert model.training
    assert sink.closed
    with torch.no_grad():
        a1 = torch.relu(x @ model.fc1.weight.T + model.fc1.bias)
        a2 = torch.tanh(a1 @ model.fc2.weight.T + model.fc2.bias)
        out = a2 @ model.out.weight.T + model.out.bias
    expected = {"act1": a1, "act2": a2, "out": out, "logits": out}
    assert list(shapes) == ["act1", "act2", "out", "logits", "predictions"]
    for name, ref in expected.items():
        np.testing.assert_allclose(sink[name], ref.numpy(), rtol=RTOL, atol=ATOL)
        assert shapes[name] == tuple(ref.shape)
    np.testing.assert_array_equal(sink["predictions"], sink["logits"].argmax(1))
    assert sink["predictions"].dtype == np.int64
    assert shapes["predictions"] == (53,)
    assert no_hooks(model)


def test_conv_activations_mean_and_flatten() -> None:
    torch.manual_seed(1)
    model, x = ConvNet(), torch.randn(21, 1, 8, 8)
    with torch.no_grad():
        c1 = model.conv1(x)
        a2 = model.act2(model.conv2(model.act1(c1)))
        fc = model.fc(a2.flatten(1))
    mean_sink, flat_sink = InMemorySink(), InMemorySink()
    dataset = TensorDataset(x)  # unlabelled probe set
    shapes = record_activations(model, dataset, None, mean_sink, batch_size=8, progress=False)
    record_activations(
        model, dataset, None, flat_sink, batch_size=8, reduce_conv="flatten", progress=False
    )
    assert shapes["conv1"] == (21, 4) and shapes["act2"] == (21, 6)
    np.testing.assert_allclose(mean_sink["conv1"], c1.mean((2, 3)).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(mean_sink["act2"], a2.mean((2, 3)).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(flat_sink["conv1"], c1.flatten(1).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(flat_sink["act2"], a2.flatten(1).numpy(), rtol=RTOL, atol=ATOL)
    for sink in (mean_sink, flat_sink):
        np.testing.assert_allclose(sink["fc"], fc.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(sink["predictions"], fc.argmax(1).numpy())
    assert no_hooks(model)


def test_blocks_stream_at_most_batch_size_rows() -> None:
    model, x = mlp_data(n=50)
    sink = PeakSink()
    record_activations(model, TensorDataset(x), ["act1"], sink, batch_size=16, progress=False)
    assert isinstance(sink, ActivationSink)
    for name in ("act1", "logits", "predictions"):
        writes = [(start, rows) for n, start, rows in sink.writes if n == name]
        assert len(writes) == math.ceil(50 / 16)
        assert max(rows for _, rows in writes) <= 16
        assert [start for start, _ in writes] == [0, 16, 32, 48]
        assert sum(rows for _, rows in writes) == 50


def test_graph_model_records_pooled_layers() -> None:
    torch.manual_seed(2)
    model = GNN()
    graphs = []
    for k in (3, 5, 4, 6, 2, 7, 3):
        graphs.append(Data(x=torch.randn(k, 2), edge_index=torch.randint(0, k, (2, 2 * k))))
    sink = InMemorySink()
    shapes = record_activations(model, graphs, None, sink, batch_size=3, progress=False)
    assert shapes["pool"] == (7, 8) and shapes["head"] == (7, 3)
    with torch.no_grad():
        for i, g in enumerate(graphs):  # each graph alone, in order
            pooled = torch.relu(model.conv(g.x, g.edge_index)).mean(0)
            np.testing.assert_allclose(sink["pool"][i], pooled.numpy(), rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(
                sink["logits"][i], model.head(pooled).numpy(), rtol=RTOL, atol=ATOL
            )
    # a node-level layer has |V| rows, not one per graph: refused with a hint
    with pytest.raises(ValueError, match="per-sample"):
        record_activations(model, graphs, ["conv"], InMemorySink(), batch_size=3, progress=False)
    assert no_hooks(model)


def test_layer_named_logits_is_not_duplicated() -> None:
    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logits = nn.Linear(4, 2)

        def forward(self, x: Tensor) -> Tensor:
            return self.logits(x) * 2.0  # output differs from the layer on purpose

    model, x = Named(), torch.randn(9, 4)
    sink = InMemorySink()
    shapes = record_activations(
        model, TensorDataset(x), ["logits"], sink, batch_size=4, progress=False
    )
    assert list(shapes) == ["logits", "predictions"]
    with torch.no_grad():
        np.testing.assert_allclose(sink["logits"], model.logits(x).numpy(), rtol=RTOL, atol=ATOL)


def test_tuple_outputs_use_first_tensor() -> None:
    class WithRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(3, 5, batch_first=True)
            self.out = nn.Linear(5, 2)

        def forward(self, x: Tensor) -> Tensor:
            seq, _ = self.rnn(x)
            return self.out(seq[:, -1])

    torch.manual_seed(3)
    model, x = WithRNN(), torch.randn(7, 4, 3)
    sink = InMemorySink()
    shapes = record_activations(
        model, TensorDataset(x), ["rnn"], sink, batch_size=3, progress=False
    )
    with torch.no_grad():
        seq, _ = model.rnn(x)  # 3-D [n, L, H]: always flattened, never averaged
    assert shapes["rnn"] == (7, 4 * 5)
    np.testing.assert_allclose(sink["rnn"], seq.flatten(1).numpy(), rtol=RTOL, atol=ATOL)


def test_unknown_layer_lists_available_names() -> None:
    model, x = mlp_data()
    with pytest.raises(ValueError, match=r"unknown layer names \['nope'\].*'fc1'"):
        record_activations(model, TensorDataset(x), ["fc1", "nope"], InMemorySink(), batch_size=8)
    with pytest.raises(ValueError, match="reduce_conv"):
        record_activations(
            model, TensorDataset(x), None, InMemorySink(), batch_size=8, reduce_conv="max"
        )
    assert no_hooks(model)


def test_module_run_twice_is_refused() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Tensor) -> Tensor:
            return self.act(self.fc(self.act(x)))

    model = Shared()
    with pytest.raises(ValueError, match="ran 2 times"):
        record_activations(
            model,
            TensorDataset(torch.randn(5, 4)),
            ["act"],
            InMemorySink(),
            batch_size=2,
            progress=False,
        )
    assert no_hooks(model)


def test_hooks_removed_and_sink_closed_on_sink_error() -> None:
    class FailingSink(InMemorySink):
        def write(self, name: str, start: int, block: np.ndarray) -> None:
            if start > 0:
                raise OSError("disk full")
            super().write(name, start, block)

    model, x = mlp_data()
    model.train()
    sink = FailingSink()
    with pytest.raises(OSError, match="disk full"):
        record_activations(model, TensorDataset(x), None, sink, batch_size=8, progress=False)
    assert no_hooks(model)
    assert sink.closed
    assert model.training


def test_progress_bar_does_not_break_recording() -> None:
    model, x = mlp_data(n=10)
    sink = InMemorySink()
    record_activations(model, TensorDataset(x), ["fc1"], sink, batch_size=4, progress=True)
    assert sink["fc1"].shape == (10, 16)

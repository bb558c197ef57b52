"""Baselines: MLPClassifier and SmallCNN shapes, hook names, configs."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from zoo.graphs import NeuralGraphSpec, cnn_to_graph, graph_to_cnn
from zoo.models.cnn import SmallCNN
from zoo.models.mlp import MLPClassifier


def record(model: nn.Module, names: list[str], x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    modules = dict(model.named_modules())
    seen: dict[str, Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out)) for name in names]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen, out


@pytest.mark.parametrize(("in_shape", "in_features"), [((1185,), 1185), ((1, 28, 28), 784)])
def test_mlp_shapes_and_hooks(in_shape: tuple[int, ...], in_features: int) -> None:
    torch.manual_seed(0)
    model = MLPClassifier(in_features, hidden=(64, 32), num_classes=10).eval()
    x = torch.randn(5, *in_shape)
    names = model.representation_layers()
    assert names == ["blocks.0", "blocks.1", "head"]
    seen, logits = record(model, names, x)
    assert logits.shape == (5, 10)
    assert seen["blocks.0"].shape == (5, 64) and seen["blocks.1"].shape == (5, 32)
    assert (seen["blocks.0"] >= 0).all() and (seen["blocks.0"] == 0).any()  # post-ReLU
    assert torch.equal(seen["head"], logits)
    with pytest.raises(ValueError, match="features"):
        model(torch.randn(5, in_features + 1))


def test_mlp_config_repr_dropout_and_validation() -> None:
    torch.manual_seed(0)
    model = MLPClassifier(20, hidden=(16,), num_classes=3, dropout=0.5)
    rebuilt = MLPClassifier(**model.config)
    assert rebuilt.config == model.config and repr(rebuilt) == repr(model)
    assert "hidden=(16,)" in repr(model) and "dropout=0.5" in repr(model)
    x = torch.randn(8, 20)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout is active in training
    model.eval()
    assert torch.equal(model(x), model(x))
    before = model.head.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.head.weight)
    with pytest.raises(ValueError):
        MLPClassifier(20, hidden=(0,))
    with pytest.raises(ValueError):
        MLPClassifier(20, dropout=1.0)


def test_cnn_shapes_and_hooks() -> None:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(4, 1, 28, 28)
    names = model.representation_layers()
    assert names == ["features.0", "features.1", "features.2", "pool", "fc.0", "head"]
    seen, logits = record(model, names, x)
    shapes = {name: tuple(t.shape) for name, t in seen.items()}
    assert shapes == {"features.0": (4, 16, 14, 14), "features.1": (4, 32, 7, 7),
                      "features.2": (4, 64, 3, 3), "pool": (4, 64), "fc.0": (4, 128),
                      "head": (4, 10)}
    torch.testing.assert_close(seen["pool"], seen["features.2"].mean(dim=(2, 3)))
    assert torch.equal(seen["head"], logits)
    # No batch norm: a sample's output does not depend on the rest of the batch.
    with torch.no_grad():
        torch.testing.assert_close(model(x[2:3])[0], logits[2], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        model(torch.randn(4, 3, 28, 28))


def test_cnn_config_and_other_sizes() -> None:
    torch.manual_seed(0)
    model = SmallCNN(in_channels=3, num_classes=4, channels=(8, 8), fc_hidden=(), kernel_size=5)
    assert model.representation_layers() == ["features.0", "features.1", "pool", "head"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    assert SmallCNN(**model.config).config == model.config
    assert "channels=(8, 8)" in repr(model)
    with pytest.raises(ValueError):
        SmallCNN(kernel_size=4)
    with pytest.raises(ValueError):
        SmallCNN(channels=())


def test_small_cnn_converts_to_a_neural_graph() -> None:
    torch.manual_seed(0)
    model = SmallCNN(channels=(4, 6), fc_hidden=(8,))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    def bias(m: nn.Conv2d | nn.Linear) -> Tensor:
        assert m.bias is not None
        return m.bias.detach()

    graph = cnn_to_graph([c.weight.detach() for c in convs], [bias(c) for c in convs],
                         [lin.weight.detach() for lin in linears], [bias(lin) for lin in linears])
    spec = NeuralGraphSpec((1, 4, 6, 8, 10), ((3, 3), (3, 3)))
    assert graph.num_nodes == 29 and graph.edge_attr.shape == (4 + 24 + 48 + 80, 9)
    conv_w, _, lin_w, lin_b = graph_to_cnn(graph, spec)
    assert torch.equal(conv_w[1], convs[1].weight.detach())
    assert torch.equal(lin_w[1], model.head.weight.detach())
    assert torch.equal(lin_b[0], bias(linears[0]))

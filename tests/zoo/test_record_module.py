"""record_module: any torch module (here a torchvision-style ResNet built in the test)
recorded on a probe set, registered once, and compared with CKA like any zoo model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from store import Catalog, InvalidInputError
from zoo.data.register import add_bundled_dataset
from zoo.recording import probe_images, record_module


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: two 3x3 convs with batch norm and a skip."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.downsample(x))


class TinyResNet(nn.Module):
    """The torchvision ResNet layout (stem, layer1..2, avgpool, fc) at toy width."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.avgpool(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(x, 1))


@pytest.fixture
def digits_catalog(sqlite_catalog: Catalog) -> Catalog:
    """The bundled 8x8 digits with a probe set of 120 test samples."""
    ds = add_bundled_dataset(sqlite_catalog, "digits")
    _, _, splits = sqlite_catalog.dataset_arrays(ds.id)
    sqlite_catalog.create_probe_set("probe", np.flatnonzero(splits == "test")[:120].tolist(),
                                    dataset=ds.id)
    return sqlite_catalog


def _direct(model: nn.Module, x: Tensor, layer: str) -> np.ndarray:
    """The layer's output by a plain hook, reduced as recording documents (spatial mean)."""
    out: list[Tensor] = []
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda _m, _i, o: out.append(o.detach()))
    with torch.no_grad():
        model.eval()(x)
    handle.remove()
    y = out[0].double()
    return (y.mean(dim=(2, 3)) if y.dim() == 4 else y.flatten(1)).numpy()


def test_record_module_stores_every_layer_as_a_direct_forward_gives_it(
        digits_catalog: Catalog) -> None:
    torch.manual_seed(0)
    net = TinyResNet()
    layers = ["bn1", "layer1", "layer2"]
    records = record_module(digits_catalog, net, "probe", layers, name="tiny-resnet",
                            batch_size=32)
    assert {r.layer for r in records} == {*layers, "logits", "predictions"}
    model_id = records[0].model_id
    model = digits_catalog.get_model(model_id)
    assert model.kind == "other" and model.name == "tiny-resnet"
    assert model.arch["class"].endswith("TinyResNet")
    x = probe_images(digits_catalog, "probe")
    assert x.shape == (120, 1, 8, 8) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    by_layer = {r.layer: digits_catalog.arrays.read(r.array_key) for r in records}
    for layer in layers:
        np.testing.assert_allclose(by_layer[layer], _direct(net, x, layer), rtol=1e-5,
                                   atol=1e-6)
    with torch.no_grad():
        logits = net(x).double().numpy()
    np.testing.assert_allclose(by_layer["logits"], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(by_layer["predictions"], logits.argmax(axis=1))
    # the same weights again: found, not registered twice; replace re-records
    again = record_module(digits_catalog, net, "probe", ["layer1"], batch_size=50,
                          replace=True)
    assert {r.model_id for r in again} == {model_id}


def test_recorded_module_gets_cka_against_another_model(digits_catalog: Catalog) -> None:
    from analysis.queries import similarity

    torch.manual_seed(0)
    a, b = TinyResNet(), TinyResNet()
    ra = record_module(digits_catalog, a, "probe", ["layer2"], name="resnet-a")
    rb = record_module(digits_catalog, b, "probe", ["layer2"], name="resnet-b")
    frame = similarity(digits_catalog, ra[0].model_id, rb[0].model_id, layers="layer2")
    value = float(frame["value"].iloc[0])
    # float64 reference: linear CKA of the stored arrays (biased HSIC)
    xs = [digits_catalog.arrays.read(r.array_key).astype(np.float64)
          for r in (*ra, *rb) if r.layer == "layer2"]
    gx, gy = (m - m.mean(axis=0) for m in xs)
    ref = (np.linalg.norm(gx.T @ gy) ** 2
           / (np.linalg.norm(gx.T @ gx) * np.linalg.norm(gy.T @ gy)))
    assert value == pytest.approx(ref, rel=1e-9, abs=1e-9)
    assert 0.0 < value < 1.0


def test_record_module_rejects_unknown_layers_and_misaligned_inputs(
        digits_catalog: Catalog) -> None:
    net = TinyResNet()
    with pytest.raises(InvalidInputError, match=r"no layer layer9.*layer1"):
        record_module(digits_catalog, net, "probe", ["layer9"])
    with pytest.raises(InvalidInputError, match="120 samples"):
        record_module(digits_catalog, net, "probe", ["fc"], inputs=torch.zeros(7, 1, 8, 8))
    assert digits_catalog.list_models() == []  # nothing registered by a refused call

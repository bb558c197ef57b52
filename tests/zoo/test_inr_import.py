"""Importing a DWSNets-style INR zoo: exact weights, real labels/splits, refusals, CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from store import Catalog, DuplicateError, InvalidInputError
from zoo.cli import cli
from zoo.inputs import load_inputs
from zoo.inr.importer import import_inr_zoo

FOREIGN = "/home/someone/DWSNets/experiments/mnist/dataset"  # the authors' machine
SPLIT_SIZES = {"train": 6, "val": 3, "test": 3}


class _INR(nn.Module):
    """The DWSNets INR's parameter layout: ``seq`` = [Siren, Siren, Linear]."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.seq = nn.Sequential(*(nn.Linear(a, b) for a, b in itertools.pairwise(dims)))


def _state(seed: int, dims: tuple[int, ...] = (2, 32, 32, 1)) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return _INR(dims).state_dict()


def make_zoo(root: Path, n: int = 12) -> tuple[Path, dict[str, dict[str, list[Any]]], list[Path]]:
    """``n`` SIRENs in the published layout plus ``mnist_splits.json`` with foreign paths."""
    files = []
    for i in range(n):
        kind = "testing" if i >= 9 else "training"
        f = root / "mnist-inrs" / f"mnist_png_{kind}_{i % 10}_{100 + i}" / "checkpoints" \
            / "model_final.pth"
        f.parent.mkdir(parents=True)
        torch.save(_state(i), f)
        files.append(f)
    rel = [f.relative_to(root).as_posix() for f in files]
    paths = [f"{FOREIGN}/{r}" for r in rel]
    paths[4] = rel[4]  # neural-graphs style: relative to the dataset directory
    cut = np.cumsum([0, *SPLIT_SIZES.values()])
    splits = {s: {"path": paths[a:b], "label": [str(i % 10) for i in range(a, b)]}
              for s, a, b in zip(SPLIT_SIZES, cut[:-1], cut[1:], strict=True)}
    (root / "mnist_splits.json").write_text(json.dumps(splits))
    return root, splits, files


def _flat(state: dict[str, torch.Tensor]) -> np.ndarray:
    return torch.cat([state[f"seq.{k}.{p}"].reshape(-1) for k in range(3)
                      for p in ("weight", "bias")]).numpy()


def _snapshot(cat: Catalog) -> tuple[object, ...]:
    return (cat.list_datasets(), cat.list_populations(), cat.list_models(),
            [cat.arrays.list_keys(c) for c in ("datasets", "populations")])


def test_import_round_trips_weights_labels_and_splits(sqlite_catalog: Catalog,
                                                      tmp_path: Path) -> None:
    root, splits, files = make_zoo(tmp_path / "dataset")
    seen: list[int] = []
    pop = import_inr_zoo(sqlite_catalog, root, name=None,
                         progress=lambda done, total: seen.append(done))
    assert seen == list(range(1, 13))
    assert pop.name == "mnist-inr-zoo/dwsnet-siren-w32-d3"
    assert (pop.status, pop.n_inrs, pop.n_params) == ("complete", 12, 1185)
    assert pop.arch["hidden_width"] == 32 and pop.arch["depth"] == 3 and pop.arch["w0"] == 30.0
    assert pop.fit_config["imported_from"] == str(root) and pop.fit_config["format"] == "dwsnet"
    params = sqlite_catalog.arrays.read(pop.array_key)
    expected = np.stack([_flat(torch.load(f, weights_only=True)) for f in files])
    assert params.dtype == np.float32 and np.array_equal(params, expected)  # bit for bit
    _, labels, split_names = sqlite_catalog.dataset_arrays("mnist-inr-zoo")
    assert labels.tolist() == [int(x) for s in splits.values() for x in s["label"]]
    assert split_names.tolist() == [s for s, k in SPLIT_SIZES.items() for _ in range(k)]
    inrs = sqlite_catalog.list_models(population=pop.id)
    assert [m.kind for m in inrs] == ["inr"] * 12
    assert [m.sample_id for m in inrs] == list(range(12))
    assert sqlite_catalog.check().ok
    train = load_inputs(sqlite_catalog, "mlp-weights", pop.name, split="train")
    assert len(train.dataset) == 6 and train.dataset[0][1].item() == 0
    test = load_inputs(sqlite_catalog, "gmn", pop.name, split="test")
    assert len(test.dataset) == 3 and test.collate is not None
    with pytest.raises(DuplicateError, match="exists"):
        import_inr_zoo(sqlite_catalog, root, name=None)


def test_labels_inside_files_and_shuffled_keys(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    """Fashion-MNIST style: bare path lists, each file holding its label; natural key order."""
    root = tmp_path / "fmnist"
    (root / "train").mkdir(parents=True)
    expected = []
    for i in range(3):
        state = _state(i, (2, 8, 8, 8, 1))
        expected.append(torch.cat([v.reshape(-1) for v in state.values()]).numpy())
        last_first = sorted(state, key=lambda k: not k.startswith("seq.3."))  # does not chain
        torch.save({**{k: state[k] for k in last_first}, "label": i + 4},
                   root / "train" / f"model_{i}.pth")
    (root / "splits.json").write_text(json.dumps({"train": [f"/x/fmnist_inrs/train/model_{i}.pth"
                                                            for i in range(3)]}))
    pop = import_inr_zoo(sqlite_catalog, root / "splits.json", name="fm/inrs", w0=20.0)
    assert pop.arch == {"in_features": 2, "hidden_width": 8, "depth": 4, "out_features": 1,
                        "w0": 20.0, "w0_hidden": 20.0, "variant": "dwsnet"}
    assert np.array_equal(sqlite_catalog.arrays.read(pop.array_key), np.stack(expected))
    assert sqlite_catalog.dataset_arrays("fm")[1].tolist() == [4, 5, 6]


def test_missing_splits_json_and_missing_file(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    root, _, files = make_zoo(tmp_path / "dataset")
    (root / "mnist_splits.json").unlink()
    with pytest.raises(InvalidInputError, match=r"no splits JSON \(\*splits\*\.json\)"):
        import_inr_zoo(sqlite_catalog, root, name=None)
    root, _, files = make_zoo(tmp_path / "other")
    files[1].unlink()
    with pytest.raises(InvalidInputError, match=r"mnist_png_training_1_101.*not found"):
        import_inr_zoo(sqlite_catalog, root, name=None)
    assert sqlite_catalog.list_datasets() == []


def test_pickled_module_is_refused_and_nothing_registered(sqlite_catalog: Catalog,
                                                          tmp_path: Path) -> None:
    root, _, files = make_zoo(tmp_path / "dataset")
    torch.save(_INR((2, 32, 32, 1)), files[7])  # a whole nn.Module: needs arbitrary unpickling
    before = _snapshot(sqlite_catalog)
    with pytest.raises(InvalidInputError, match=r"mnist_png_training_7_107.*refusing to unpickle"):
        import_inr_zoo(sqlite_catalog, root, name=None)
    assert _snapshot(sqlite_catalog) == before
    report = sqlite_catalog.check(fix=True)
    assert report.ok and report.removed == ()


def test_mismatched_shapes_name_the_file(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    root, _, files = make_zoo(tmp_path / "dataset")
    torch.save(_state(0, (2, 16, 16, 1)), files[10])
    with pytest.raises(InvalidInputError, match=r"mnist_png_testing_0_110.*differ from those of "
                                                r"the first INR .*mnist_png_training_0_100"):
        import_inr_zoo(sqlite_catalog, root, name=None)
    torch.save(_state(0, (2, 16, 8, 1)), files[0])
    with pytest.raises(InvalidInputError, match="not a SIREN"):
        import_inr_zoo(sqlite_catalog, root, name=None)
    assert sqlite_catalog.list_datasets() == [] and sqlite_catalog.list_populations() == []


def test_existing_dataset_needs_sample_ids(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    root, splits, _ = make_zoo(tmp_path / "dataset")
    labels = np.arange(20) % 10
    sqlite_catalog.add_dataset("digits20", source="test", images=np.zeros((20, 4, 4), np.uint8),
                               labels=labels, splits=["train"] * 20, num_classes=10)
    with pytest.raises(InvalidInputError, match="names no sample ids"):
        import_inr_zoo(sqlite_catalog, root, name=None, dataset="digits20")
    want = [i + 10 if i < 10 else i - 10 for i in range(12)]  # same label (i % 10) as INR i
    start = 0
    for s in splits.values():
        s["sample_id"], start = want[start:start + len(s["path"])], start + len(s["path"])
    (root / "mnist_splits.json").write_text(json.dumps(splits))
    pop = import_inr_zoo(sqlite_catalog, root, name="d20/zoo", dataset="digits20")
    assert sqlite_catalog.population_sample_ids(pop.id).tolist() == want
    splits["test"]["sample_id"][0] = 3  # label 3, but INR 9 is a 9
    (root / "mnist_splits.json").write_text(json.dumps(splits))
    with pytest.raises(InvalidInputError, match=r"testing_9_109/.*\.pth: its label differs"):
        import_inr_zoo(sqlite_catalog, root, name="d20/other", dataset="digits20")
    assert [d.name for d in sqlite_catalog.list_datasets()] == ["digits20"]


def test_failure_while_writing_deletes_the_population(sqlite_catalog: Catalog, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root, _, _ = make_zoo(tmp_path / "dataset")

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(sqlite_catalog, "population_progress", boom)
        with pytest.raises(KeyboardInterrupt):
            import_inr_zoo(sqlite_catalog, root, name="zoo/a")
    assert sqlite_catalog.list_populations() == [] and sqlite_catalog.check().ok
    pop = import_inr_zoo(sqlite_catalog, root, name="zoo/a")  # the dataset is reused
    assert pop.status == "complete" and len(sqlite_catalog.list_datasets()) == 1
    sqlite_catalog.create_population(  # what a kill -9 while writing "zoo/b" leaves behind
        "zoo/b", dataset="zoo", arch=pop.arch, fit_config=pop.fit_config, n_inrs=12,
        n_params=pop.n_params)
    again = import_inr_zoo(sqlite_catalog, root, name="zoo/b")
    assert again.status == "complete" and again.sha256 == pop.sha256
    assert [p.name for p in sqlite_catalog.list_populations()] == ["zoo/a", "zoo/b"]
    assert sqlite_catalog.check().ok


def test_cli_import(tmp_path: Path) -> None:
    root, _, _ = make_zoo(tmp_path / "dataset")
    env = {"ZOO_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    result = runner.invoke(cli, ["inr", "import", str(root), "--format", "dwsnet", "--name",
                                 "mnist-dws"], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 12 INRs" in result.output and "2->32x2->1" in result.output
    assert "train 6, val 3, test 3" in result.output
    shown = runner.invoke(cli, ["inr", "show", "mnist-dws", "--json"], env=env)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["n_inrs"] == 12
    again = runner.invoke(cli, ["inr", "import", str(root), "--name", "mnist-dws"], env=env)
    assert again.exit_code == 1 and again.output.startswith("Error:")

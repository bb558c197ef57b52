"""A third-party kind, installed as a distribution on the path (``tests/plugins``: a
package plus its ``.dist-info`` with a ``zoo.kinds`` entry point), is trained, recorded
and compared through the ordinary CLI, in a fresh process that discovers it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from store import Catalog, InvalidInputError
from zoo.kinds import ArchRequest, KindSpec, get_kind, kind_names, register_kind, unregister_kind

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def _zoo(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", "from zoo.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_entry_point_kind_trains_records_and_compares_through_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    assert "toy-perceptron" in _zoo(env, "train", "--help")
    _zoo(env, "init")
    _zoo(env, "data", "add", "digits")
    _zoo(env, "probe", "create", "test-60", "--dataset", "digits", "--split", "test",
         "--limit", "60")
    for seed in ("0", "1"):
        _zoo(env, "train", "toy-perceptron", "--dataset", "digits", "--seed", seed,
             "--epochs", "2", "--threads", "1")
        _zoo(env, "record", f"toy-perceptron:{seed}", "--probe", "test-60")
    cat = Catalog.open(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}",
                       str(tmp_path / "home" / "arrays"))
    try:
        models = sorted((m for m in cat.list_models() if m.kind == "toy-perceptron"),
                        key=lambda m: m.seed or 0)
        assert [m.seed for m in models] == [0, 1]
        assert models[0].arch == {"in_features": 64, "hidden": 24, "num_classes": 10}
        layers = {a.layer for a in cat.list_activations(model_id=models[0].id)}
        assert {"hidden", "logits", "predictions"} <= layers
        out = json.loads(_zoo(env, "cka", str(models[0].id), str(models[1].id),
                              "--layers", "hidden", "--json"))
        rows = out if isinstance(out, list) else out["rows"]
        assert len(rows) == 1 and 0.0 < rows[0]["value"] <= 1.0
        hidden = cat.arrays.read(next(a.array_key for a in cat.list_activations(
            model_id=models[0].id) if a.layer == "hidden"))
        assert hidden.shape == (60, 24) and np.isfinite(hidden).all()
    finally:
        cat.close()


def test_registry_rejects_bad_specs_and_unknown_kinds() -> None:
    assert kind_names()[:5] == ("gmn", "ngt", "mlp-weights", "mlp", "cnn")
    assert get_kind("gmn").reads_graphs and get_kind("mlp-weights").reads_weights
    assert get_kind("cnn").source == "dataset" and get_kind("ngt").source == "population"
    with pytest.raises(InvalidInputError, match=r"unknown model kind 'resnet'.*gmn"):
        get_kind("resnet")
    spec = get_kind("mlp")
    with pytest.raises(ValueError, match="already registered"):
        register_kind(KindSpec(name="mlp", reads="pixels", summary="x",
                               default_arch=spec.default_arch, build=spec.build))
    with pytest.raises(ValueError, match="kind name"):
        KindSpec(name="Bad Name", reads="pixels", summary="x",
                 default_arch=spec.default_arch, build=spec.build)
    with pytest.raises(ValueError, match="only INR-weight readers"):
        KindSpec(name="aug-cnn", reads="images", summary="x", default_arch=spec.default_arch,
                 build=spec.build, augment=get_kind("gmn").augment)


def test_a_kind_registered_at_run_time_is_listed_and_built() -> None:
    base = get_kind("mlp")
    spec = KindSpec(name="wide-mlp", reads="pixels", summary="a wider MLP",
                    default_arch=lambda r: base.default_arch(ArchRequest(
                        r.num_classes, sample_shape=r.sample_shape, hidden=512)),
                    build=base.build)
    register_kind(spec)
    try:
        assert "wide-mlp" in kind_names(reads=("pixels",))
        from zoo.kinds import build_model, default_arch

        arch = default_arch("wide-mlp", num_classes=10, sample_shape=(8, 8))
        assert arch["hidden"] == [512, 512]
        assert build_model("wide-mlp", arch)(__import__("torch").zeros(3, 64)).shape == (3, 10)
    finally:
        unregister_kind("wide-mlp")
    assert "wide-mlp" not in kind_names()

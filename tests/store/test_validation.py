"""Validation at the store's door, the same on SQLite and PostgreSQL (issue #16).

Every bad value is an ``InvalidInputError`` before anything is written: activations
that CKA cannot compare, names too long for a column, metrics that are not numbers,
JSON that is not JSON. Ids are never handed out twice, a garbage catalog file is
one clear error, and a failed checkpoint write leaves no temporary file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from store import Catalog, InvalidInputError, MetricRecord
from store.errors import CatalogUnavailableError
from store.records import check_json
from zoo.checkpoints import load_arch

N = 16


def _bad_activations() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    good = rng.normal(size=(N, 4)).astype(np.float32)
    nan, inf = good.copy(), good.copy()
    nan[3, 1], inf[5, 0] = np.nan, np.inf
    return {
        "nan": nan, "inf": inf, "complex": good.astype(np.complex64),
        "no features": np.zeros((N, 0), np.float32), "scalar": np.float32(1.0),
        "constant": np.ones((N, 4), np.float32), "wrong rows": good[: N - 1],
        "strings": np.array([["a"] * 4] * N),
    }


@pytest.mark.parametrize("case", sorted(_bad_activations()))
def test_activations_that_cannot_be_compared_are_refused_at_import(
        fresh_catalog: Catalog, case: str) -> None:
    fresh_catalog.create_probe_set("probe", list(range(N)))
    model = fresh_catalog.add_model("cnn", seed=0)
    with pytest.raises(InvalidInputError):
        fresh_catalog.add_activation(model.id, "fc", "probe", _bad_activations()[case])
    assert fresh_catalog.list_activations() == []
    assert fresh_catalog.arrays.list_keys("activations") == []  # nothing half-written
    assert fresh_catalog.check().ok


def test_a_vector_of_one_value_per_sample_is_accepted(fresh_catalog: Catalog) -> None:
    """Recorded ``predictions`` are ``[n]``: an import of the same shape is accepted."""
    fresh_catalog.create_probe_set("probe", list(range(N)))
    model = fresh_catalog.add_model("cnn", seed=0)
    labels = np.arange(N, dtype=np.int64) % 3
    rec = fresh_catalog.add_activation(model.id, "predictions", "probe", labels)
    assert tuple(rec.shape) == (N,)
    np.testing.assert_array_equal(fresh_catalog.arrays.read(rec.array_key), labels)


def test_two_distinct_samples_are_enough(fresh_catalog: Catalog) -> None:
    fresh_catalog.create_probe_set("probe", list(range(N)))
    model = fresh_catalog.add_model("cnn", seed=0)
    acts = np.zeros((N, 3), np.float32)
    acts[7, 2] = 1.0  # one sample differs from the others
    rec = fresh_catalog.add_activation(model.id, "fc", "probe", acts)
    assert tuple(rec.shape) == (N, 3)


@pytest.mark.parametrize("label", ["", "   ", "x" * 201, "tab\there"])
def test_names_and_layers_are_bounded_on_both_backends(fresh_catalog: Catalog,
                                                       label: str) -> None:
    fresh_catalog.create_probe_set("probe", list(range(N)))
    model = fresh_catalog.add_model("cnn", seed=0)
    acts = np.random.default_rng(1).normal(size=(N, 2))
    with pytest.raises(InvalidInputError):
        fresh_catalog.add_activation(model.id, label, "probe", acts)
    with pytest.raises(InvalidInputError):
        fresh_catalog.create_probe_set(label, [1, 2])
    with pytest.raises(InvalidInputError):
        fresh_catalog.add_dataset(label, source="t", images=np.zeros((2, 2, 2)),
                                  labels=[0, 1], splits=["train", "test"], num_classes=2)
    assert [p.name for p in fresh_catalog.list_probe_sets()] == ["probe"]
    name = "y" * 200  # the longest name is stored as given
    assert fresh_catalog.add_activation(model.id, name, "probe", acts).layer == name


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_metrics_must_be_finite(fresh_catalog: Catalog, value: float) -> None:
    with pytest.raises(InvalidInputError):
        fresh_catalog.add_model("cnn", seed=0, metrics=[MetricRecord(0, "acc", value)])
    assert fresh_catalog.list_models() == []


def _deep(levels: int) -> list:
    value: list = [0]
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("arch", [{"w": float("nan")}, {"w": [1.0, float("inf")]},
                                  {1: "int key"}, {"deep": _deep(40)}])
def test_arch_must_be_strict_json(fresh_catalog: Catalog, arch: dict) -> None:
    with pytest.raises(InvalidInputError):
        fresh_catalog.add_model("cnn", seed=0, arch=arch)
    assert fresh_catalog.list_models() == []


def test_load_arch_refuses_nan_depth_directories_and_missing_files(tmp_path: Path) -> None:
    for bad in ['{"w": NaN}', '{"w": Infinity}', '{"w": -Infinity}',
                '{"a": ' + "[" * 5000 + "]" * 5000 + "}", str(tmp_path),
                str(tmp_path / "missing.json"), "[1, 2]"]:
        with pytest.raises(InvalidInputError):
            load_arch(bad)
    assert load_arch('{"hidden": 32, "layers": [1, 2.5, null, true]}')["hidden"] == 32
    assert check_json({"a": [{"b": 1}]}, "x") == {"a": [{"b": 1}]}


def test_model_ids_are_never_reused_after_rm(fresh_catalog: Catalog) -> None:
    fresh_catalog.create_probe_set("probe", list(range(N)))
    ids = [fresh_catalog.add_model("cnn", seed=s).id for s in range(3)]
    fresh_catalog.tag(ids[0], "kept")
    fresh_catalog.remove_model(ids[-1])  # the newest: max(id) + 1 would hand it out again
    new = fresh_catalog.add_model("cnn", seed=9).id
    assert new > ids[-1]
    assert fresh_catalog.get_model(ids[0]).tags == ("kept",)  # the rebuild kept references


@pytest.mark.parametrize("content", [b"\x00garbage" * 500, b"SQLite format 3\x00" + b"x" * 300])
def test_a_garbage_catalog_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(content)
    for open_it in (Catalog.open, Catalog.create):
        with pytest.raises(CatalogUnavailableError, match="catalog database"):
            open_it(f"sqlite:///{path}", str(tmp_path / "arrays"))
    assert path.read_bytes() == content  # not "repaired" into something else


def test_a_checkpoint_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A real write failure (a file-size limit: EFBIG, as a full disk gives ENOSPC)."""
    url, arrays = f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path / "arrays"
    Catalog.create(url, str(arrays)).close()
    script = textwrap.dedent(f"""
        import resource, signal
        from store import Catalog
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        with Catalog.open({url!r}, {str(arrays)!r}) as cat:
            try:
                cat.add_model("cnn", checkpoint=bytes(range(256)) * 1024)
            except OSError as exc:
                print("failed:", exc.errno)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert "failed:" in out.stdout, out.stderr
    leftovers = [p.name for p in (arrays / "checkpoints").iterdir()] if (
        arrays / "checkpoints").exists() else []
    assert leftovers == []
    with Catalog.open(url, str(arrays)) as cat:
        assert cat.list_models() == [] and cat.check().ok

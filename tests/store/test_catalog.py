"""Catalog behaviour on both back-ends: models, tags, metrics, data, activations, cache."""

from __future__ import annotations

import numpy as np
import pytest

from store import (
    Catalog,
    DuplicateError,
    InvalidInputError,
    MetricRecord,
    NotFoundError,
    SimilarityRecord,
)


def _dataset(cat: Catalog, name: str = "digits", n: int = 12) -> None:
    rng = np.random.default_rng(0)
    cat.add_dataset(name, source="test", images=rng.integers(0, 255, (n, 4, 4), dtype=np.uint8),
                    labels=np.arange(n) % 3, splits=(["train", "val", "test"] * n)[:n],
                    num_classes=3)


def test_model_lifecycle(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    _dataset(cat)
    m = cat.add_model("cnn", checkpoint=b"weights-1", dataset="digits", seed=3,
                      arch={"channels": [8, 16]}, tags=["baseline"],
                      metrics=[MetricRecord(0, "test_acc", 0.9, split="test")])
    assert cat.get_model(m.id) == m
    assert m.arch == {"channels": [8, 16]} and m.tags == ("baseline",)
    assert cat.checkpoint_bytes(m.id) == b"weights-1"
    assert [x.name for x in cat.get_metrics(m.id)] == ["test_acc"]
    child = cat.add_model("cnn", checkpoint=b"weights-2", parent_id=m.id)
    assert [r.id for r in cat.lineage(child.id)] == [child.id, m.id]
    assert [r.id for r in cat.list_models(kind="cnn", dataset="digits", tag="baseline")] == [m.id]
    cat.tag(child.id, "reviewed", "reviewed")
    assert cat.get_model(child.id).tags == ("reviewed",)
    cat.untag(child.id, "reviewed")
    assert cat.get_model(child.id).tags == ()
    with pytest.raises(InvalidInputError, match="parent"):
        cat.remove_model(m.id)
    cat.remove_model(child.id)
    with pytest.raises(NotFoundError, match="no model with id"):
        cat.get_model(child.id)
    assert cat.check().ok


def test_duplicate_content_detected(fresh_catalog: Catalog) -> None:
    first = fresh_catalog.add_model("mlp", checkpoint=b"same bytes")
    with pytest.raises(DuplicateError, match=f"model {first.id}") as info:
        fresh_catalog.add_model("mlp", checkpoint=b"same bytes")
    assert info.value.existing_id == first.id
    assert fresh_catalog.count_models() == 1


def test_bad_inputs_change_nothing(fresh_catalog: Catalog) -> None:
    with pytest.raises(InvalidInputError, match="model kind 'Vision Transformer'"):
        fresh_catalog.add_model("Vision Transformer", checkpoint=b"x")
    with pytest.raises(NotFoundError, match="no dataset"):
        fresh_catalog.add_model("cnn", checkpoint=b"x", dataset="nope")
    with pytest.raises(InvalidInputError, match="invalid tag"):
        fresh_catalog.add_model("cnn", checkpoint=b"x", tags=["has space"])
    assert fresh_catalog.count_models() == 0


def test_dataset_round_trip(fresh_catalog: Catalog) -> None:
    _dataset(fresh_catalog)
    images, labels, splits = fresh_catalog.dataset_arrays("digits")
    assert images.shape == (12, 4, 4) and images.dtype == np.uint8
    assert labels.tolist() == [i % 3 for i in range(12)]
    assert splits[:3].tolist() == ["train", "val", "test"]
    with pytest.raises(DuplicateError):
        _dataset(fresh_catalog)


def test_population_lifecycle(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    _dataset(cat)
    pop, writer = cat.create_population("p", dataset="digits", arch={"w": 2}, fit_config={},
                                        n_inrs=5, n_params=3, chunk_rows=2)
    assert pop.status == "partial"
    params = np.arange(15, dtype=np.float32).reshape(5, 3)
    writer.write(0, params[:2])
    cat.population_progress("p", 2)
    assert cat.get_population("p").rows_done == 2
    writer.write(2, params[2:])
    done = cat.complete_population("p", sha256=writer.close(), sample_ids=[4, 3, 2, 1, 0])
    assert done.status == "complete"
    assert cat.population_sample_ids("p").tolist() == [4, 3, 2, 1, 0]
    inrs = cat.list_models(population="p")
    assert [m.population_row for m in inrs] == list(range(5))
    assert np.array_equal(cat.arrays.read(done.array_key), params)
    assert cat.check().ok


def test_probe_sets_and_activations(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    _dataset(cat)
    m = cat.add_model("mlp", checkpoint=b"m")
    probe = cat.create_probe_set("first5", [0, 1, 2, 3, 4], dataset="digits")
    assert cat.probe_sample_ids("first5") == [0, 1, 2, 3, 4]
    with pytest.raises(InvalidInputError, match="outside dataset"):
        cat.create_probe_set("bad", [0, 99], dataset="digits")
    acts = np.random.default_rng(1).normal(size=(5, 3, 2)).astype(np.float32)
    rec = cat.add_activation(m.id, "fc1", "first5", acts)
    assert rec.shape == (5, 3, 2) and rec.probe_set_id == probe.id
    assert np.array_equal(cat.arrays.read(rec.array_key), acts)
    with pytest.raises(DuplicateError, match="--replace"):
        cat.add_activation(m.id, "fc1", "first5", acts)
    with pytest.raises(InvalidInputError, match="5 samples"):
        cat.add_activation(m.id, "fc2", "first5", acts[:4])
    newer = cat.add_activation(m.id, "fc1", "first5", acts * 2, replace=True)
    assert not cat.arrays.exists(rec.array_key) and cat.arrays.exists(newer.array_key)
    with pytest.raises(NotFoundError, match="stored layers: fc1"):
        cat.get_activation(m.id, "fc9", "first5")
    cat.remove_model(m.id)
    assert not cat.arrays.exists(newer.array_key)
    assert cat.check().ok


def test_similarity_cache_ignores_duplicates(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    a, b = cat.add_model("mlp", checkpoint=b"a"), cat.add_model("cnn", checkpoint=b"b")
    probe = cat.create_probe_set("p", [0, 1, 2, 3])
    rec = SimilarityRecord(a.id, "fc1", b.id, "conv1", probe.id, "linear_cka", "biased", "{}",
                           "1", 0.5, 4)
    assert cat.put_similarities([rec]) == 1
    cat.put_similarities([rec, rec])  # a concurrent writer got there first: no error
    key = (a.id, "fc1", b.id, "conv1", probe.id, "linear_cka", "biased", "{}", "1")
    found = cat.get_similarities([key])
    assert found[key].value == 0.5 and found[key].cached


def test_similarity_cache_bulk_write(fresh_catalog: Catalog) -> None:
    """More rows than one statement holds: one transaction, conflicts skipped, replace wins."""
    from store._activations import PUT_BATCH

    cat = fresh_catalog
    models = [cat.add_model("mlp", checkpoint=bytes([i])).id for i in range(25)]
    probe = cat.create_probe_set("p", [0, 1, 2, 3])

    def rec(a: int, b: int, value: float) -> SimilarityRecord:
        return SimilarityRecord(a, "fc", b, "fc", probe.id, "linear_cka", "biased", "{}", "1",
                                value, 4)

    pairs = [(a, b) for i, a in enumerate(models) for b in models[i:]]
    assert len(pairs) > PUT_BATCH
    assert cat.put_similarities([rec(*pairs[0], 0.1)]) == 1
    # the first key is cached already and the second is given twice: each written once
    assert cat.put_similarities([rec(a, b, 0.5) for a, b in pairs] + [rec(*pairs[1], 0.9)]) \
        == len(pairs) - 1
    keys = [(a, "fc", b, "fc", probe.id, "linear_cka", "biased", "{}", "1") for a, b in pairs]
    found = cat.get_similarities(keys)
    assert [found[k].value for k in keys[:3]] == [0.1, 0.5, 0.5] and len(found) == len(pairs)
    assert cat.put_similarities([rec(a, b, 0.7) for a, b in pairs], replace=True) == len(pairs)
    assert {r.value for r in cat.get_similarities(keys).values()} == {0.7}


def test_writing_activation_error_leaves_nothing(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    m = cat.add_model("mlp", checkpoint=b"m")
    cat.create_probe_set("p", list(range(6)))
    with pytest.raises(RuntimeError), cat.writing_activation(m.id, "fc1", "p", (2,)) as w:
        w.write(0, np.ones((3, 2)))
        raise RuntimeError("interrupted")
    assert cat.list_activations(m.id) == []
    assert cat.arrays.list_keys("activations") == []

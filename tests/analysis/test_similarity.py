"""The query layer: values equal the measures, repeats hit the cache, alignment is checked."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits

from analysis.measures import linear_cka, minibatch_cka, rbf_cka
from analysis.similarity import Rep, SimilarityQuery, compare, resolve_layers
from store import AlignmentError, Catalog, InvalidInputError, NotFoundError

N = 120


@pytest.fixture
def digits() -> np.ndarray:
    x, _ = load_digits(return_X_y=True)
    return x[:N].astype(np.float32)  # [N, 64] real 8x8 digits


@pytest.fixture
def populated(fresh_catalog: Catalog, digits: np.ndarray) -> tuple[Catalog, dict[str, np.ndarray]]:
    """Two models with three recorded layers each: random ReLU features of real digits."""
    cat = fresh_catalog
    cat.create_probe_set("probe", list(range(N)))
    rng = np.random.default_rng(0)
    acts: dict[str, np.ndarray] = {}
    for m in (1, 2):
        model = cat.add_model("mlp", checkpoint=f"model {m}".encode())
        h = digits
        for layer in ("fc1", "fc2", "logits"):
            h = np.maximum(h @ rng.normal(size=(h.shape[1], 32)).astype(np.float32), 0)
            cat.add_activation(model.id, layer, "probe", h)
            acts[f"{model.id}:{layer}"] = h
        cat.add_activation(model.id, "predictions", "probe", h.argmax(1)[:, None])
    return cat, acts


def test_values_equal_measures_and_cache(populated: tuple[Catalog, dict[str, np.ndarray]]) -> None:
    cat, acts = populated
    a = [Rep(1, "fc1"), Rep(1, "fc2")]
    b = [Rep(2, "fc1"), Rep(2, "logits")]
    first = compare(cat, a, b, SimilarityQuery())
    assert len(first) == 4 and not any(r.cached for r in first)
    for r in first:
        x, y = acts[f"{r.model_a_id}:{r.layer_a}"], acts[f"{r.model_b_id}:{r.layer_b}"]
        expected = linear_cka(x, y)
        assert r.value == pytest.approx(expected, abs=1e-9)
    second = compare(cat, b, a, SimilarityQuery())  # reversed: same pairs, from the cache
    assert all(r.cached for r in second)
    assert {(r.model_a_id, r.layer_a, r.value) for r in second} == {
        (r.model_b_id, r.layer_b, r.value) for r in first}
    fresh = compare(cat, a, b, SimilarityQuery(recompute=True))
    assert not any(r.cached for r in fresh)
    assert [r.value for r in fresh] == pytest.approx([r.value for r in first])
    partly = compare(cat, a, [*b, Rep(2, "fc2")], SimilarityQuery())  # only 2 new pairs computed
    assert sum(not r.cached for r in partly) == 2


def test_self_similarity_is_one(populated: tuple[Catalog, dict[str, np.ndarray]]) -> None:
    cat, _ = populated
    reps = [Rep(1, "fc1"), Rep(1, "fc2"), Rep(2, "logits")]
    values = np.array([r.value for r in compare(cat, reps, reps, SimilarityQuery())]).reshape(3, 3)
    assert np.allclose(np.diag(values), 1.0) and np.allclose(values, values.T)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_rbf_and_unbiased(populated: tuple[Catalog, dict[str, np.ndarray]], estimator: str) -> None:
    cat, acts = populated
    rec = compare(cat, [Rep(1, "fc2")], [Rep(2, "fc2")], SimilarityQuery("rbf", estimator))[0]
    assert rec.value == pytest.approx(rbf_cka(acts["1:fc2"], acts["2:fc2"], 0.8, estimator),
                                      abs=1e-9)
    lin = compare(cat, [Rep(1, "fc2")], [Rep(2, "fc2")], SimilarityQuery("linear", estimator))[0]
    assert lin.value == pytest.approx(linear_cka(acts["1:fc2"], acts["2:fc2"], estimator), abs=1e-9)


def test_minibatch_streams_from_store(populated: tuple[Catalog, dict[str, np.ndarray]]) -> None:
    cat, acts = populated
    rec = compare(cat, [Rep(1, "fc1")], [Rep(2, "fc2")],
                  SimilarityQuery(estimator="minibatch", options={"batch_size": 40}))[0]
    x, y = acts["1:fc1"], acts["2:fc2"]
    expected = minibatch_cka((x[s:s + 40], y[s:s + 40]) for s in range(0, N, 40))
    assert rec.value == pytest.approx(expected, abs=1e-9)
    assert rec.params == '{"batch_size":40}'


def test_layer_aliases(populated: tuple[Catalog, dict[str, np.ndarray]]) -> None:
    cat, _ = populated
    probe = cat.get_probe_set("probe").id
    assert resolve_layers(cat, 1, "all", probe) == ["fc1", "fc2", "logits"]
    assert resolve_layers(cat, 1, "penultimate,first", probe) == ["fc2", "fc1"]
    with pytest.raises(NotFoundError, match="recorded: fc1, fc2, logits"):
        resolve_layers(cat, 1, "conv9", probe)


def test_alignment_is_checked(populated: tuple[Catalog, dict[str, np.ndarray]]) -> None:
    cat, acts = populated
    cat.create_probe_set("other", list(range(N - 1, -1, -1)))  # same ids, another order
    third = cat.add_model("cnn", checkpoint=b"third")
    cat.add_activation(third.id, "fc1", "other", acts["1:fc1"][::-1])
    with pytest.raises(AlignmentError, match=r"'other'.*'probe'|'probe'.*'other'"):
        compare(cat, [Rep(1, "fc1")], [Rep(third.id, "fc1")], SimilarityQuery())
    with pytest.raises(NotFoundError, match="no activations for layer 'fc1' on probe set"):
        compare(cat, [Rep(1, "fc1")], [Rep(third.id, "fc1")], SimilarityQuery(probe="probe"))
    with pytest.raises(InvalidInputError, match="unknown measure"):
        SimilarityQuery(measure="cca")


def test_replacing_activations_invalidates_cache(
    populated: tuple[Catalog, dict[str, np.ndarray]], digits: np.ndarray
) -> None:
    cat, _ = populated
    before = compare(cat, [Rep(1, "fc1")], [Rep(2, "fc1")], SimilarityQuery())[0]
    cat.add_activation(1, "fc1", "probe", digits, replace=True)
    after = compare(cat, [Rep(1, "fc1")], [Rep(2, "fc1")], SimilarityQuery())[0]
    assert not after.cached and after.value != pytest.approx(before.value)


def test_concurrent_queries_same_pairs(
    populated: tuple[Catalog, dict[str, np.ndarray]]
) -> None:
    cat, _ = populated
    errors: list[BaseException] = []

    def query() -> None:
        try:
            other = Catalog.open(cat.engine.url.render_as_string(hide_password=False),
                                 cat.arrays.root)
            compare(other, [Rep(1, "fc1"), Rep(1, "fc2")], [Rep(2, "fc1")], SimilarityQuery())
            other.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=query) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = [(1, "fc1", 2, "fc1"), (1, "fc2", 2, "fc1")]
    got = compare(cat, [Rep(1, "fc1"), Rep(1, "fc2")], [Rep(2, "fc1")], SimilarityQuery())
    assert all(r.cached for r in got) and len(got) == len(keys)

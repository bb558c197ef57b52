"""The measure registry: one table drives queries, cache keys and errors (issue #17)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.measure_registry import BUILTIN, MeasureSpec, measure_names, measure_spec
from analysis.similarity import Rep, SimilarityQuery, compare
from store import Catalog, InvalidInputError
from tests.conftest import ZooRunner


def test_every_measure_loads_and_computes_a_symmetric_block() -> None:
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(40, 3 + i)) for i in range(3)]
    assert measure_names() == [s.name for s in BUILTIN]
    assert len({s.cache_name for s in BUILTIN}) == len(BUILTIN)
    for spec in BUILTIN:
        est, params = spec.resolve(None, {})
        assert est == spec.estimators[0] and set(params) <= {p.name for p in spec.params}
        square = spec.pairs(xs, None, estimator=est, params=params)
        cross = spec.pairs(xs[:2], xs, estimator=est, params=params)
        assert square.shape == (3, 3) and cross.shape == (2, 3)
        np.testing.assert_allclose(square, square.T, atol=1e-12)
        np.testing.assert_allclose(cross, square[:2], atol=1e-9)
        best = 0.0 if spec.kind == "distance" else 1.0
        np.testing.assert_allclose(np.diag(square), best, atol=1e-9)


def test_query_resolves_names_defaults_and_keeps_old_cache_keys() -> None:
    assert SimilarityQuery().measure == "linear_cka" and SimilarityQuery().params == "{}"
    rbf = SimilarityQuery("rbf", "unbiased")
    assert (rbf.measure, rbf.measure_name, rbf.params) == (
        "rbf_cka", "rbf_cka", '{"sigma_fraction":0.8}')
    mb = SimilarityQuery("linear", "minibatch")
    assert mb.params == '{"batch_size":256}' and mb.options == {"batch_size": 256}
    # a parameter of another estimator stays out of the key
    assert SimilarityQuery("linear", "biased", options={"batch_size": 64}).params == "{}"
    assert SimilarityQuery("mknn").estimator == "exact"
    assert SimilarityQuery("mknn", options={"k": 5}).params == '{"k":5}'
    for bad, match in (({"measure": "cca"}, "unknown measure 'cca'"),
                       ({"measure": "rbf", "estimator": "minibatch"}, "no estimator"),
                       ({"measure": "rbf", "options": {"k": 3}}, "no parameter 'k'"),
                       ({"measure": "rbf", "options": {"sigma_fraction": 0}}, "must be > 0"),
                       ({"estimator": "minibatch", "options": {"batch_size": 2}}, ">= 4"),
                       ({"measure": "svcca", "options": {"keep": 1.5}}, "<= 1")):
        with pytest.raises(InvalidInputError, match=match):
            SimilarityQuery(**bad)  # type: ignore[arg-type]
    assert measure_spec("linear") is measure_spec("linear_cka")


def _degenerate_layer(cat: Catalog) -> None:
    """Model 2's layer fc: 25 of its 30 rows equal (the store accepts it; measures cannot)."""
    cat.create_probe_set("probe", list(range(30)))
    for seed in (0, 1):
        cat.add_model("mlp", seed=seed)
    rng = np.random.default_rng(1)
    cat.add_activation(1, "fc", "probe", rng.normal(size=(30, 4)).astype(np.float32))
    degenerate = np.ones((30, 4), dtype=np.float32)
    degenerate[25:] = rng.normal(size=(5, 4))
    cat.add_activation(2, "fc", "probe", degenerate)


@pytest.mark.parametrize("spec", BUILTIN, ids=lambda s: s.name)
def test_a_measure_error_names_the_representation(spec: MeasureSpec) -> None:
    est, params = spec.resolve(None, {})
    good = np.random.default_rng(3).normal(size=(30, 4))
    with pytest.raises(ValueError, match=r"7:conv1"):
        spec.pairs([good, np.ones((30, 4))], estimator=est, params=params,
                   labels_x=["3:fc", "7:conv1"])


@pytest.mark.parametrize(("query", "match"), [
    (SimilarityQuery("rbf"), r"cannot compute RBF CKA: the median pairwise distance of 2:fc"),
    (SimilarityQuery("linear", "minibatch", options={"batch_size": 10}),
     r"cannot compute linear CKA: 2:fc \(minibatch 0\) has zero variance"),
])
def test_a_measure_error_is_one_invalid_input_error(sqlite_catalog: Catalog,
                                                    query: SimilarityQuery, match: str) -> None:
    _degenerate_layer(sqlite_catalog)
    with pytest.raises(InvalidInputError, match=match):
        compare(sqlite_catalog, [Rep(1, "fc")], [Rep(2, "fc")], query)


def test_cli_says_one_line_for_a_degenerate_layer(zoo: ZooRunner) -> None:
    from store import Catalog as Cat

    with Cat.open(zoo.env["ZOO_DATABASE_URL"], zoo.env["ZOO_ARRAYS_URL"]) as cat:
        _degenerate_layer(cat)
    for args in (["cka", "1", "2", "--measure", "rbf"],
                 ["cka", "1", "2", "--estimator", "minibatch", "--batch-size", "10"]):
        result = zoo(*args, ok=False)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 1 and len(lines) == 1, lines
        assert lines[0].startswith("Error:") and "2:fc" in lines[0], lines


def test_general_commands_take_every_measure_and_its_parameters(zoo: ZooRunner) -> None:
    import json

    from analysis.measures import mutual_knn, procrustes_distance
    from store import Catalog as Cat

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    with Cat.open(zoo.env["ZOO_DATABASE_URL"], zoo.env["ZOO_ARRAYS_URL"]) as cat:
        cat.create_probe_set("probe", list(range(30)))
        for seed, data in ((0, x), (1, y)):
            model = cat.add_model("mlp", seed=seed)
            cat.add_activation(model.id, "fc", "probe", data)
    rows = json.loads(zoo("similarity", "1", "2", "--measure", "procrustes", "--json").output)
    assert rows[0]["measure"] == "procrustes" and rows[0]["estimator"] == "exact"
    assert rows[0]["value"] == pytest.approx(procrustes_distance(x, y), abs=1e-9)
    out = zoo("similarity-matrix", "--models", "1,2", "--layer", "fc", "--measure", "mknn",
              "--k", "3", "--json").output
    pair = next(r for r in json.loads(out) if r["model_a_id"] == 1 and r["model_b_id"] == 2)
    assert pair["value"] == pytest.approx(mutual_knn(x, y, k=3)) and pair["params"] == '{"k":3}'
    bad = zoo("similarity", "1", "2", "--k", "3", ok=False)  # linear CKA has no k
    assert bad.exit_code == 1 and bad.output.strip().splitlines() == [
        "Error: linear_cka has no parameter 'k' (its parameters: batch_size)"]
    assert zoo("cka", "1", "2", "--measure", "procrustes", ok=False).exit_code == 2
    assert "[default: 0.8]" in zoo("cka", "--help").output  # the registry's default

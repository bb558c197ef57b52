"""The measure registry: one table drives queries, cache keys and errors (issue #17)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.measure_registry import BUILTIN, measure_names, measure_spec
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


def _constant_layer(cat: Catalog) -> None:
    cat.create_probe_set("probe", list(range(30)))
    for seed in (0, 1):
        cat.add_model("mlp", seed=seed)
    rng = np.random.default_rng(1)
    cat.add_activation(1, "fc", "probe", rng.normal(size=(30, 4)).astype(np.float32))
    cat.add_activation(2, "fc", "probe", np.ones((30, 4), dtype=np.float32))


@pytest.mark.parametrize("measure", ["linear_cka", "rbf_cka", "procrustes", "svcca", "mknn"])
def test_a_constant_layer_is_an_error_naming_model_and_layer(sqlite_catalog: Catalog,
                                                             measure: str) -> None:
    _constant_layer(sqlite_catalog)
    with pytest.raises(InvalidInputError, match=r"cannot compute .*\b2:fc\b"):
        compare(sqlite_catalog, [Rep(1, "fc")], [Rep(2, "fc")], SimilarityQuery(measure))


def test_cli_says_one_line_for_a_constant_layer(zoo: ZooRunner) -> None:
    from store import Catalog as Cat

    with Cat.open(zoo.env["ZOO_DATABASE_URL"], zoo.env["ZOO_ARRAYS_URL"]) as cat:
        _constant_layer(cat)
    for args in (["cka", "1", "2"], ["cka", "1", "2", "--estimator", "minibatch",
                                     "--batch-size", "10"]):
        result = zoo(*args, ok=False)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 1 and len(lines) == 1, lines
        assert lines[0].startswith("Error:") and "2:fc" in lines[0], lines

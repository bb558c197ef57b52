"""Array keys: one module builds and parses them (store.keys)."""

from __future__ import annotations

import numpy as np
import pytest

from store import ArrayKey, Catalog, InvalidInputError
from store.keys import DATASET_PARTS, FIT_METRICS, PARAMS, check_path


def test_new_keys_are_fresh_and_parse_back() -> None:
    a, b = ArrayKey.new("activations"), ArrayKey.new("activations")
    assert a != b and a.category == "activations" and a.part is None
    assert ArrayKey.parse(str(a)) == a
    params = ArrayKey.new("populations", PARAMS)
    assert str(params) == f"populations/{params.name}/params"
    assert ArrayKey.parse(str(params)) == params
    assert str(params.root) == f"populations/{params.name}"
    assert str(params.child(FIT_METRICS)) == f"populations/{params.name}/fit_metrics"


def test_content_keys_and_temporary_names() -> None:
    key = ArrayKey.content("checkpoints", "ab" * 32, ".safetensors")
    assert str(key) == f"checkpoints/{'ab' * 32}.safetensors" and not key.temporary
    assert ArrayKey.parse("checkpoints/.tmp-0123").temporary


@pytest.mark.parametrize("bad", ["", "datasets", "datasets/", "/datasets/x", "a/b/c/d",
                                 "datasets/../x", "datasets/x/.."])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid array key"):
        ArrayKey.parse(bad)


def test_paths_stay_inside_the_root() -> None:
    assert check_path("datasets") == "datasets"
    for bad in ("/etc/passwd", "datasets/../../x"):
        with pytest.raises(InvalidInputError, match="invalid array key"):
            check_path(bad)


def test_catalog_groups_use_the_key_layout(fresh_catalog: Catalog) -> None:
    ds = fresh_catalog.add_dataset("d", source="test", images=np.zeros((4, 2, 2), np.float32),
                                   labels=np.arange(4), splits=["train"] * 4, num_classes=4)
    group = ArrayKey.parse(ds.array_key)
    assert group.category == "datasets" and group.part is None
    for part in DATASET_PARTS:
        assert fresh_catalog.arrays.exists(str(group.child(part)))
    pop, _ = fresh_catalog.create_population("p", dataset="d", arch={}, fit_config={},
                                             n_inrs=4, n_params=3)
    key = ArrayKey.parse(pop.array_key)
    assert (key.category, key.part) == ("populations", PARAMS)
    assert pop.fit_metrics_key == str(key.child(FIT_METRICS))

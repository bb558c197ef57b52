"""Bulk registration (#20): many rows in one transaction, all or none, on both back-ends."""

from __future__ import annotations

import pytest

from store import Catalog, DuplicateError, InvalidInputError
from store.bulk import BulkModel, add_models_bulk


def test_bulk_register_lists_and_filters(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    models = [BulkModel("cnn" if i % 3 == 0 else "mlp", f"bulk-{i}", seed=i,
                        tags=(f"t{i % 2}",)) for i in range(4500)]  # several batches
    ids = add_models_bulk(cat, models)
    assert len(ids) == len(set(ids)) == 4500 and ids == sorted(ids)
    assert [cat.get_model(ids[k]).name for k in (0, 2001, 4499)] == [
        "bulk-0", "bulk-2001", "bulk-4499"]
    got = cat.list_models(kind="cnn", tag="t1")
    assert [m.name for m in got] == [f"bulk-{i}" for i in range(4500) if i % 6 == 3]
    one = add_models_bulk(cat, [BulkModel("gmn", "after")])  # ids keep counting
    assert one[0] > ids[-1] and cat.count_models() == 4501


def test_bulk_register_is_all_or_nothing(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    add_models_bulk(cat, [BulkModel("mlp", "taken")])
    with pytest.raises(DuplicateError):
        add_models_bulk(cat, [BulkModel("mlp", "new-1"), BulkModel("mlp", "taken")])
    assert cat.count_models() == 1
    with pytest.raises(DuplicateError, match="twice"):
        add_models_bulk(cat, [BulkModel("mlp", "x"), BulkModel("mlp", "x")])
    with pytest.raises(InvalidInputError, match="model kind 'res net'"):
        BulkModel("res net", "y")

"""Records round-trip through dicts and through the catalog (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Catalog, ModelRecord, SimilarityRecord, records

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31),
                         st.text(max_size=20))
json_objects = st.dictionaries(st.text(min_size=1, max_size=10),
                               st.one_of(json_scalars, st.lists(json_scalars, max_size=4)),
                               max_size=4)
tags = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1,
                        max_size=20), max_size=4, unique=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["gmn", "mlp", "mlp-weights", "cnn", "other"]), arch=json_objects,
       seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)), tag_list=tags,
       name=st.one_of(st.none(), st.text(alphabet="abcxyz@#/-_.:0123456789", min_size=1,
                                          max_size=50).filter(lambda t: not t.isdigit())),
       blob=st.binary(min_size=1))
def test_model_round_trip_through_catalog(
    sqlite_catalog: Catalog, kind: str, arch: dict[str, object], seed: int | None,
    tag_list: list[str], name: str | None, blob: bytes,
) -> None:
    if sqlite_catalog.find_by_sha256(hashlib.sha256(blob).hexdigest()):
        return  # hypothesis repeated a checkpoint: duplicates are tested elsewhere
    if name is not None and name in {m.name for m in sqlite_catalog.list_models()}:
        return  # names are unique: tested in tests/zoo/test_cli_names.py
    rec = sqlite_catalog.add_model(kind, checkpoint=blob, arch=arch, seed=seed, tags=tag_list,
                                   name=name)
    again = sqlite_catalog.get_model(rec.id)
    assert again == rec
    assert (again.kind, again.arch, again.seed) == (kind, arch, seed)
    assert again.name == name if name is not None else str(again.name).startswith(kind)
    assert again.tags == tuple(sorted(tag_list))
    assert ModelRecord.from_dict(again.to_dict()) == again
    assert sqlite_catalog.checkpoint_bytes(rec.id) == blob


@given(value=st.floats(allow_nan=False, allow_infinity=False), n=st.integers(4, 10**6),
       layer=st.text(min_size=1, max_size=30))
def test_similarity_record_dict_round_trip(value: float, n: int, layer: str) -> None:
    rec = SimilarityRecord(1, layer, 2, layer, 3, "linear_cka", "biased", "{}", "1", value, n)
    assert SimilarityRecord.from_dict(rec.to_dict()) == rec




_NOW = dt.datetime(2024, 5, 1, 12, 30, 5)
#: One example of every record class (a new record class must add one: see below).
EXAMPLES: dict[type[Any], Any] = {
    records.DatasetRecord: records.DatasetRecord(1, "mnist", "bundled", 10, 10, (28, 28),
                                                 "datasets/abc", _NOW),
    records.PopulationRecord: records.PopulationRecord(
        2, "p", 1, {"hidden_width": 32}, {"steps": 5}, 10, 1153, "populations/abc/params",
        "complete", 10, "ff" * 32, _NOW),
    records.ModelRecord: records.ModelRecord(
        3, "gmn", "gmn-s0@p", 1, 2, None, None, 0, {"hidden": [8, 8]}, {"lr": 0.01},
        "checkpoints/aa.safetensors", "aa" * 32, None, "ready", _NOW, ("best", "main")),
    records.MetricRecord: records.MetricRecord(3, "val_acc", 0.5, 4, "val"),
    records.ProbeSetRecord: records.ProbeSetRecord(4, "probe", 1, 8, "bb" * 32, _NOW),
    records.ActivationRecord: records.ActivationRecord(5, 3, "fc1", 4, (8, 16), "float32",
                                                       "activations/abc", "cc" * 32, _NOW),
    records.SimilarityRecord: records.SimilarityRecord(3, "fc1", 6, "fc1", 4, "linear_cka",
                                                       "biased", "{}", "1", 0.75, 8, True),
    records.PredictionPairRecord: records.PredictionPairRecord(
        3, 6, 4, "1", 8, 0.5, 0.75, 0.625, 0.25, 0.5, 0.0, 0.25, 0.25),
    records.EnsembleRecord: records.EnsembleRecord(3, 6, 4, "mean_logits", "1", 8, 0.5, 0.75,
                                                   0.875, 0.125, 0.25),
    records.StudyRecord: records.StudyRecord(7, "s", {"profile": "quick"}, 4, 2, (3, 6), _NOW),
    records.FindingRecord: records.FindingRecord(7, 1, "f", "a", 0.5, "b", 0.25, 0.25, 0.1,
                                                 0.4, 1000, "reproduced", "ci above 0"),
}


def test_every_record_class_has_an_example() -> None:
    classes = {getattr(records, n) for n in records.__all__}
    assert {c for c in classes if isinstance(c, type) and dataclasses.is_dataclass(c)} \
        == set(EXAMPLES)


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_dict_round_trip_of_every_record_class(cls: type[Any]) -> None:
    rec = EXAMPLES[cls]
    data = json.loads(json.dumps(rec.to_dict()))  # through JSON text, as the CLI sends it
    back = cls.from_dict(data)
    assert back == rec
    for f in dataclasses.fields(rec):
        assert type(getattr(back, f.name)) is type(getattr(rec, f.name)), f.name


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_from_row_reads_the_fields_and_freezes_lists(cls: type[Any]) -> None:
    rec = EXAMPLES[cls]
    row = SimpleNamespace(**{k: list(v) if isinstance(v, tuple) else v
                             for k, v in dataclasses.asdict(rec).items()})
    assert cls.from_row(row) == rec

"""Records round-trip through dicts and through the catalog (hypothesis)."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Catalog, ModelRecord, SimilarityRecord

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



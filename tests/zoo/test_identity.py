"""A training is found again by kind, source, seed, settings, architecture and training
code version (zoo.identity); models stored before versions were recorded are version 1."""

from __future__ import annotations

import dataclasses

import pytest

from store import Catalog
from zoo import identity
from zoo.data.register import add_bundled_dataset
from zoo.identity import TrainingKey, find_trained, stored_key, training_key
from zoo.model_runs import train_model
from zoo.train import TrainConfig


def test_a_training_is_found_by_its_key_and_its_code_version(
        sqlite_catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    add_bundled_dataset(sqlite_catalog, "digits")
    config = TrainConfig(epochs=1, batch_size=64, init_seed=0, data_seed=0)
    model = train_model(sqlite_catalog, "mlp", config, dataset="digits", hidden=16)
    assert model.config["code_version"] == identity.TRAINING_CODE_VERSION
    key = training_key(sqlite_catalog, "mlp", config, dataset="digits", hidden=16)
    assert stored_key(model) == key
    assert find_trained(sqlite_catalog, key) == model
    # another seed, width or setting is another training
    other = training_key(sqlite_catalog, "mlp", dataclasses.replace(config, init_seed=1),
                         dataset="digits", hidden=16)
    assert find_trained(sqlite_catalog, other) is None
    assert find_trained(sqlite_catalog, training_key(
        sqlite_catalog, "mlp", config, dataset="digits", hidden=32)) is None
    # a newer training code version does not find the older model
    monkeypatch.setattr(identity, "TRAINING_CODE_VERSION", "2")
    newer = dataclasses.replace(key, code_version=identity.TRAINING_CODE_VERSION)
    assert find_trained(sqlite_catalog, newer) is None
    assert newer.digest() != key.digest()


def test_version_one_keys_hash_as_before_versions_were_recorded() -> None:
    key = TrainingKey("mlp", 0, ("dataset", "digits"), {"lr": 0.001}, {"hidden": [16]})
    import hashlib
    import json

    before = hashlib.sha256(json.dumps([key.train, key.arch], sort_keys=True).encode())
    assert key.code_version == "1" and key.digest() == before.hexdigest()[:16]

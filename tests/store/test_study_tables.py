"""The study tables (migration 0002): agreements, ensembles, studies, findings; in zoo sql."""

from __future__ import annotations

import math

import numpy as np
import pytest

from store import (
    Catalog,
    EnsembleRecord,
    FindingRecord,
    InvalidInputError,
    NotFoundError,
    PredictionPairRecord,
)


def _setup(cat: Catalog) -> list[int]:
    cat.add_dataset("d", source="test", images=np.zeros((6, 2, 2), np.uint8),
                    labels=np.arange(6) % 2, splits=["train", "val", "test"] * 2, num_classes=2)
    cat.create_probe_set("p", [2, 5], dataset="d")
    return [cat.add_model("cnn", checkpoint=f"w{i}".encode(), dataset="d", seed=i).id
            for i in range(3)]


def test_pairs_ensembles_studies_findings(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    a, b, c = _setup(cat)
    pair = PredictionPairRecord(a, b, 1, "1", 2, 0.5, 1.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0)
    assert cat.put_prediction_pairs([pair]) == 1
    assert cat.put_prediction_pairs([pair]) == 0  # already stored: kept, not duplicated
    assert cat.get_prediction_pairs("p") == [pair]
    assert cat.get_prediction_pairs("p", model_ids=[a, c]) == []
    with pytest.raises(InvalidInputError, match="model_a_id < model_b_id"):
        PredictionPairRecord(b, a, 1, "1", 2, 0.5, 1.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0)
    ens = EnsembleRecord(a, c, 1, "mean_logits", "1", 2, 0.5, 0.5, 1.0, 0.5, 0.5)
    assert cat.put_ensembles([ens, ens]) == 1 and cat.get_ensembles("p") == [ens]

    with pytest.raises(NotFoundError, match="zoo reproduce"):
        cat.get_study("quick")
    study = cat.save_study("quick", {"seeds": [0, 1]}, "p")
    assert study.profile == {"seeds": [0, 1]} and study.model_ids == ()
    study = cat.set_study_models("quick", {"cnn|s0": a, "cnn|s1": b})
    assert study.model_ids == (a, b) and cat.find_slot("cnn|s1") == b
    assert cat.find_slot("cnn|s9") is None
    assert cat.save_study("quick", {"seeds": [0]}, "p").model_ids == (a, b)
    assert cat.list_studies() == ["quick"]

    f = FindingRecord(study.id, 1, "initialisation", "gmn", 0.4, "mlp", float("nan"),
                      float("nan"), float("nan"), float("nan"), 0, "inconclusive", "why")
    cat.put_findings("quick", [f])
    cat.put_findings("quick", [f])  # replaced, not duplicated
    (got,) = cat.get_findings("quick")
    assert got.value_a == 0.4 and math.isnan(got.value_b) and got.verdict == "inconclusive"
    with pytest.raises(InvalidInputError, match="verdict"):
        FindingRecord(study.id, 1, "x", "a", 0, "b", 0, 0, 0, 0, 0, "maybe", "")

    from analysis.sql import run_sql

    url = cat.engine.url.render_as_string(hide_password=False)
    frame = run_sql(url, "SELECT kind_a, kind_b, agreement FROM agreement_pairs")
    assert frame.to_dict("records") == [{"kind_a": "cnn", "kind_b": "cnn", "agreement": 0.5}]
    assert run_sql(url, "SELECT accuracy FROM ensemble_pairs")["accuracy"].tolist() == [1.0]
    assert run_sql(url, "SELECT profile->>'seeds' AS s FROM studies")["s"][0] == "[0]"
    assert run_sql(url, "SELECT verdict FROM findings")["verdict"].tolist() == ["inconclusive"]
    cat.remove_model(a)  # cascades to its agreement and ensemble rows and memberships
    assert cat.get_prediction_pairs("p") == [] and cat.get_ensembles("p") == []
    assert cat.get_study("quick").model_ids == (b,)

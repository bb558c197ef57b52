"""A newcomer's commands: readable names wherever an id goes, re-runs that find what is
stored instead of failing, tag filters in --where, and plain tables when piped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from store import Catalog, DuplicateError, InvalidInputError, NotFoundError
from tests.conftest import ZooRunner


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooRunner]:
    """A SQLite catalog with the bundled 8x8 digits and a probe set of 40 test digits."""
    root = tmp_path_factory.mktemp("names")
    run = ZooRunner({"ZOO_HOME": str(root / "home")})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run("init")
    run("data", "add", "digits")
    run("probe", "create", "p40", "--dataset", "digits", "--split", "test", "--limit", "40")
    yield run
    torch.set_num_threads(threads)


def _train(zoo: ZooRunner, *extra: str) -> dict[str, object]:
    out = zoo("train", "mlp", "--dataset", "digits", "--seed", "0", "--epochs", "1",
              "--batch-size", "64", *extra, "--json")
    return dict(json.loads(out.stdout))


def test_training_twice_finds_the_model_by_name(zoo: ZooRunner) -> None:
    first = _train(zoo)
    assert first["name"] == "mlp-s0@digits" and first["found"] is False
    again = zoo("train", "mlp", "--dataset", "digits", "--seed", "0", "--epochs", "1",
                "--batch-size", "64")
    assert "already trained: model mlp-s0@digits" in again.stderr
    assert again.stdout.startswith("model mlp-s0@digits (id ")
    assert _train(zoo)["id"] == first["id"]  # found again, nothing trained
    other = _train(zoo, "--lr", "0.002")  # other settings: another model, another name
    assert other["name"] == "mlp-s0#2@digits" and other["id"] != first["id"]
    # --retrain runs anyway; identical weights are reported, not an error
    retrained = _train(zoo, "--retrain")
    assert retrained["id"] == first["id"] and retrained["found"] is True


def test_names_and_selectors_work_wherever_an_id_does(zoo: ZooRunner) -> None:
    model = _train(zoo)
    shown = json.loads(zoo("show", "mlp-s0@digits", "--json").stdout)
    assert shown["id"] == model["id"] and shown["dataset"] == "digits"
    summary = zoo("show", str(model["id"])).stdout
    assert "mlp-s0@digits" in summary and "test_acc" in summary
    assert "0.0000000" not in summary  # rounded, not 17 digits
    zoo("tag", "mlp-s0@digits", "reviewed")
    assert "reviewed" in json.loads(zoo("show", "mlp-s0@digits", "--json").stdout)["tags"]
    assert "mlp:0" in zoo("show", "mlp:0", ok=False).output  # two mlp seed-0 models: ambiguous
    rec = zoo("record", "mlp-s0@digits", "--probe", "p40")
    assert "predictions" in rec.stdout
    again = zoo("record", "mlp-s0@digits", "--probe", "p40")
    assert "already recorded" in again.stderr and again.exit_code == 0
    listed = json.loads(zoo("ls", "--kind", "mlp", "--seed", "0", "--json").stdout)
    assert {m["name"] for m in listed} >= {"mlp-s0@digits", "mlp-s0#2@digits"}
    assert all(m["dataset"] == "digits" for m in listed)  # the models_wide column name


def test_where_accepts_tags_and_models_accepts_names(zoo: ZooRunner) -> None:
    model = _train(zoo)
    zoo("tag", str(model["id"]), "chosen")
    out = zoo("agree", "--where", "tag = 'chosen' OR kind = 'mlp'", "--json", ok=False)
    assert "Binder" not in out.output
    from zoo.cli._common import select_models
    from zoo.settings import resolve_locations

    loc = resolve_locations(zoo.env["ZOO_HOME"], None, None)
    assert select_models(loc, "tag = 'chosen'", None) == [model["id"]]
    assert select_models(loc, "list_contains(tags, 'chosen') AND kind = 'mlp'", None) == [
        model["id"]]
    assert select_models(loc, None, "mlp-s0@digits") == [model["id"]]


def test_piped_tables_are_tab_separated(zoo: ZooRunner) -> None:
    _train(zoo)
    lines = zoo("ls", "--kind", "mlp").stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["name", "id", "kind"]
    assert lines[1].split("\t")[0] == "mlp-s0@digits"
    assert not any(ch in "".join(lines) for ch in "━─│┃")


def test_catalog_names_are_unique_and_resolved(tmp_path: Path) -> None:
    with Catalog.create(f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / "a")) as cat:
        a = cat.add_model("cnn", seed=1)
        b = cat.add_model("cnn", seed=1)
        assert (a.name, b.name) == ("cnn-s1", "cnn-s1#2")
        with pytest.raises(DuplicateError, match="taken by model"):
            cat.add_model("mlp", name="cnn-s1")
        with pytest.raises(InvalidInputError, match="only digits"):
            cat.add_model("mlp", name="123")
        assert cat.resolve_model("cnn-s1#2") == b.id == cat.resolve_model(str(b.id))
        c = cat.add_model("mlp", seed=4, name="mine")
        assert cat.resolve_model("mlp:4") == c.id
        with pytest.raises(InvalidInputError, match="2\\+ models"):
            cat.resolve_model("cnn:1")
        with pytest.raises(NotFoundError, match="zoo ls"):
            cat.resolve_model("nope")


def test_fitting_twice_reports_the_population(zoo: ZooRunner) -> None:
    args = ("inr", "fit", "digits", "--width", "8", "--steps", "2", "--limit", "16",
            "--batch-size", "16", "--workers", "1")
    pop = "digits/siren-w8-d3/all-16/s0-t2-lr0.01"
    first = zoo(*args)
    assert "16 INRs" in first.stdout
    again = zoo(*args)
    assert f"already fitted: population {pop!r}" in again.stderr
    clash = zoo(*args, "--lr", "0.02", "--name", pop, ok=False)
    assert clash.exit_code != 0 and "other settings" in clash.output
    inrs = json.loads(zoo("ls", "--population", pop, "--json").stdout)
    assert inrs[3]["name"] == f"inr#3@{pop}"

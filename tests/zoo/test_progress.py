"""Progress that never goes silent (#18): every batch of a training, validation or
recording pass is reported with measured values (no placeholders); off a terminal only
milestones and heartbeats are printed; every long command closes with what it created,
where, how long it took and which models are still at chance."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import torch

from tests.conftest import ZooRunner
from zoo.outcomes import CHANCE_MARGIN, ModelOutcome


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooRunner]:
    """A SQLite catalog with the bundled 8x8 digits and a probe set of 40 test digits;
    plain progress lines after every update (``ZOO_PROGRESS_SECONDS=0``)."""
    root = tmp_path_factory.mktemp("progress")
    run = ZooRunner({"ZOO_HOME": str(root / "home"), "ZOO_PROGRESS_SECONDS": "0"})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run("init")
    run("data", "add", "digits")
    run("probe", "create", "p40", "--dataset", "digits", "--split", "test", "--limit", "40")
    yield run
    torch.set_num_threads(threads)


def test_train_reports_every_batch_and_closes_with_a_summary(zoo: ZooRunner) -> None:
    out = zoo("train", "cnn", "--dataset", "digits", "--epochs", "1", "--batch-size", "64",
              "--json")
    model = json.loads(out.stdout)
    err = out.stderr.splitlines()
    batches = [x for x in err if x.startswith("cnn s0 epoch 1/1 train: batch ")]
    n_train = len(batches)  # one line per batch with ZOO_PROGRESS_SECONDS=0
    assert n_train >= 2 and batches[0].startswith("cnn s0 epoch 1/1 train: batch 1/")
    assert batches[-1].startswith(f"cnn s0 epoch 1/1 train: batch {n_train}/{n_train}, loss ")
    assert all(" acc " in x and "batch/s" in x for x in batches)
    assert any("ETA " in x for x in batches[:-1])  # the last batch has nothing left
    assert any(x.startswith("cnn s0 epoch 1/1 validate: batch 1/") for x in err)
    assert "0.0000 acc 0.0000" not in out.stderr  # no placeholder before values exist
    first_loss = float(batches[0].split("loss ")[1].split()[0])
    assert 0 < first_loss < 10  # a measured cross-entropy, not a stand-in
    assert any(x.startswith("epoch 1: train loss ") for x in err)
    summary = err[err.index(next(x for x in err if x.startswith("done in "))):]
    assert summary[0].endswith(f"created model cnn-s0@digits (id {model['id']})")
    assert summary[1].startswith("  catalog sqlite:///") and "arrays " in summary[1]
    chance = model["metrics"]["test_acc"] <= 0.1 + CHANCE_MARGIN
    assert ("near chance: cnn-s0@digits test acc" in out.stderr) == chance

    again = zoo("train", "cnn", "--dataset", "digits", "--epochs", "1", "--batch-size", "64")
    assert "batch " not in again.stderr and "nothing new" in again.stderr
    assert f"already stored: model cnn-s0@digits (id {model['id']})" in again.stderr


def test_record_and_inr_fit_report_progress_and_summaries(zoo: ZooRunner) -> None:
    zoo("train", "mlp", "--dataset", "digits", "--epochs", "1")
    rec = zoo("record", "mlp-s0@digits", "--probe", "p40", "--batch-size", "16")
    assert "mlp-s0@digits record: batch 1/3" in rec.stderr
    assert "mlp-s0@digits record: batch 3/3" in rec.stderr
    assert "created activations of model mlp-s0@digits on probe set 'p40'" in rec.stderr
    again = zoo("record", "mlp-s0@digits", "--probe", "p40")
    assert "record: batch" not in again.stderr and "nothing new" in again.stderr

    args = ("inr", "fit", "digits", "--limit", "24", "--batch-size", "12", "--steps", "5",
            "--workers", "1")
    fit = zoo(*args)
    assert "• fit INRs of digits (0/24)" in fit.stderr
    assert "fit INRs of digits: 12/24 INRs" in fit.stderr and "INR/s" in fit.stderr
    assert "created population 'digits/siren-w32-d3/all-24/s0-t5-lr0.01' (24 INRs)" \
        in fit.stderr
    refit = zoo(*args)
    assert "/?" not in refit.stderr and "fit INRs" not in refit.stderr
    assert "already stored: population 'digits/siren-w32-d3/all-24/s0-t5-lr0.01'" \
        in refit.stderr


def test_off_a_terminal_only_milestones_are_printed(zoo: ZooRunner) -> None:
    quiet = ZooRunner({**zoo.env, "ZOO_PROGRESS_SECONDS": "3600"})
    out = quiet("train", "mlp", "--dataset", "digits", "--epochs", "2", "--seed", "3")
    lines = out.stderr.splitlines()
    assert [x.split(":")[0] for x in lines[:2]] == ["epoch 1", "epoch 2"]
    assert "batch" not in out.stderr and lines[2].startswith("done in ")


def test_heartbeat_prints_a_quiet_stage_again(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.cli._progress import ProgressView

    monkeypatch.setenv("ZOO_PROGRESS_SECONDS", "0.05")
    with ProgressView() as view:
        view.start("cka", "linear CKA", 4)
        view.update("cka", 1, "pair 1")
        deadline = time.monotonic() + 30
        while "still running" not in capsys.readouterr().err:
            assert time.monotonic() < deadline, "no heartbeat line"
            time.sleep(0.05)
        view.update("cka", 4)
    assert "linear CKA: 4/4" in capsys.readouterr().err  # a finished stage says so


def test_near_chance_is_two_points_above_chance_or_less() -> None:
    def outcome(acc: float | None) -> ModelOutcome:
        return ModelOutcome(1, "m", acc, "test", 0.1)

    assert outcome(0.05).near_chance and outcome(0.1 + CHANCE_MARGIN).near_chance
    assert not outcome(0.13).near_chance and not outcome(None).near_chance
    assert not ModelOutcome(1, "m", 0.1, "test", None).near_chance


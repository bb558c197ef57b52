"""`zoo reproduce` end to end on a tiny real profile: parallel training, resuming, a changed
profile, every reported number a `zoo sql` query away, `zoo report`, kill -9 and rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis.sql import run_sql
from analysis.study.queries import study_sql
from store import Catalog
from zoo.cli import cli
from zoo.study import Profile, reproduce

TINY = Profile("tiny", dataset="digits", n_inrs=160, kinds=("gmn", "mlp", "cnn"),
               seeds=(0, 1, 2), default_epochs=1, probe="test-24", n_boot=20, workers=2)


class Lines:
    """A reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.said: list[str] = []
        self.steps: list[str] = []

    def start(self, key: str, description: str, total: float | None) -> None:
        self.started.append(description)

    def update(self, key: str, completed: float, status: str = "") -> None:
        pass

    def step(self, key: str, completed: float, status: str = "") -> None:
        self.steps.append(status)

    def say(self, message: str) -> None:
        self.said.append(message)


def test_reproduce_resumes_and_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Catalog.create(url, str(tmp_path / "arrays")) as cat:
        lines = Lines()
        first = reproduce(cat, TINY, tmp_path / "report", lines)
        assert first.trained == 9 and len(first.model_ids) == 9
        assert set(first.new_model_ids) == set(first.model_ids) and first.population_fitted
        # the workers' batches reach the parent: loss, accuracy, rate of every training
        assert any(s.startswith("epoch 1/1 train: batch ") and "loss " in s and "batch/s" in s
                   for s in lines.steps)
        assert any(s.startswith("batch ") for s in lines.steps)  # recording batches
        assert [f.name for f in first.findings] == ["initialisation", "architecture",
                                                    "predictions", "complementarity"]
        html = first.report_html.read_text()
        assert html.count("data:image/png;base64,") == 5 and "<pre>" in html
        assert (tmp_path / "report" / "figures" / "cka_matrix.png").exists()
        n_models = cat.count_models()

        again = Lines()
        second = reproduce(cat, TINY, tmp_path / "report", again)
        assert second.trained == 0 and second.model_ids == first.model_ids
        assert cat.count_models() == n_models and not any("train" in s for s in again.started)
        assert "9 models: 9 stored, 0 to train" in again.said[0]
        assert second.new_model_ids == () and not second.population_fitted and not again.steps

        more = reproduce(cat, Profile(**{**TINY.__dict__, "seeds": (0, 1, 2, 3)}),
                         tmp_path / "report", Lines())
        assert more.trained == 3 and set(first.model_ids) < set(more.model_ids)
        # every reported number is the SQL printed beside it
        (f1,) = [f for f in more.findings if f.finding == 1]
        frame = run_sql(url, study_sql("cka_kinds", "tiny"))
        gmn = frame[(frame.kind_1 == "gmn") & (frame.kind_2 == "gmn")]
        assert int(gmn.n_pairs.iloc[0]) == 6
        assert float(gmn.mean_cka.iloc[0]) == pytest.approx(f1.value_a, abs=1e-4)
        stored = run_sql(url, study_sql("findings", "tiny"))
        assert stored.verdict.tolist() == [f.verdict for f in more.findings]

    env = {"ZOO_HOME": str(tmp_path), "ZOO_DATABASE_URL": url,
           "ZOO_ARRAYS_URL": str(tmp_path / "arrays")}
    result = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "again")], env=env)
    assert result.exit_code == 0, result.output
    assert "1. initialisation:" in result.output
    assert (tmp_path / "again" / "report.html").read_text().count("<img") == 5


def test_cli_dry_run_and_bad_input(tmp_path: Path) -> None:
    env = {"ZOO_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    dry = runner.invoke(cli, ["reproduce", "--dry-run", "--epochs", "gmn=3"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "(('cnn', 5), ('gmn', 3), ('mlp', 5))" in dry.output and "total" in dry.output
    assert not (tmp_path / "home").exists()  # a dry run creates nothing
    for args, message in ((["--seeds", "0,1"], "at least 3 distinct seeds"),
                          (["--kinds", "gmn,vit"], "unknown kinds ['vit']"),
                          (["--epochs", "gmn"], "give KIND=N"),
                          (["--probe", "test"], "give <split>-<n>")):
        bad = runner.invoke(cli, ["reproduce", "--dry-run", *args], env=env)
        assert bad.exit_code == 1 and bad.output.startswith("Error: ") and message in bad.output
    none = runner.invoke(cli, ["report"], env={"ZOO_HOME": str(tmp_path / "none")})
    assert none.exit_code == 1 and "zoo init" in none.output


_KILLED = """
import sys
from store import Catalog
from zoo.study import Profile, reproduce
from zoo.study.run import Reporter

class Say:
    def start(self, key, description, total): pass
    def update(self, key, completed, status=""):
        if status.startswith("model "):  # a model is stored: say so, then get killed
            print("stored", flush=True)
    def step(self, key, completed, status=""): pass
    def say(self, message): pass

profile = Profile("tiny", dataset="digits", kinds=("mlp", "cnn"), seeds=(0, 1, 2),
                  default_epochs=1, probe="test-24", n_boot=20, workers=1)
with Catalog.create(sys.argv[1], sys.argv[2]) as cat:
    reproduce(cat, profile, __import__("pathlib").Path(sys.argv[3]), Say())
"""


def test_kill_9_then_rerun_trains_nothing_twice(tmp_path: Path) -> None:
    url, arrays = f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "arrays")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, url, arrays, str(tmp_path / "r")],
                            stdout=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "stored"
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: between two trainings or inside one
    proc.wait()
    with Catalog.open(url, arrays) as cat:
        before = {m.id for m in cat.list_models(include_inrs=False)}
        assert 1 <= len(before) < 6
        profile = Profile(**{**TINY.__dict__, "n_inrs": None, "kinds": ("mlp", "cnn"),
                             "workers": 1})
        result = reproduce(cat, profile, tmp_path / "r", Lines())
        assert result.trained == 6 - len(before) and before <= set(result.model_ids)
        assert len(cat.list_models(include_inrs=False)) == 6
        assert len(result.findings) == 4  # judged (inconclusive: no metanetwork pairs)

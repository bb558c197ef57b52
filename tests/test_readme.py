"""The README's CLI tour runs verbatim against a catalog the main job's code made.

A session fixture runs ``zoo reproduce``'s library (:func:`zoo.study.reproduce`) at a
small size: the bundled 8x8 digits stand in for mnist-5k and the probe set test-24 for
test-500 (:data:`SUBSTITUTIONS`, the only change made to a README line). Every
``zoo ...`` line of the ```bash blocks in the sections below must exit 0; ```text
blocks are what the README says is not run.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from tests.conftest import ZooRunner

README = (Path(__file__).parents[1] / "README.md").read_text()
SECTIONS = ("The catalog", "Models: train, evaluate, record", "Similarity: CKA on demand",
            "Predictions: agreement, kappa, ensembles", "Ad hoc SQL (DuckDB, read-only)")
SUBSTITUTIONS = {"mnist-5k": "digits", "test-500": "test-24"}


def _section(title: str) -> str:
    start = README.index(f"### {title}\n")
    end = README.find("\n### ", start + 1)
    return README[start:end if end > 0 else None]


def readme_commands(title: str) -> list[str]:
    """The ``zoo`` lines of the section's ```bash blocks, comments removed."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", _section(title), re.DOTALL):
        for line in block.splitlines():
            line = re.split(r"\s{2,}#", line)[0].strip()
            if line.startswith("zoo "):
                lines.append(line)
    return lines


def _substitute(arg: str) -> str:
    for old, new in SUBSTITUTIONS.items():
        arg = arg.replace(old, new)
    return arg


@pytest.fixture(scope="session")
def study_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A zoo home filled by the study's code: INRs, 3 kinds x 3 seeds, CKA, agreements."""
    from store import Catalog
    from zoo.study import Profile, reproduce

    class Quiet:
        def start(self, key: str, description: str, total: float | None) -> None:
            pass

        def update(self, key: str, completed: float, status: str = "") -> None:
            pass

        def step(self, key: str, completed: float, status: str = "") -> None:
            pass

        def say(self, message: str) -> None:
            pass

    home = tmp_path_factory.mktemp("readme") / "zoo-home"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    profile = Profile("readme", dataset="digits", n_inrs=160, kinds=("gmn", "mlp", "cnn"),
                      seeds=(0, 1, 2), default_epochs=1, probe="test-24", n_boot=20, workers=1)
    with Catalog.create(f"sqlite:///{home / 'catalog.db'}", str(home / "arrays")) as cat:
        reproduce(cat, profile, home / "report", Quiet())
    torch.set_num_threads(threads)
    yield home


@pytest.fixture(scope="session")
def zoo_readme(study_home: Path) -> ZooRunner:
    return ZooRunner({"ZOO_HOME": str(study_home)})


@pytest.mark.parametrize("title", SECTIONS)
def test_readme_commands_run_verbatim(zoo_readme: ZooRunner, title: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    commands = readme_commands(title)
    assert commands, f"no zoo commands in README section {title!r}"
    monkeypatch.chdir(tmp_path)  # files a command writes land here
    for line in commands:
        args = [_substitute(a) for a in shlex.split(line)[1:]]
        result = zoo_readme(*args, ok=False)
        assert result.exit_code == 0, f"README line failed: {line}\n{result.output}"
        assert "Traceback" not in result.output


def test_rerunning_a_training_finds_it(zoo_readme: ZooRunner) -> None:
    args = ["train", "mlp", "--dataset", "digits", "--seed", "0", "--epochs", "2", "--json"]
    first = json.loads(zoo_readme(*args).stdout)
    again = json.loads(zoo_readme(*args).stdout)
    assert again["id"] == first["id"] and again["found"] is True
    assert again["name"].startswith("mlp-s0") and again["name"].endswith("@digits")


def test_the_aggregation_example_equals_a_hand_computation(study_home: Path) -> None:
    from analysis.sql import run_sql
    from store import Catalog

    query = next(c for c in readme_commands("Ad hoc SQL (DuckDB, read-only)")
                 if "similarity_pairs" in c)
    url = f"sqlite:///{study_home / 'catalog.db'}"
    got = run_sql(url, shlex.split(query)[2])
    raw = run_sql(url, "SELECT * FROM similarities")
    with Catalog.open(url, str(study_home / "arrays")) as cat:
        kinds = {m.id: m.kind for m in cat.list_models()}
        penultimate = {}
        for (model, probe) in {(int(a), int(p)) for a, p in zip(raw.model_a_id, raw.probe_set_id,
                                                                 strict=True)} | {
                (int(b), int(p)) for b, p in zip(raw.model_b_id, raw.probe_set_id, strict=True)}:
            layers = [a.layer for a in cat.list_activations(model, probe=probe)
                      if a.layer != "predictions"]
            penultimate[model, probe] = layers[-2]
    sums: dict[tuple[str, str], list[float]] = {}
    for r in raw.itertuples():
        a, b, p = int(r.model_a_id), int(r.model_b_id), int(r.probe_set_id)
        if (r.measure, r.estimator) != ("linear_cka", "biased") or a == b:
            continue
        if r.layer_a != penultimate[a, p] or r.layer_b != penultimate[b, p]:
            continue
        key = tuple(sorted((kinds[a], kinds[b])))
        sums.setdefault((key[0], key[1]), []).append(float(r.value))
    assert len(got) == len(sums) == 6  # gmn, mlp, cnn: 3 same-kind + 3 cross-kind pairs
    for row in got.itertuples():
        values = sums[row.kind_1, row.kind_2]
        assert row.pairs == len(values)
        assert row.cka == pytest.approx(sum(values) / len(values), rel=1e-12)
    naive = run_sql(url, "SELECT avg(value) AS v FROM similarity_pairs")["v"][0]
    assert naive != pytest.approx(float(got.cka.mean()))  # what the filters change


def test_the_python_snippet_runs_verbatim(study_home: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = re.findall(r"```python\n(.*?)```",
                          _section("Guarantees (and the tests that hold them)"), re.DOTALL)
    monkeypatch.chdir(study_home.parent)  # the snippet opens zoo-home/ relative to here
    names: dict[str, Any] = {}
    exec(compile(_substitute(block), "README.md", "exec"), names)
    assert len(names["cnns"]) == 3 and names["a"] != names["b"]
    names["cat"].close()


def test_json_keys_are_sql_columns(zoo_readme: ZooRunner, study_home: Path) -> None:
    from analysis.sql import run_sql

    listed = json.loads(zoo_readme("ls", "--kind", "gmn", "--seed", "0", "--json").stdout)
    columns = set(run_sql(f"sqlite:///{study_home / 'catalog.db'}",
                          "SELECT * FROM models_wide LIMIT 0").columns)
    assert listed and set(listed[0]) <= columns


def test_parquet_round_trips_with_pandas(zoo_readme: ZooRunner, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    zoo_readme("sql", "SELECT model_id, metric, value FROM model_metrics", "--format",
               "parquet", "--out", str(out))
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["model_id", "metric", "value"] and len(frame) > 0


def test_light_commands_do_not_import_torch(study_home: Path) -> None:
    code = ("import sys\nfrom zoo.cli import cli\n"
            "for args in (['--help'], ['ls', '--kind', 'cnn'], ['inr', 'ls'], ['db', 'current']):\n"
            "    try:\n        cli(args, prog_name='zoo')\n    except SystemExit as e:\n"
            "        assert not e.code, (args, e.code)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"ZOO_HOME": str(study_home), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

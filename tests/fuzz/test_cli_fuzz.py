"""Hostile and careless input to every ``zoo`` command, on SQLite and PostgreSQL (#16).

Whatever the arguments, a command either succeeds or fails with exactly one
``Error:`` line and no traceback, and the catalog stays consistent: ``zoo check``
is clean afterwards. The inputs come from hypothesis (a bounded number of
examples, so the file runs in seconds) over the values that broke the zoo
before: numbers past a 32-bit column, negatives, NaN and infinities, empty and
200+ character names, control characters, SQL fragments, paths that are
directories, missing, unwritable or a full disk, JSON with NaN or deep nesting,
and activation files that are NaN, complex, constant, featureless or misshapen.
The second test replays each bad input the issue listed, by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Catalog
from zoo.cli import cli

N = 12  # probe-set samples


class Zoo:
    """A seeded catalog (a probe set, two models with activations) and a runner."""

    def __init__(self, db_url: str, root: Path) -> None:
        self.root = root
        self.env = {"ZOO_HOME": str(root / "home"), "ZOO_DATABASE_URL": db_url,
                    "ZOO_ARRAYS_URL": str(root / "arrays"), "ZOO_CLUSTER": ""}
        self.runner = CliRunner()
        rng = np.random.default_rng(0)
        with Catalog.create(db_url, str(root / "arrays")) as cat:
            cat.create_probe_set("probe", list(range(N)))
            for seed in (0, 1):
                model = cat.add_model("cnn", seed=seed, checkpoint=f"weights {seed}".encode())
                cat.add_activation(model.id, "fc", "probe", rng.normal(size=(N, 5)))
        self.files = self._files(rng)

    def _files(self, rng: np.random.Generator) -> dict[str, str]:
        d = self.root / "inputs"
        d.mkdir()
        good = rng.normal(size=(N, 3)).astype(np.float32)
        arrays = {"good": good, "nan": np.where(good > 1, np.nan, good),
                  "inf": np.where(good > 1, np.inf, good), "complex": good + 1j,
                  "constant": np.ones((N, 3)), "featureless": np.zeros((N, 0)),
                  "vector": good[:, 0], "short": good[:-1]}
        files = {}
        for name, arr in arrays.items():
            np.save(d / f"{name}.npy", arr)
            files[name] = str(d / f"{name}.npy")
        (d / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
        (d / "nan.json").write_text('{"w": NaN}')
        (d / "deep.json").write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}")
        files.update(garbage=str(d / "garbage.npy"), nan_json=str(d / "nan.json"),
                     deep_json=str(d / "deep.json"), dir=str(d))
        return files

    def __call__(self, args: list[str]) -> Result:
        """Run ``zoo ARGS`` and assert the failure contract; return the result."""
        result = self.runner.invoke(cli, args, env=self.env, catch_exceptions=True)
        shown = f"zoo {' '.join(args)!r} -> {result.exit_code}\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            shown + f"\nraised {result.exception!r}")
        assert "Traceback" not in result.output, shown
        if result.exit_code != 0:
            errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, shown
        return result

    def assert_consistent(self) -> None:
        """``zoo check`` finds nothing missing, mismatched, orphaned or stale."""
        result = self(["check"])
        assert result.exit_code == 0, result.output


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Iterator[Zoo]:
    yield Zoo(db_url, tmp_path)


INT = st.sampled_from(["0", "1", "2", "3", "-1", "-5", str(2**31 - 1), str(2**31), str(2**63),
                       str(10**30), "1.5", "nan", "", " ", "0x10", "٣"])
FLOAT = st.sampled_from(["0", "-1", "1e-3", "0.5", "nan", "inf", "-inf", "1e400", "x", ""])
TEXT = st.one_of(
    st.sampled_from(["", " ", "fc", "probe", "x" * 201, "x" * 200, "a\tb", "a\nb", "\x00",
                     "'; DROP TABLE models; --", "../../etc/passwd", "cnn:0", "cnn:99",
                     "1", "-1", "ü" * 10]),
    st.text(max_size=20))
PATHS = ["/etc/passwd", "/nonexistent/x", "/dev/full", "/proc/1/mem", "", "."]
SQL = st.sampled_from([
    "SELECT count(*) FROM models", "SELECT * FROM read_csv('/etc/passwd')",
    "DELETE FROM models", "SELECT 1; DROP TABLE models", "SELECT * FROM glob('/root/*')",
    "ATTACH '/tmp/x.db' AS x", "SELECT * FROM postgres_query('catalog', 'SELECT 1')",
    "SELECT", "SELECT 1/0", "SELECT repeat('x', 10)", ""])


def commands(files: dict[str, str], tmp: Path) -> st.SearchStrategy[list[str]]:
    """argv lists over every cheap command, with hostile values in every slot."""
    path_in = st.sampled_from([*files.values(), *PATHS])
    path_out = st.sampled_from([*PATHS, str(tmp / "out.png"), str(tmp / "out.csv"),
                                str(tmp / "missing" / "o.png"), files["dir"]])
    model = st.one_of(INT, TEXT)
    opt = st.sampled_from
    return st.one_of(
        st.tuples(st.just("ls"), opt(["--limit", "--seed", "--kind", "--tag", "--dataset"]),
                  st.one_of(INT, TEXT)).map(list),
        st.tuples(opt(["show", "rm"]), model).map(list),
        st.tuples(opt(["tag", "untag"]), model, TEXT).map(list),
        st.tuples(st.just("probe"), st.just("create"), TEXT, opt(["--limit", "--dataset"]),
                  st.one_of(INT, TEXT)).map(list),
        st.tuples(st.just("activations"), st.just("import"), model, path_in, st.just("--layer"),
                  TEXT, st.just("--probe"), opt(["probe", "none", "1"])).map(list),
        st.tuples(st.just("activations"), st.just("ls"), model).map(list),
        st.tuples(st.just("cka"), model, model, opt(["--layers", "--out", "--probe"]),
                  st.one_of(TEXT, path_out)).map(list),
        st.tuples(st.just("cka-matrix"), opt(["--models", "--where"]),
                  st.one_of(TEXT, opt(["1,2", "1,1", "2,999", "id > 0", "1=1) OR (1=1"])),
                  st.just("--layer"), opt(["fc", "", "x" * 300])).map(list),
        st.tuples(st.just("similar"), model, opt(["--top", "--layer", "--kind"]),
                  st.one_of(INT, TEXT)).map(list),
        st.tuples(st.just("sql"), SQL, opt(["--format"]), opt(["csv", "json", "table", "xml"]),
                  st.just("--out"), path_out).map(lambda t: list(t) if t[3] != "table"
                                                  else list(t[:4])),
        st.tuples(st.just("register"), path_in, st.just("--kind"), opt(["cnn", "bogus"]),
                  opt(["--seed", "--arch", "--name", "--metric", "--parent"]),
                  st.one_of(INT, TEXT, FLOAT, path_in,
                            opt(['{"w": NaN}', "{", '{"a": 1}', "acc=nan", "acc=1"]))).map(list),
        st.tuples(opt(["data", "inr", "probe"]), st.just("ls")).map(list),
        st.tuples(st.just("inr"), opt(["show", "render"]), TEXT, st.just("--index"), INT,
                  ).map(lambda t: [*t, "--out", str(tmp / "inr.png")] if t[1] == "render"
                        else list(t[:3])),
        st.tuples(st.just("train"), opt(["cnn", "gmn", "mlp"]),
                  opt(["--lr", "--dropout", "--seed", "--epochs", "--population"]),
                  st.one_of(FLOAT, INT, TEXT), st.just("--dataset"), TEXT).map(list),
        st.tuples(st.just("inr"), st.just("fit"), TEXT,
                  opt(["--width", "--steps", "--lr", "--w0", "--limit", "--seed"]),
                  st.one_of(INT, FLOAT)).map(list),
        st.tuples(st.just("data"), st.just("import"), opt(["mnist", "cifar10"]),
                  st.just("--idx"), path_in).map(list),
        st.tuples(st.just("record"), model, st.just("--probe"), TEXT).map(list),
        st.tuples(st.just("eval"), model, st.just("--batch-size"), INT).map(list),
        st.tuples(st.just("check"), opt(["--json", "--fix"])).map(list),
        st.tuples(opt(["ls", "init", "check"]), st.just("--arrays"),
                  opt(["memory://x", "memory://", "/dev/null/x"])).map(list),
    )


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_command_fails_with_one_line_and_leaves_the_catalog_whole(
        seeded: Zoo, data: st.DataObject) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for _ in range(3):
        args = data.draw(commands(seeded.files, seeded.root))
        seeded(args)
    seeded.assert_consistent()


def _cases(z: Zoo) -> dict[str, list[str]]:
    f, deep = z.files, "x" * 201
    return {
        "ls --limit -1": ["ls", "--limit", "-1"],
        "probe create --limit -5": ["probe", "create", "p2", "--limit", "-5"],
        "negative probe id": ["activations", "import", "-3", f["good"], "--layer", "fc2",
                              "--probe", "probe"],
        "similar --top -1": ["similar", "1", "--layer", "fc", "--top", "-1"],
        "seed 2^31": ["register", f["good"], "--kind", "cnn", "--seed", str(2**31)],
        "limit 2^63": ["ls", "--limit", str(2**63)],
        "id 2^63": ["show", str(2**63)],
        "layer over 200": ["activations", "import", "1", f["good"], "--layer", deep,
                           "--probe", "probe"],
        "empty layer": ["activations", "import", "1", f["good"], "--layer", " ",
                        "--probe", "probe"],
        "probe name over 200": ["probe", "create", deep, "--limit", "3"],
        "NaN activations": ["activations", "import", "1", f["nan"], "--layer", "n",
                            "--probe", "probe"],
        "Inf activations": ["activations", "import", "1", f["inf"], "--layer", "n",
                            "--probe", "probe"],
        "complex activations": ["activations", "import", "1", f["complex"], "--layer", "n",
                                "--probe", "probe"],
        "constant activations": ["activations", "import", "1", f["constant"], "--layer", "n",
                                 "--probe", "probe"],
        "zero-feature activations": ["activations", "import", "1", f["featureless"],
                                     "--layer", "n", "--probe", "probe"],
        "activations of the wrong length": ["activations", "import", "1", f["short"],
                                            "--layer", "n", "--probe", "probe"],
        "a directory as --arch": ["register", f["good"], "--kind", "cnn", "--arch", f["dir"]],
        "a missing --arch": ["register", f["good"], "--kind", "cnn", "--arch", "/nonexistent"],
        "NaN in --arch": ["register", f["good"], "--kind", "cnn", "--arch", '{"w": NaN}'],
        "5,000-deep --arch": ["register", f["good"], "--kind", "cnn", "--arch", f["deep_json"]],
        "a NaN metric": ["register", f["good"], "--kind", "cnn", "--metric", "acc=nan"],
        "--out in a missing directory": ["sql", "SELECT 1", "--format", "csv", "--out",
                                         "/nonexistent/x.csv"],
        "--out a full disk": ["sql", "SELECT 1", "--format", "csv", "--out", "/dev/full"],
        "--out a directory": ["cka", "1", "2", "--layers", "fc", "--out", f["dir"]],
        "--arrays memory://": ["ls", "--arrays", "memory://zoo"],
    }


def test_each_bad_input_the_issue_listed_is_one_error_line(seeded: Zoo) -> None:
    failures: dict[str, str] = {}
    for name, args in _cases(seeded).items():
        result = seeded(args)
        if result.exit_code == 0:
            failures[name] = result.output
    assert failures == {}, failures
    seeded.assert_consistent()
    with Catalog.open(seeded.env["ZOO_DATABASE_URL"], seeded.env["ZOO_ARRAYS_URL"]) as cat:
        assert len(cat.list_models()) == 2 and len(cat.list_activations()) == 2


def test_a_garbage_catalog_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "catalog.db").write_bytes(b"not a database" * 100)
    env = {"ZOO_HOME": str(tmp_path), "ZOO_DATABASE_URL": "", "ZOO_ARRAYS_URL": ""}
    for args in (["ls"], ["init"], ["check"], ["sql", "SELECT 1"]):
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=True)
        assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.output
        assert [ln for ln in result.output.splitlines() if ln.startswith("Error:")], result.output
        assert "Traceback" not in result.output


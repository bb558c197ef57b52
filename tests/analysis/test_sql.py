"""``zoo sql`` over both catalog back-ends: views, aggregates, the read-only guard, output."""

from __future__ import annotations

import io
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import analysis.sql as zsql
import analysis.sql_output as zout
from store import Catalog, MetricRecord, SimilarityRecord, ZooError
from store.errors import InvalidInputError, NotInitializedError
from zoo.cli._common import ZooGroup
from zoo.cli.sql_cmds import register_commands, sql


@dataclass
class Seeded:
    """A catalog with models, metrics, a probe set and similarities, plus what SQL should say."""

    catalog: Catalog
    kinds: dict[int, str]
    seeds: dict[int, int]
    acc: dict[int, float]
    sims: list[tuple[int, int, float]]
    probe_id: int = 0
    tags: dict[int, list[str]] = field(default_factory=dict)


@pytest.fixture
def seeded(fresh_catalog: Catalog) -> Seeded:
    """Six models of three kinds, one dataset, one probe set, all-pairs similarities."""
    rng = np.random.default_rng()
    cat = fresh_catalog
    cat.add_dataset("tiny", source="generated", images=rng.integers(0, 255, (4, 2, 2), np.uint8),
                    labels=[0, 1, 0, 1], splits=["train"] * 4, num_classes=2)
    out = Seeded(cat, {}, {}, {}, [])
    kinds = ["cnn", "cnn", "cnn", "mlp", "mlp", "gmn"]
    for i, kind in enumerate(kinds):
        seed, acc = int(rng.integers(0, 1000)), float(rng.random())
        tags = ["baseline", f"k-{kind}"] if kind != "gmn" else []
        rec = cat.add_model(kind, dataset="tiny", seed=seed, name=f"m{i}", tags=tags,
                            arch={"hidden": i + 3},
                            metrics=[MetricRecord(model_id=0, name="test_acc", value=acc)])
        out.kinds[rec.id], out.seeds[rec.id], out.acc[rec.id] = kind, seed, acc
        out.tags[rec.id] = sorted(tags)
    probe = cat.create_probe_set("probe-4", [0, 1, 2, 3], dataset="tiny")
    out.probe_id = probe.id
    ids = sorted(out.kinds)
    records = []
    for a_pos, a in enumerate(ids):
        for b in ids[a_pos + 1:]:
            value = float(rng.random())
            out.sims.append((a, b, value))
            records.append(SimilarityRecord(a, "fc", b, "fc", probe.id, "linear_cka", "biased",
                                            "{}", "test", value, 4))
    assert cat.put_similarities(records) == len(records)
    return out


@pytest.fixture
def duck(seeded: Seeded) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB connection on the seeded catalog (loading an extension takes ~0.5 s)."""
    conn = zsql.open_duckdb(seeded.catalog.engine.url.render_as_string(hide_password=False))
    yield conn
    conn.close()


def _url(seeded: Seeded) -> str:
    return seeded.catalog.engine.url.render_as_string(hide_password=False)


def _snapshot(seeded: Seeded) -> tuple[object, ...]:
    cat = seeded.catalog
    keys = [(a, "fc", b, "fc", seeded.probe_id, "linear_cka", "biased", "{}", "test")
            for a, b, _ in seeded.sims]
    sims = sorted((k, r.value) for k, r in cat.get_similarities(keys).items())
    return (cat.list_models(), [cat.get_metrics(i) for i in sorted(seeded.kinds)], sims,
            cat.list_probe_sets())


def test_aggregates_match_what_was_registered(seeded: Seeded,
                                              duck: duckdb.DuckDBPyConnection) -> None:
    q = zsql.query_frame
    per_kind = q(duck, "SELECT kind, count(*) AS n FROM models GROUP BY ALL ORDER BY kind")
    expected_n = pd.Series(seeded.kinds).value_counts().sort_index()
    assert per_kind["kind"].tolist() == expected_n.index.tolist()
    assert per_kind["n"].tolist() == expected_n.tolist()

    pairs = q(duck, "SELECT kind_a, kind_b, avg(value) AS mean, count(*) AS n, "
                    "min(probe_set) AS probe, min(dataset_a) AS ds FROM similarity_pairs "
                    "GROUP BY ALL ORDER BY kind_a, kind_b")
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for a, b, v in seeded.sims:
        groups[(seeded.kinds[a], seeded.kinds[b])].append(v)
    got = {(r.kind_a, r.kind_b): (r.mean, r.n) for r in pairs.itertuples()}
    assert got.keys() == groups.keys()
    for key, values in groups.items():
        assert got[key][0] == pytest.approx(np.mean(values))
        assert got[key][1] == len(values)
    assert set(pairs["probe"]) == {"probe-4"} and set(pairs["ds"]) == {"tiny"}

    seeds = q(duck, "SELECT model_a_id, seed_a, model_b_id, seed_b FROM similarity_pairs")
    for r in seeds.itertuples():
        assert (r.seed_a, r.seed_b) == (seeded.seeds[r.model_a_id], seeded.seeds[r.model_b_id])

    acc = q(duck, "SELECT kind, avg(value) AS acc FROM model_metrics "
                  "WHERE metric = 'test_acc' GROUP BY ALL")
    for r in acc.itertuples():
        want = np.mean([v for i, v in seeded.acc.items() if seeded.kinds[i] == r.kind])
        assert r.acc == pytest.approx(want)

    wide = q(duck, "SELECT id, tags, arch->>'hidden' AS hidden, dataset FROM models_wide")
    for r in wide.itertuples():
        assert list(r.tags) == seeded.tags[r.id] and r.dataset == "tiny"
    assert sorted(int(h) for h in wide["hidden"]) == list(range(3, 3 + len(seeded.kinds)))
    n_tagged = q(duck, "SELECT count(DISTINCT model_id) AS n FROM model_tags "
                       "WHERE tag = 'baseline'")["n"].item()
    assert n_tagged == sum("baseline" in t for t in seeded.tags.values())


WRITES = [
    "DELETE FROM models", "UPDATE similarities SET value = 0", "DROP VIEW models",
    "INSERT INTO catalog.tags VALUES (1, 'x')", "CREATE TABLE t AS SELECT 1",
    "ATTACH ':memory:' AS other", "DETACH catalog", "COPY models TO 'x.csv'", "SET threads = 1",
    "INSTALL httpfs", "LOAD sqlite", "EXPLAIN ANALYZE DELETE FROM catalog.models",
    "PRAGMA enable_profiling", "CHECKPOINT", "USE catalog",
]


def test_writes_are_refused_and_change_nothing(seeded: Seeded,
                                               duck: duckdb.DuckDBPyConnection) -> None:
    before = _snapshot(seeded)
    with pytest.raises(InvalidInputError, match=r"^zoo sql is read-only: DELETE"):
        zsql.run_sql(_url(seeded), "delete from catalog.similarities")
    for statement in WRITES:
        with pytest.raises(InvalidInputError) as info:
            zsql.query_frame(duck, statement)
        message = str(info.value)
        assert message.startswith("zoo sql is read-only:") and "\n" not in message, statement
    escape = ("SELECT * FROM sqlite_query('catalog', 'DELETE FROM models RETURNING id')"
              if seeded.catalog.dialect == "sqlite"
              else "SELECT * FROM postgres_execute('catalog', 'DELETE FROM similarities')")
    for statement in ["DELETE FROM catalog.similarities", "UPDATE catalog.models SET seed = 0",
                      "INSERT INTO catalog.tags VALUES (1, 'x')", "DROP TABLE catalog.tags",
                      escape]:
        with pytest.raises(duckdb.Error):
            duck.execute(statement)  # the guard bypassed on purpose: the attach is read-only
    assert _snapshot(seeded) == before
    assert len(zsql.query_frame(duck, "SELECT * FROM similarities")) == len(seeded.sims)


def test_sql_errors_are_one_line(fresh_catalog: Catalog) -> None:
    with zsql.open_duckdb(fresh_catalog.engine.url.render_as_string(hide_password=False)) as duck:
        _check_errors(duck)


def _check_errors(duck: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InvalidInputError) as info:
        zsql.query_frame(duck, "SELECT * FROM modelz")
    message = str(info.value)
    assert "modelz" in message and "\n" not in message
    assert all(view in message for view in zsql.VIEWS)
    for bad, needle in [("SELEC 1", "syntax error"), ("SELECT nope FROM models", "nope"),
                        ("SELECT 1; SELECT 2", "exactly one"), ("  ", "exactly one")]:
        with pytest.raises(InvalidInputError, match=needle) as info:
            zsql.query_frame(duck, bad)
        assert "\n" not in str(info.value)
    shown = zsql.query_frame(duck, "SHOW TABLES")
    assert set(zsql.VIEWS) <= set(shown.iloc[:, 0])
    assert len(zsql.query_frame(duck, "EXPLAIN SELECT * FROM similarity_pairs")) >= 1


def test_output_formats_round_trip(seeded: Seeded, duck: duckdb.DuckDBPyConnection,
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = zsql.query_frame(duck, "SELECT id, kind, seed, arch, tags, created_at, "
                                   "NULL::DOUBLE AS nothing FROM models_wide ORDER BY id")
    assert frame.attrs["json_columns"] == ["arch"]
    back = pd.read_csv(io.StringIO(zout.frame_to_text(frame, "csv")))
    assert back["id"].tolist() == frame["id"].tolist()
    assert back["seed"].tolist() == frame["seed"].tolist()
    assert [json.loads(t) for t in back["tags"]] == [seeded.tags[i] for i in frame["id"]]
    assert back["nothing"].isna().all()

    zout.write_frame(frame, "json")
    rows = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in rows] == [seeded.kinds[i] for i in frame["id"]]
    assert [r["arch"]["hidden"] for r in rows] == list(range(3, 3 + len(rows)))
    assert rows[0]["nothing"] is None and isinstance(rows[0]["created_at"], str)

    zout.write_frame(frame, "json", tmp_path / "rows.json")
    assert json.loads((tmp_path / "rows.json").read_text()) == rows
    path = tmp_path / "rows.parquet"
    zout.write_frame(frame, "parquet", path)
    with duckdb.connect() as conn:
        read = conn.execute("SELECT id, seed, tags FROM read_parquet(?) ORDER BY id",
                            [str(path)]).fetchall()
    assert [r[0] for r in read] == frame["id"].tolist()
    assert [r[2] for r in read] == [seeded.tags[i] for i in frame["id"]]
    with pytest.raises(InvalidInputError, match="--out"):
        zout.write_frame(frame, "parquet")
    empty = zsql.query_frame(duck, "SELECT * FROM models WHERE false")
    assert zout.frame_to_text(empty, "json") == "[]\n"


def test_missing_extension_names_the_package(fresh_catalog: Catalog, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zsql, "_extension_directory", lambda: tmp_path)
    package = "duckdb-ext-sqlite" if fresh_catalog.dialect == "sqlite" else "duckdb-ext-postgres"
    with pytest.raises(zsql.MissingExtensionError, match=f"pip install {package}") as info:
        zsql.open_duckdb(fresh_catalog.engine.url.render_as_string(hide_password=False))
    assert isinstance(info.value, ZooError) and "\n" not in str(info.value)


def test_attach_statement_parses_urls(tmp_path: Path) -> None:
    ext, stmt = zsql.attach_statement(
        "postgresql+psycopg://bob:it's@db.example:6543/zoo?options=-csearch_path%3Dlab_1")
    assert ext == "postgres" and "READ_ONLY" in stmt and "SCHEMA 'lab_1'" in stmt
    assert "host=''db.example''" in stmt and "port=''6543''" in stmt
    assert "dbname=''zoo''" in stmt and "password=''it\\''s''" in stmt
    assert "SCHEMA" not in zsql.attach_statement("postgresql://u@h/db")[1]
    path = tmp_path / "o'brien.db"
    sqlite3.connect(path).close()
    assert zsql.attach_statement(f"sqlite:///{path}") == (
        "sqlite", f"ATTACH '{tmp_path}/o''brien.db' AS catalog (TYPE sqlite, READ_ONLY)")
    with pytest.raises(NotInitializedError, match="zoo init"):
        zsql.attach_statement(f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(NotInitializedError, match="missing tables"):
        zsql.open_duckdb(f"sqlite:///{path}")  # a SQLite file, but no catalog in it
    with pytest.raises(InvalidInputError, match="unsupported"):
        zsql.attach_statement("mysql://u@h/db")


def _cli(seeded: Seeded, tmp_path: Path, *args: str) -> Result:
    group = ZooGroup("zoo")
    register_commands(group)
    env = {"ZOO_DATABASE_URL": _url(seeded), "ZOO_ARRAYS_URL": str(seeded.catalog.arrays.root),
           "ZOO_HOME": str(tmp_path / "home")}
    return CliRunner().invoke(group, ["sql", *args], env=env, catch_exceptions=False)


def _one_error(result: Result, needle: str) -> None:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error:") and needle in lines[0], result.output


def test_cli(seeded: Seeded, tmp_path: Path) -> None:
    query = "SELECT kind, count(*) AS n FROM models GROUP BY ALL ORDER BY kind"
    expected = pd.Series(seeded.kinds).value_counts().sort_index()
    result = _cli(seeded, tmp_path, query, "--format", "csv")
    assert result.exit_code == 0, result.output
    got = pd.read_csv(io.StringIO(result.stdout))
    assert dict(zip(got["kind"], got["n"], strict=True)) == expected.to_dict()

    result = _cli(seeded, tmp_path, query)
    assert result.exit_code == 0, result.output
    for kind, n in expected.items():
        assert any(kind in ln and str(n) in ln for ln in result.stdout.splitlines())

    out = tmp_path / "pairs.parquet"
    result = _cli(seeded, tmp_path, "SELECT * FROM similarity_pairs", "--format", "parquet",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    with duckdb.connect() as conn:
        n = conn.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()
    assert n == (len(seeded.sims),)

    _one_error(_cli(seeded, tmp_path, "DELETE FROM models"), "zoo sql is read-only")
    _one_error(_cli(seeded, tmp_path, query, "--format", "parquet"), "--out")
    _one_error(_cli(seeded, tmp_path, "SELECT * FROM nowhere"), "similarity_pairs")
    assert len(seeded.catalog.list_models()) == len(seeded.kinds)


def test_cli_direct_and_uninitialised(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    url = sqlite_catalog.engine.url.render_as_string(hide_password=False)
    sqlite_catalog.add_model("cnn", seed=7)
    result = CliRunner().invoke(sql, ["SELECT seed FROM models", "--format", "json"],
                                env={"ZOO_DATABASE_URL": url,
                                     "ZOO_ARRAYS_URL": str(sqlite_catalog.arrays.root)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"seed": 7}]

    group = ZooGroup("zoo")
    register_commands(group)
    assert isinstance(group.commands["sql"], click.Command)
    result = CliRunner().invoke(group, ["sql", "SELECT 1"], catch_exceptions=False,
                                env={"ZOO_HOME": str(tmp_path / "nowhere"),
                                     "ZOO_DATABASE_URL": None, "ZOO_ARRAYS_URL": None})
    _one_error(result, "zoo init")

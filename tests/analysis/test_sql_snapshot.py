"""The snapshot cache of ``zoo sql`` (#20): repeated queries skip the copy, a commit of any
kind (insert, update in place, delete) is seen by the next query, and a query copies only
the tables it reads."""

from __future__ import annotations

import subprocess
import sys

import analysis.sql as zsql
from store import Catalog, SimilarityRecord

_UPDATE = ("import sys; from sqlalchemy import create_engine, text\n"
           "with create_engine(sys.argv[1]).begin() as c:\n"
           "    c.execute(text('UPDATE models SET seed = 99'))")


def _n(url: str, sql: str) -> int:
    return int(zsql.run_sql(url, sql).iloc[0, 0])


def test_write_query_write_query_never_stale(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    url = cat.engine.url.render_as_string(hide_password=False)
    first = cat.add_model("cnn", seed=1, name="a")
    assert _n(url, "SELECT count(*) FROM models") == 1
    builds = zsql.SNAPSHOTS.builds
    assert _n(url, "SELECT count(*) FROM models") == 1  # nothing committed: no copy
    if cat.dialect == "sqlite":  # PostgreSQL's marker moves with any write on the server
        assert zsql.SNAPSHOTS.builds == builds
    builds = zsql.SNAPSHOTS.builds
    cat.add_model("mlp", seed=2, name="b")
    assert _n(url, "SELECT count(*) FROM models") == 2
    cat.tag(first.id, "kept")  # another table, in place for models_wide
    assert _n(url, "SELECT count(*) FROM models_wide WHERE list_contains(tags, 'kept')") == 1
    cat.untag(first.id, "kept")
    assert _n(url, "SELECT count(*) FROM model_tags") == 0
    probe = cat.create_probe_set("p", [0, 1, 2])
    cat.put_similarities([SimilarityRecord(first.id, "x", first.id, "x", probe.id,
                                           "linear_cka", "biased", "{}", "t", 1.0, 3)])
    assert _n(url, "SELECT count(*) FROM similarity_pairs WHERE same_model") == 1
    assert zsql.SNAPSHOTS.builds >= builds + 4
    # an update in place, committed by another process
    subprocess.run([sys.executable, "-c", _UPDATE, url], check=True, timeout=60)
    assert _n(url, "SELECT count(*) FROM models WHERE seed = 99") == 2


def test_a_query_copies_only_what_it_reads(fresh_catalog: Catalog) -> None:
    cat = fresh_catalog
    url = cat.engine.url.render_as_string(hide_password=False)
    cat.add_model("cnn", seed=1, name="a")
    assert _n(url, "SELECT count(*) FROM models_wide") == 1
    entry = zsql.SNAPSHOTS._entries[url]
    assert entry.tables == {"models", "tags", "datasets", "populations"}
    # a view over other tables: copied then (with what the snapshot had)
    assert _n(url, "SELECT count(*) FROM similarity_pairs") == 0
    assert {"similarities", "models"} <= zsql.SNAPSHOTS._entries[url].tables
    # names DuckDB does not report (a table function's argument) fall back to every table
    assert _n(url, "SELECT count(*) FROM query_table('metrics')") == 0
    assert "models_wide" in set(zsql.run_sql(url, "SHOW TABLES")["name"])
    builds = zsql.SNAPSHOTS.builds
    assert _n(url, "SELECT count(*) FROM catalog.alembic_version") == 1  # all kept: reused
    if cat.dialect == "sqlite":
        assert zsql.SNAPSHOTS.builds == builds

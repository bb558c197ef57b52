"""The catalog commands as a user runs them: output, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from safetensors.torch import save_file
from sqlalchemy import text

from store._db import make_engine
from zoo.cli import cli


def _one_line_error(result: Result, needle: str) -> None:
    assert result.exit_code != 0
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert needle in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def checkpoints(tmp_path: Path) -> dict[str, Path]:
    model = torch.nn.Linear(3, 2)
    torch.manual_seed(0)
    paths = {"st": tmp_path / "m.safetensors", "pt": tmp_path / "m.pt",
             "evil": tmp_path / "evil.pt", "junk": tmp_path / "junk.pt",
             "junk_st": tmp_path / "junk.safetensors", "arch": tmp_path / "arch.json",
             "bad_arch": tmp_path / "bad.json"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, paths["st"])
    torch.save({"weight": torch.randn(4, 4)}, paths["pt"])
    torch.save({"model": model}, paths["evil"])  # a pickled module: arbitrary objects
    paths["junk"].write_bytes(b"not a checkpoint at all")
    paths["junk_st"].write_bytes(b"\x00" * 16)
    paths["arch"].write_text(json.dumps({"layers": [3, 2]}))
    paths["bad_arch"].write_text('{"layers": [3, 2')
    return paths


def test_register_list_show_tag_rm(zoo, checkpoints: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    out = zoo("register", str(checkpoints["st"]), "--kind", "cnn", "--seed", "3", "--arch",
              str(checkpoints["arch"]), "--tag", "baseline", "--metric", "test_acc=0.9", "--json")
    first = json.loads(out.output)
    assert first["kind"] == "cnn" and first["seed"] == 3 and first["arch"] == {"layers": [3, 2]}
    second = json.loads(zoo("register", str(checkpoints["pt"]), "--kind", "mlp",
                            "--parent", str(first["id"]), "--json").stdout)
    listed = json.loads(zoo("ls", "--json").stdout)
    assert [m["id"] for m in listed] == [first["id"], second["id"]]
    assert [m["id"] for m in json.loads(zoo("ls", "--tag", "baseline", "--json").stdout)] == [
        first["id"]]
    shown = json.loads(zoo("show", str(second["id"]), "--json").stdout)
    assert shown["lineage"] == [first["id"]] and shown["sha256"] == second["sha256"]
    assert json.loads(zoo("show", str(first["id"]), "--json").stdout)["metrics"][0]["value"] == 0.9
    assert "reviewed" in zoo("tag", str(first["id"]), "reviewed").output
    assert "cnn" in zoo("ls").output  # the human table
    zoo("rm", str(second["id"]))
    assert len(json.loads(zoo("ls", "--json").stdout)) == 1
    assert zoo("check").output.strip().endswith("ok")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["register", "{tmp}/missing.pt", "--kind", "cnn"], "no such file"),
        (["register", "{evil}", "--kind", "cnn"], "refusing to unpickle"),
        (["register", "{junk}", "--kind", "cnn"], "not a PyTorch checkpoint"),
        (["register", "{junk_st}", "--kind", "cnn"], "not a valid safetensors"),
        (["register", "{st}", "--kind", "cnn", "--arch", "{bad_arch}"], "malformed JSON"),
        (["register", "{st}", "--kind", "cnn", "--dataset", "nope"], "no dataset"),
        (["show", "99"], "no model with id 99"),
        (["rm", "99"], "no model with id 99"),
        (["tag", "99", "x"], "no model with id 99"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    zoo, checkpoints: dict[str, Path], tmp_path: Path, args: list[str], needle: str  # type: ignore[no-untyped-def]
) -> None:
    fmt = {k: str(v) for k, v in checkpoints.items()} | {"tmp": str(tmp_path)}
    _one_line_error(zoo(*[a.format(**fmt) for a in args], ok=False), needle)
    assert json.loads(zoo("ls", "--json").stdout) == []
    assert zoo("check").exit_code == 0


def test_duplicate_registration(zoo, checkpoints: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    zoo("register", str(checkpoints["st"]), "--kind", "cnn")
    _one_line_error(zoo("register", str(checkpoints["st"]), "--kind", "cnn", ok=False),
                    "already registered as model 1")


def test_catalog_newer_than_code(zoo, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'abc123future'"))
    engine.dispose()
    _one_line_error(zoo("ls", ok=False), "upgrade the zoo software")


def test_unreachable_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ls", "--db", "postgresql://nobody@127.0.0.1:1/none"])
    _one_line_error(result, "cannot open the catalog database")
    result = CliRunner().invoke(cli, ["ls", "--home", str(tmp_path / "nothing")])
    _one_line_error(result, "zoo init")
    result = CliRunner().invoke(cli, ["ls", "--db", "mysql://x"])
    _one_line_error(result, "unsupported database")

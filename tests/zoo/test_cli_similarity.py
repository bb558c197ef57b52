"""The similarity commands end to end: probe sets, imported activations, cka, matrix, similar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from sklearn.datasets import load_digits

N = 60


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    x = load_digits().data[:N]
    rng = np.random.default_rng(0)
    out = {"ids": tmp_path / "ids.txt", "bad_ids": tmp_path / "bad.txt"}
    out["ids"].write_text("\n".join(str(i) for i in range(N)) + "\n")
    out["bad_ids"].write_text("0\n1\nthree\n")
    for m in range(3):
        h1 = np.maximum(x @ rng.normal(size=(64, 16)), 0)
        h2 = h1 @ rng.normal(size=(16, 10))
        np.save(tmp_path / f"m{m}_fc1.npy", h1)
        np.savez(tmp_path / f"m{m}.npz", logits=h2, extra=h2 * 2)
        save_file({"acts": h2.astype(np.float32)}, str(tmp_path / f"m{m}.safetensors"))
        (tmp_path / f"ckpt{m}.safetensors").write_bytes(b"")
        out[f"fc1_{m}"] = tmp_path / f"m{m}_fc1.npy"
        out[f"npz_{m}"] = tmp_path / f"m{m}.npz"
        out[f"st_{m}"] = tmp_path / f"m{m}.safetensors"
    return out


def _register_three(zoo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from safetensors.torch import save_file as save_torch

    for m, kind in enumerate(["mlp", "mlp", "cnn"]):
        path = tmp_path / f"model{m}.safetensors"
        save_torch({"w": torch.full((2,), float(m))}, str(path))
        zoo("register", str(path), "--kind", kind)


def test_similarity_workflow(zoo, files: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _register_three(zoo, tmp_path)
    assert "60 samples" in zoo("probe", "create", "p60", "--ids", str(files["ids"])).output
    for m in range(3):
        zoo("activations", "import", str(m + 1), str(files[f"fc1_{m}"]), "--layer", "fc1",
            "--probe", "p60")
        zoo("activations", "import", str(m + 1), str(files[f"npz_{m}"]), "--layer", "logits",
            "--probe", "p60", "--key", "logits")
    first = json.loads(zoo("cka", "1", "2", "--layers", "all", "--json").stdout)
    assert len(first) == 4 and not any(r["cached"] for r in first)
    assert {(r["layer_a"], r["layer_b"]) for r in first} == {
        ("fc1", "fc1"), ("fc1", "logits"), ("logits", "fc1"), ("logits", "logits")}
    assert all(0 <= r["value"] <= 1 + 1e-9 for r in first)
    again = json.loads(zoo("cka", "1", "2", "--layers", "all", "--json").stdout)
    assert all(r["cached"] for r in again) and [r["value"] for r in again] == [
        r["value"] for r in first]
    heat = tmp_path / "heat.png"
    matrix = json.loads(zoo("cka-matrix", "--models", "1,2,3", "--layer", "penultimate",
                            "--out", str(heat), "--json").stdout)
    assert len(matrix) == 9 and heat.read_bytes()[:4] == b"\x89PNG"
    diag = [r["value"] for r in matrix if r["model_a_id"] == r["model_b_id"]]
    assert diag == pytest.approx([1.0, 1.0, 1.0])
    where = json.loads(zoo("cka-matrix", "--where", "kind = 'mlp'", "--layer", "fc1",
                           "--json").stdout)
    assert {r["model_a_id"] for r in where} == {1, 2}
    top = json.loads(zoo("similar", "1", "--layer", "logits", "--top", "1", "--json").stdout)
    assert len(top) == 1 and top[0]["model_b_id"] in (2, 3)
    assert "fc1" in zoo("cka", "1", "3", "--layers", "fc1").output  # the human table
    curves = tmp_path / "curves.png"
    zoo("cka", "1", "2", "--layers", "all", "--curves", str(curves))
    assert curves.read_bytes()[:4] == b"\x89PNG"


def test_similarity_errors(zoo, files: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _register_three(zoo, tmp_path)
    zoo("probe", "create", "p60", "--ids", str(files["ids"]))
    zoo("probe", "create", "p10", "--ids", str(files["ids"]), "--limit", "10")

    def error(*args: str) -> str:
        result = zoo(*args, ok=False)
        lines = result.output.strip().splitlines()
        assert result.exit_code != 0 and len(lines) == 1, result.output
        return lines[0]

    assert "not an integer" in error("probe", "create", "x", "--ids", str(files["bad_ids"]))
    assert "10 samples" in error("activations", "import", "1", str(files["fc1_0"]),
                                 "--layer", "fc1", "--probe", "p10")
    assert "--key" in error("activations", "import", "1", str(files["npz_0"]), "--layer", "l",
                            "--probe", "p60")
    zoo("activations", "import", "1", str(files["fc1_0"]), "--layer", "fc1", "--probe", "p60")
    zoo("activations", "import", "2", str(files["st_1"]), "--layer", "fc1", "--probe", "p60")
    zoo("activations", "import", "3", str(files["fc1_2"]), "--layer",
        "fc1", "--probe", "p60")
    assert "no model with id 9" in error("cka", "1", "9")
    zoo("activations", "import", "3", str(files["st_2"]), "--layer", "short", "--probe", "p60")
    assert "no recorded layer 'conv'" in error("cka", "1", "2", "--layers", "conv")
    assert "minibatch" in error("cka", "1", "2", "--measure", "rbf", "--estimator", "minibatch")
    assert "no model matches" in error("cka-matrix", "--where", "kind = 'gmn'")


def test_similarity_commands_take_and_show_model_names(zoo, files: dict[str, Path],  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    _register_three(zoo, tmp_path)
    zoo("probe", "create", "p60", "--ids", str(files["ids"]))
    names = {m["id"]: m["name"] for m in json.loads(zoo("ls", "--json").stdout)}
    for m in range(3):  # activations import takes a name as well as an id
        zoo("activations", "import", names[m + 1], str(files[f"fc1_{m}"]), "--layer", "fc1",
            "--probe", "p60")
    by_id = json.loads(zoo("cka", "1", "2", "--layers", "fc1", "--json").stdout)
    by_name = json.loads(zoo("cka", names[1], names[2], "--layers", "fc1", "--json").stdout)
    assert [r["value"] for r in by_name] == [r["value"] for r in by_id]
    assert (by_name[0]["name_a"], by_name[0]["name_b"]) == (names[1], names[2])
    table = zoo("cka-matrix", "--models", ",".join(names[i] for i in (1, 2, 3)),
                "--layer", "fc1").stdout
    assert all(f"{names[i]}:fc1" in table for i in (1, 2, 3))
    similar = json.loads(zoo("similar", names[1], "--layer", "fc1", "--json").stdout)
    assert {r["name_b"] for r in similar} <= {names[2], names[3]} and similar


def test_probe_create_again_with_the_same_samples_is_a_no_op(zoo, files: dict[str, Path]  # type: ignore[no-untyped-def]
                                                             ) -> None:
    zoo("probe", "create", "p60", "--ids", str(files["ids"]))
    again = zoo("probe", "create", "p60", "--ids", str(files["ids"]))
    assert "already stored with these samples" in again.output
    other = files["ids"].with_name("other.txt")
    other.write_text("1\n2\n3\n")
    clash = zoo("probe", "create", "p60", "--ids", str(other), ok=False)
    assert clash.exit_code == 1 and "already exists" in clash.output
    assert len(json.loads(zoo("probe", "ls", "--json").stdout)) == 1

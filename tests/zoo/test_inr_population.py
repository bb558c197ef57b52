"""Fitting populations into the catalog: stored, checksummed, resumable, renderable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from store import Catalog, DuplicateError
from zoo.cli import cli
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.inr.render import reconstruct
from zoo.models.siren import SirenConfig

SIREN = SirenConfig()
FIT = FitConfig(steps=40, batch_size=8, seed=1)


@pytest.fixture
def cat(sqlite_catalog: Catalog) -> Catalog:
    add_bundled_dataset(sqlite_catalog, "mnist-5k")
    return sqlite_catalog


def test_population_is_stored_and_registered(cat: Catalog) -> None:
    pop = fit_population(cat, "mnist-5k", SIREN, FIT, split="test", limit=20)
    assert pop.status == "complete" and pop.n_inrs == 20 and pop.n_params == SIREN.n_params
    assert cat.arrays.checksum(pop.array_key) == pop.sha256
    inrs = cat.list_models(population=pop.id)
    _, _, splits = cat.dataset_arrays("mnist-5k")
    test_ids = np.flatnonzero(splits == "test")[:20]
    assert [m.sample_id for m in inrs] == test_ids.tolist()
    psnr = [next(x.value for x in cat.get_metrics(m.id) if x.name == "psnr") for m in inrs]
    assert np.mean(psnr) > 28.0  # real digits, 40 steps: well above a blurry fit
    out, original = reconstruct(cat, pop.id, 3)
    assert 10 * np.log10(1 / np.mean((out - original) ** 2)) > 25.0
    assert cat.check().ok
    with pytest.raises(DuplicateError, match="already fitted"):
        fit_population(cat, "mnist-5k", SIREN, FIT, split="test", limit=20)


def test_interrupted_fit_resumes(cat: Catalog) -> None:
    calls = []

    def interrupt_after_first_chunk(done: int, total: int, psnr: float) -> None:
        calls.append(done)
        if done == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_population(cat, "mnist-5k", SIREN, FIT, name="resumed", limit=20,
                       progress=interrupt_after_first_chunk)
    partial = cat.get_population("resumed")
    assert (partial.status, partial.rows_done) == ("partial", 8)
    assert cat.list_models(population="resumed") == []  # INRs appear only when complete
    calls.clear()
    done = fit_population(cat, "mnist-5k", SIREN, FIT, name="resumed", limit=20,
                          progress=lambda d, t, p: calls.append(d))
    assert calls == [8, 16, 20], "resumes at the stored chunk; it is not fitted again"
    straight = fit_population(cat, "mnist-5k", SIREN, FIT, name="straight", limit=20)
    assert np.array_equal(cat.arrays.read(done.array_key), cat.arrays.read(straight.array_key))
    assert done.sha256 == straight.sha256
    assert cat.check().ok


def test_cli_fit_show_render(tmp_path: Path) -> None:
    env = {"ZOO_HOME": str(tmp_path / "home")}
    runner = CliRunner()

    def zoo(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    zoo("init")
    zoo("data", "add", "digits")
    out = zoo("inr", "fit", "digits", "--limit", "12", "--steps", "30", "--batch-size", "6",
              "--name", "d12")
    assert "12 INRs" in out and "PSNR mean" in out
    info = json.loads(zoo("inr", "show", "d12", "--json"))
    assert info["n_inrs"] == 12 and info["psnr"]["mean"] > 20
    png = tmp_path / "r.png"
    zoo("inr", "render", "d12", "--index", "5", "--out", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(cli, ["inr", "render", "d12", "--index", "99", "--out", str(png)], env=env)
    assert bad.exit_code == 1 and "outside 0..11" in bad.output
    assert len(json.loads(zoo("ls", "--kind", "inr", "--json"))) == 12
    bad = runner.invoke(cli, ["inr", "fit", "digits", "--workers", "0", "--name", "w0"], env=env)
    assert bad.exit_code == 2 and "'--workers': 0 is not in the range 1<=x" in bad.output
    out = zoo("inr", "fit", "digits", "--limit", "6", "--steps", "5", "--init", "shared")
    name = "digits/siren-w32-d3/all-6/s0-t5-lr0.01-shared"  # non-default steps are named
    assert f"'{name}'" in out
    shared = json.loads(zoo("inr", "show", name, "--json"))
    assert shared["fit_config"]["init"] == "shared"

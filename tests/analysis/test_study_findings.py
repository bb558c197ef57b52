"""Stored agreements/ensembles and the four verdicts on small hand-built models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.predictions import prediction_pairs
from analysis.queries import cka_matrix
from analysis.study import StudyRoles, judge_study, store_pair_stats
from store import Catalog

N, C = 120, 4


def _model(cat: Catalog, kind: str, seed: int, feats: np.ndarray, logits: np.ndarray) -> int:
    m = cat.add_model(kind, checkpoint=f"{kind}{seed}".encode(), dataset="d", seed=seed)
    cat.add_activation(m.id, "h", "p", feats.astype(np.float32))
    cat.add_activation(m.id, "logits", "p", logits.astype(np.float32))
    cat.add_activation(m.id, "predictions", "p", logits.argmax(1).astype(np.int64))
    return m.id


def _catalog(tmp_path: Path, gmn_skill: float) -> tuple[Catalog, list[int]]:
    """mlp and cnn seeds share one representation (plus noise), gmns each their own.

    ``gmn_skill`` scales how much the gmn logits see the label."""
    cat = Catalog.create(f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / "arrays"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, N)
    cat.add_dataset("d", source="t", images=np.zeros((N, 2, 2), np.uint8), labels=labels,
                    splits=["test"] * N, num_classes=C)
    cat.create_probe_set("p", list(range(N)), dataset="d")
    onehot = np.eye(C)[labels]
    shared = rng.normal(size=(N, 16))
    ids = []
    for seed in range(3):
        own = rng.normal(size=(N, 16))
        ids.append(_model(cat, "gmn", seed, own, gmn_skill * onehot + rng.normal(size=(N, C))))
    for kind in ("mlp", "cnn"):
        for seed in range(3):
            feats = shared + 0.3 * rng.normal(size=(N, 16))
            ids.append(_model(cat, kind, seed, feats, 3 * onehot + rng.normal(size=(N, C))))
    cat.save_study("s", {}, "p")
    cat.set_study_models("s", {str(m): m for m in ids})
    return cat, ids


def test_pairs_stored_once_and_match_on_demand(tmp_path: Path) -> None:
    cat, ids = _catalog(tmp_path, 2.0)
    assert store_pair_stats(cat, ids, "p") == (36, 0)
    assert store_pair_stats(cat, ids, "p") == (0, 36)  # a lookup the second time
    stored = {(r.model_a_id, r.model_b_id): r for r in cat.get_prediction_pairs("p")}
    for row in prediction_pairs(cat, ids, "p").itertuples():
        r = stored[row.model_a_id, row.model_b_id]
        assert (r.agreement, r.kappa, r.only_a_correct) == pytest.approx(
            (row.agreement, row.kappa, row.only_a_correct))
        assert r.both_correct + r.only_a_correct + r.only_b_correct + r.neither_correct \
            == pytest.approx(1.0)
    ens = cat.get_ensembles("p")
    assert len(ens) == 36 and all(e.gain_best == pytest.approx(e.accuracy - max(e.acc_a, e.acc_b))
                                  for e in ens)
    cat.close()


def test_verdicts(tmp_path: Path) -> None:
    cat, ids = _catalog(tmp_path, 2.0)
    store_pair_stats(cat, ids, "p")
    roles = StudyRoles(("gmn",), ("mlp", "cnn"), n_boot=60)
    findings = judge_study(cat, "s", roles)
    assert [f.name for f in findings] == ["initialisation", "architecture", "predictions",
                                          "complementarity"]
    f1, f2 = findings[0], findings[1]
    # gmn seeds share nothing, the baselines share a representation: both CKA findings hold
    assert f1.verdict == f2.verdict == "reproduced"
    assert f1.ci_low > 0 and f1.ci_low <= f1.difference <= f1.ci_high
    # the point values are those the similarity cache holds (linear CKA, biased)
    matrix = cka_matrix(cat, ids, "penultimate").to_numpy()
    assert f1.value_a == pytest.approx(np.mean([matrix[0, 1], matrix[0, 2], matrix[1, 2]]),
                                       abs=1e-5)
    assert [f.finding for f in cat.get_findings("s")] == [1, 2, 3, 4]
    cat.close()


def test_predictions_finding_needs_similar_accuracy(tmp_path: Path) -> None:
    """Finding 3 compares predictions *at similar accuracy*: a wider accuracy gap than
    allowed makes it inconclusive, saying so; the other findings do not depend on it."""
    cat, ids = _catalog(tmp_path, 2.0)
    store_pair_stats(cat, ids, "p")
    lenient = judge_study(cat, "s", StudyRoles(("gmn",), ("mlp", "cnn"), n_boot=30,
                                               accuracy_gap=1.0))
    strict = judge_study(cat, "s", StudyRoles(("gmn",), ("mlp", "cnn"), n_boot=30,
                                              accuracy_gap=0.0))
    assert strict[2].verdict == "inconclusive"
    if lenient[2].verdict != "inconclusive":
        assert "not at similar accuracy" in strict[2].reason
    assert [f.verdict for i, f in enumerate(strict) if i != 2] == [
        f.verdict for i, f in enumerate(lenient) if i != 2]
    cat.close()


def test_metanetwork_at_chance_is_inconclusive(tmp_path: Path) -> None:
    cat, ids = _catalog(tmp_path, 0.0)
    store_pair_stats(cat, ids, "p")
    findings = judge_study(cat, "s", StudyRoles(("gmn",), ("mlp", "cnn"), n_boot=20))
    assert {f.verdict for f in findings} == {"inconclusive"}
    assert "gmn too close to chance" in findings[0].reason
    assert "threshold 35.0 %" in findings[0].reason  # chance 25 % + 10 points


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


class _DevTools:
    """Chromium headless driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, binary: str, profile: Path) -> None:
        import os
        import subprocess

        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def fds() -> None:  # the pipe's ends become fds 3 and 4, inheritable, in the child
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self.buffer, self.next_id, self.events = b"", 0, []  # type: ignore[var-annotated]

    def _read(self) -> dict:  # type: ignore[type-arg]
        import json
        import os
        import select

        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.res_r], [], [], 60)
            assert ready, "chromium did not answer within 60 s"
            chunk = os.read(self.res_r, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)  # type: ignore[no-any-return]

    def send(self, method: str, session: str | None = None, **params: object) -> dict:  # type: ignore[type-arg]
        import json
        import os

        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})  # type: ignore[no-any-return]
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read())

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.send("Browser.close")
        self.proc.wait(timeout=30)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it with apt-get "
                    "where it can): the report's browser check cannot run")
    from analysis.study.report import render_report

    cat, ids = _catalog(tmp_path, 2.0)
    store_pair_stats(cat, ids, "p")
    judge_study(cat, "s", StudyRoles(("gmn",), ("mlp", "cnn"), n_boot=20))
    _, page = render_report(cat, "s", tmp_path / "report")
    cat.close()
    browser = _DevTools(binary, tmp_path / "chromium-profile")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target,
                               flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session)
        browser.send("Page.navigate", session, url=page.as_uri())
        browser.wait_for("Page.loadEventFired")
        images = browser.send(
            "Runtime.evaluate", session, returnByValue=True,
            expression="Array.from(document.images).map(i => [i.complete, i.naturalWidth,"
                       " i.naturalHeight, i.alt])")["result"]["value"]
        title = browser.send("Runtime.evaluate", session, returnByValue=True,
                             expression="document.title")["result"]["value"]
    finally:
        browser.close()
    assert title == "zoo reproduce: s"
    assert len(images) == 5
    assert all(done and width > 100 and height > 100 for done, width, height, _ in images), \
        images
    errors = [e for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error")]
    assert errors == []

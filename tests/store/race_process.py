"""A separate process for the race tests (tests/store/test_races.py).

Usage: python race_process.py MODE DB_URL ARRAYS ROUNDS START_AT
  remove: per round (at START_AT + round * PERIOD) remove the model holding that
          round's checkpoint bytes (registered by the test, with activations).
  reregister: per round, register the same bytes again as soon as the row is gone.
  import: register ROUNDS models, each with a multi-chunk activation array.
  replace: replace model 2's layer "fc" on probe set "probe" ROUNDS times, cycling
           through ``replacement(i)``; prints the sha256 of each.
  fix: run ``check(fix=True)`` until the file ARRAYS/.stop exists; prints the
       orphans it removed.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from store import Catalog, DuplicateError, bytes_sha256

PERIOD = 0.5


def round_blob(r: int) -> bytes:
    """The checkpoint bytes of round ``r`` (the test registers them first)."""
    return f"round {r} ".encode() + bytes(range(256)) * 400


def _wait(moment: float) -> None:
    while time.time() < moment:
        time.sleep(0.001)


def remove(cat: Catalog, rounds: int, start_at: float) -> None:
    for r in range(rounds):
        _wait(start_at + r * PERIOD)
        model = cat.find_by_sha256(bytes_sha256(round_blob(r)))
        assert model is not None
        cat.remove_model(model)
        print(r, model, flush=True)


def reregister(cat: Catalog, rounds: int, start_at: float) -> None:
    for r in range(rounds):
        _wait(start_at + r * PERIOD)
        while True:  # as soon as the row is gone, register the same bytes again
            try:
                model = cat.add_model("mlp", checkpoint=round_blob(r), seed=r)
                break
            except DuplicateError:
                continue
        print(r, model.id, flush=True)


def replacement(i: int) -> np.ndarray:
    """The ``i % 3``-th of three distinct activation arrays ``[256, 8]`` (deterministic)."""
    rng = np.random.default_rng(i % 3)
    return rng.normal(size=(256, 8)).astype(np.float32) ** (1 + i % 3)


def replace(cat: Catalog, rounds: int, start_at: float) -> None:
    _wait(start_at)
    for i in range(rounds):
        print(cat.add_activation(2, "fc", "probe", replacement(i), replace=True).sha256,
              flush=True)
        time.sleep(0.05)  # a busy user, not a tight loop: queries must get through


def import_(cat: Catalog, rounds: int, start_at: float) -> None:
    rng = np.random.default_rng(os.getpid())
    while time.time() < start_at:
        time.sleep(0.002)
    for i in range(rounds):
        model = cat.add_model("cnn", seed=i)
        with cat.writing_activation(model.id, "fc", "probe", (64,), chunk_rows=64) as w:
            for start in range(0, 2048, 64):
                w.write(start, rng.normal(size=(64, 64)).astype(np.float32))
        print(model.id, flush=True)


def fix(cat: Catalog, arrays: str) -> None:
    while not os.path.exists(os.path.join(arrays, ".stop")):
        for key in cat.check(fix=True).removed:
            print(key, flush=True)


def main() -> None:
    mode, url, arrays, rounds, start_at = sys.argv[1:6]
    with Catalog.open(url, arrays) as cat:
        if mode == "remove":
            remove(cat, int(rounds), float(start_at))
        elif mode == "reregister":
            reregister(cat, int(rounds), float(start_at))
        elif mode == "replace":
            replace(cat, int(rounds), float(start_at))
        elif mode == "import":
            import_(cat, int(rounds), float(start_at))
        else:
            fix(cat, arrays)


if __name__ == "__main__":
    main()

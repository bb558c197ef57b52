"""The INR-fitting, GMN-training and recording benchmarks run at their ``--quick`` sizes.

They drive the product's own entry points (``fit_inrs``, the training loop's epoch), so a
change there that breaks a benchmark shows up here rather than on the next person's run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
@pytest.mark.parametrize(("script", "expected"), [
    ("bench_inr_fit.py", ["compiled kernels", "speed-up over the loop", "projected"]),
    ("bench_gmn_train.py", ["GMN ours", "MLP-on-weights"]),
    ("bench_record.py", ["stored arrays equal the in-memory recording: True"]),
])
def test_quick_benchmark_runs(script: str, expected: list[str], tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    for text in expected:
        assert text in run.stdout

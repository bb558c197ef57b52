"""The README's "Extending the zoo" examples run verbatim, each as a script of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()


def _blocks() -> list[str]:
    start = README.index("## Extending the zoo\n")
    end = README.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", README[start:end], re.DOTALL)


def test_the_section_has_a_kind_and_a_measure_example() -> None:
    blocks = _blocks()
    assert len(blocks) == 2
    assert "register_kind(KindSpec(" in blocks[0]
    assert "register_measure(MeasureSpec(" in blocks[1]


@pytest.mark.parametrize("index", [0, 1], ids=["new-kind", "new-measure"])
def test_readme_extension_example_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_blocks()[index])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    if index == 0:
        assert "torch.Size([2, 10])" in proc.stdout and "'in_features': 784" in proc.stdout
    else:
        rows = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(rows) == 3  # the 3 x 3 matrix

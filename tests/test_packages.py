"""Every sub-package of the tree says what it holds: an ``__init__.py`` with a docstring and
an ``__all__`` (ruff's RUF022 keeps each ``__all__`` sorted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for top in ("store", "zoo", "analysis") for p in (ROOT / top).rglob("*")
                  if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py")))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_has_init_with_sorted_all(package: Path) -> None:
    init = package / "__init__.py"
    assert init.exists(), f"{package.relative_to(ROOT)} has no __init__.py"
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"{init.relative_to(ROOT)} has no docstring"
    names = [ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign | ast.AnnAssign)
             and any(isinstance(t, ast.Name) and t.id == "__all__"
                     for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))]
    assert names and names[0], f"{init.relative_to(ROOT)} has no __all__"

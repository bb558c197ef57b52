"""Every `--flag` the library names (in an error, a hint, a docstring) exists (#18): each
string in zoo/, store/ and analysis/ is scanned; a flag after `zoo CMD` must be an option
of that command, any other flag an option of some `zoo` command."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click

from zoo.cli import cli

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: Where the text about one command ends: a quote, a line end, a clause, another command.
END = re.compile(r"[`\n;]|,\s|\szoo\s")


def _commands(group: click.Command, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


COMMANDS = dict(_commands(cli))


def _flags(command: click.Command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(x for x in (*param.opts, *param.secondary_opts) if x.startswith("--"))
    return names


EVERY_FLAG = set().union(*map(_flags, COMMANDS.values()))
#: Words that stand for any flag (``One --flag per parameter``), not a flag of their own.
PLACEHOLDERS = {"--flag"}


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string literal of a module (f-strings with ``{}`` for their fields)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(str(v.value) if isinstance(v, ast.Constant) else "{}"
                                       for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _named(text: str) -> Iterator[tuple[tuple[str, ...] | None, str]]:
    """(command path or None, flag) for every flag a text names."""
    for match in FLAG.finditer(text):
        before = text[: match.start()]
        start = before.rfind("zoo ")
        if start < 0 or END.search(before[start + 3:]):
            yield None, match.group()
            continue
        path: tuple[str, ...] = ()
        for word in before[start + 4:].split():
            if (*path, word) not in COMMANDS:
                break
            path = (*path, word)
        yield path, match.group()


def _library_flags() -> Iterator[tuple[str, tuple[str, ...] | None, str]]:
    for package in ("zoo", "store", "analysis"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _strings(path):
                for command, flag in _named(text):
                    yield f"{path.relative_to(ROOT)}:{line}", command, flag


def test_the_scan_sees_the_library_hints() -> None:
    found = {(c, f) for _, c, f in _library_flags()}
    assert (("check",), "--fix") in found  # store's "run `zoo check --fix`"
    assert len(found) > 30


def test_every_flag_a_message_names_exists() -> None:
    wrong = []
    for where, command, flag in _library_flags():
        if command is None or command == ():
            if flag not in EVERY_FLAG | PLACEHOLDERS:
                wrong.append(f"{where}: {flag} is no option of any zoo command")
        elif flag not in _flags(COMMANDS[command]):
            wrong.append(f"{where}: `zoo {' '.join(command)}` has no {flag}")
    assert not wrong, "\n".join(wrong)

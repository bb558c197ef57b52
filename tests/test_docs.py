"""Every CLI command has help with an example and is shown in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from zoo.cli import cli

README = (Path(__file__).parents[1] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "zoo") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
        else:
            found.append((path, command))
    return found


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_documented(path: str, command: click.Command) -> None:
    assert command.help, f"{path} has no --help text"
    assert "Example:" in command.help, f"{path} --help has no example"
    assert re.search(rf"^{re.escape(path)}\b", README, re.MULTILINE), f"{path} is not in README"

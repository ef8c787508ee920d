"""The README names every command the CLI offers, and every command explains itself in --help."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import cli as root

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _walk(command, path):
    """Every leaf command, recursively through groups, as (["plan", "results", "import"], command)."""
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, path + [name])
    else:
        yield path, command


def _groups(command, path):
    if isinstance(command, click.Group):
        yield path, command
        for name, sub in sorted(command.commands.items()):
            yield from _groups(sub, path + [name])


COMMANDS = list(_walk(root, []))
GROUPS = list(_groups(root, []))


def test_the_cli_has_the_commands_this_test_walks():
    # The walk reaches nested groups (plan results import), so an empty or flat walk would be a bug here.
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"init", "cycle run", "plan results import", "lists publish"} <= names
    assert len(names) > 30


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_and_a_readme_line(path, command):
    full = "supervise " + " ".join(path)
    assert (command.help or "").strip(), f"{full} has no help text"
    # Named literally, not only in a group|list|of|names, so a reader searching the README finds it.
    assert re.search(re.escape(full) + r"(?![\w-])", README), f"README.md does not name `{full}`"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{full} {param.opts[-1]} has no help text"


@pytest.mark.parametrize("path,group", GROUPS, ids=[" ".join(p) or "supervise" for p, _ in GROUPS])
def test_every_group_has_help_and_lists_its_commands(path, group):
    assert (group.help or "").strip(), f"supervise {' '.join(path)} has no help text"
    result = CliRunner().invoke(root, path + ["--help"])
    assert result.exit_code == 0, result.output
    for name in group.commands:
        assert re.search(rf"^\s+{re.escape(name)}\s", result.output, re.M), (path, name, result.output)

"""Documentation checks: every command has help text, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ldnscreen.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(get_command(app).commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_text(name):
    command = get_command(app).commands[name]
    assert command.help and len(command.help.strip()) > 15, f"`ldnscreen {name}` has no help text"
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, f"option {param.name} of `ldnscreen {name}` has no help text"
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)?\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_the_two_commands():
    run, test = _readme_commands()
    assert "pip install" in run and "ldnscreen demo" in run
    assert "pip install" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    _, test = _readme_commands()
    assert test.strip() in (ROOT / ".ci" / "run").read_text()

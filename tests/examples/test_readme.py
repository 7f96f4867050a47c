"""The README's examples run as written: every python block executes, every JSON block loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mockvertex import load_scenario

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README.read_text("utf-8")) if lang == language]


@pytest.mark.parametrize("source", _blocks("python"), ids=lambda s: s.splitlines()[0][:40])
def test_python_example_runs(source: str) -> None:
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(source, str(README), "exec"), namespace)
    assert namespace  # the block ran to the end; its own asserts are the test


@pytest.mark.parametrize("source", _blocks("json"), ids=lambda s: s[:40])
def test_json_example_is_a_valid_scenario(source: str) -> None:
    scenario = load_scenario(json.loads(source))
    assert scenario.name
    assert scenario.steps


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = README.read_text("utf-8").split("---", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", first_screen, re.DOTALL)
    assert len(commands) == 2
    assert "mockvertex serve" in commands[0]
    assert "pytest" in commands[1]
    assert ".[test]" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text("utf-8")
    assert commands[1] in ci  # CI runs the README's test command verbatim

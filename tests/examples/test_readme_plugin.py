"""The README's pytest plugin section: its example passes as a test file, and its fixtures table
lists the fixtures with the scopes pytest reports."""

from __future__ import annotations

import re
from pathlib import Path

import google.genai  # noqa: F401  (imported once here; the in-process run reuses it)
import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:cacheprovider\n"


@pytest.fixture(autouse=True)
def _local_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKVERTEX_URL", raising=False)  # a developer's shell may set it


def _section() -> str:
    text = README.read_text("utf-8")
    return text.split("\n## pytest plugin\n", 1)[1].split("\n## ", 1)[0]


def test_the_example_passes_as_a_test_file(pytester: pytest.Pytester) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", _section(), re.DOTALL)
    pytester.makeini(_INI)
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=len(re.findall(r"^def test_", example, re.MULTILINE)))


def test_the_fixtures_table_matches_the_plugin(pytester: pytest.Pytester) -> None:
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \|", _section(), re.MULTILINE)
    pytester.makeini(_INI)
    listing = pytester.runpytest_inprocess("--fixtures").stdout.str().splitlines()
    reported = {
        m.group(1): m.group(2) or "function"
        for line in listing
        if (m := re.match(r"(mockvertex\w*)(?: \[(\w+) scope\])? -- ", line))
    }
    assert dict(rows) == reported

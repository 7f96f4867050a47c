"""ARCHITECTURE.md's import rules, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mockvertex"

PURE = [
    "errors",
    "resources",
    "tokens",
    "framing",
    "protojson",
    "validation",
    "synthesis",
    "instance",
    "scenario",
    "profiles",
]
BELOW_APP = [*PURE, "config", "adc"]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_aiohttp_or_pytest(module: str) -> None:
    bad = {n for n in _imports(module) if n.split(".")[0] in {"aiohttp", "pytest"}}
    assert not bad, f"mockvertex.{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", BELOW_APP)
def test_nothing_below_the_app_imports_app_or_server(module: str) -> None:
    bad = _imports(module) & {"mockvertex.app", "mockvertex.server", "mockvertex.cli"}
    assert not bad, f"mockvertex.{module} imports {sorted(bad)}"


def test_only_config_reads_the_environment() -> None:
    readers = [
        p.stem
        for p in PACKAGE.glob("*.py")
        if "os.environ" in p.read_text("utf-8") or "os.getenv" in p.read_text("utf-8")
    ]
    assert readers == ["config"]

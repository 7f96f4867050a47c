"""ARCHITECTURE.md's import rules, checked on the source, per room of the package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mockvertex"

#: Which rooms (and top-level modules) each room may import from mockvertex.
ALLOWED = {
    "contract": {"contract"},
    "engine": {"engine", "contract", "config"},
    "server": {"server", "engine", "contract", "config"},
    "client": {"client", "contract"},
    # The kit drives any target: the mock (server), the clients, the engine's fault registry.
    "conformance": {"conformance", "contract", "engine", "server", "client", "config", "remote"},
}
#: The kit's strategies ship to users who have only the contract and Hypothesis.
STRATEGY_MODULES = ("strategies", "bodies", "mutations")
#: Third-party packages a room must never import.
FORBIDDEN_THIRD_PARTY = {
    "contract": {"aiohttp", "pytest", "requests"},
    "engine": {"aiohttp", "pytest", "requests"},
    "client": {"aiohttp.web", "pytest"},
}
#: Modules nothing inside the package may import (``__main__`` runs the CLI).
ENTRY_POINTS = {"mockvertex.cli", "mockvertex.pytest_plugin", "conformance"}


def _modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


def _imports(path: Path) -> set[str]:
    """Every module the file imports, ``from mockvertex import x`` counted as mockvertex.x."""
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            names.add(module)
            if module in ("mockvertex", "mockvertex.contract", "mockvertex.engine"):
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "mockvertex" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_each_room_imports_only_what_it_may(room: str) -> None:
    files = _modules(room)
    assert files, f"mockvertex/{room}/ is missing"
    bad = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in files
        for module in _imports(path)
        if (other := _room_of(module)) is not None and other not in ALLOWED[room]
    }
    assert not bad, "\n".join(sorted(bad))


@pytest.mark.parametrize("room", sorted(FORBIDDEN_THIRD_PARTY))
def test_rooms_keep_out_of_forbidden_packages(room: str) -> None:
    banned = FORBIDDEN_THIRD_PARTY[room]
    bad = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in _modules(room)
        for module in _imports(path)
        if any(module == b or module.startswith(b + ".") for b in banned)
    }
    assert not bad, "\n".join(sorted(bad))


def _strategy_may_import(module: str) -> bool:
    room = _room_of(module)
    if room is None or room == "contract":
        return True
    return room == "conformance" and module.rsplit(".", 1)[-1] in (*STRATEGY_MODULES, "conformance")


def test_the_strategies_import_only_the_contract() -> None:
    bad = {
        f"{name}.py imports {module}"
        for name in STRATEGY_MODULES
        for module in _imports(PACKAGE / "conformance" / f"{name}.py")
        if not _strategy_may_import(module)
    }
    assert not bad, "\n".join(sorted(bad))


def test_only_the_public_strategies_and_entry_points_import_the_kit() -> None:
    allowed = {"cli.py", "strategies.py", "pytest_plugin.py"}
    bad = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in PACKAGE.rglob("*.py")
        if "conformance" not in path.relative_to(PACKAGE).parts[:1]
        and str(path.relative_to(PACKAGE)) not in allowed
        for module in _imports(path)
        if _room_of(module) == "conformance"
    }
    assert not bad, "\n".join(sorted(bad))


def test_nothing_in_the_package_imports_an_entry_point() -> None:
    bad = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py"
        for module in _imports(path)
        if any(module == e or module.startswith(e + ".") for e in ENTRY_POINTS)
        and path.stem not in {"cli", "pytest_plugin"}
    }
    assert not bad, "\n".join(sorted(bad))


def test_only_config_reads_the_environment() -> None:
    readers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "os.environ" in p.read_text("utf-8") or "os.getenv" in p.read_text("utf-8")
    )
    assert readers == ["config.py"]


def test_importing_the_package_or_its_contract_pulls_in_no_server() -> None:
    code = (
        "import sys, mockvertex, mockvertex.contract.validation, mockvertex.contract.wire\n"
        "mockvertex.ServerConfig, mockvertex.validate_request, mockvertex.InvalidArgument\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'mockvertex.server'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_lazy_package_exports_every_name_it_lists() -> None:
    import mockvertex

    missing = [name for name in mockvertex.__all__ if not hasattr(mockvertex, name)]
    assert missing == []
    assert sorted(mockvertex.__all__) == sorted(set(mockvertex.__all__))

"""Small builders for the scenario mappings the SDK tests hand to ``MockVertexServer``.

Each returns a plain format-1 scenario mapping, the same shape a scenario JSON file holds.
"""

from __future__ import annotations

from typing import Any


def scenario(name: str, *steps: dict[str, Any], **match: Any) -> dict[str, Any]:
    """A scenario called ``name`` with ``steps`` in order; ``match`` keys select the requests."""
    built: dict[str, Any] = {"format": 1, "name": name, "steps": list(steps)}
    if match:
        built["match"] = match
    return built


def say(name: str, text: str, **match: Any) -> dict[str, Any]:
    """A scenario that answers every matching request with ``text``."""
    return scenario(name, {"times": "forever", "respond": {"text": text}}, **match)


def fail(code: int, message: str, *, name: str = "fail") -> dict[str, Any]:
    """A scenario that answers every request with the error ``code`` and ``message``."""
    return scenario(name, {"times": "forever", "error": {"code": code, "message": message}})

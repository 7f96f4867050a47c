"""The one door to the data shipped inside the package (schemas, model profiles, scenarios)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["builtin_scenario", "builtin_scenario_names", "data", "schema"]


@cache
def data(*parts: str) -> Any:
    """Parsed JSON of ``mockvertex/<parts...>``; cached, so callers must not mutate it."""
    resource = files("mockvertex").joinpath(*parts)
    return json.loads(resource.read_text(encoding="utf-8"))


def schema(name: str) -> Any:
    """A shipped JSON Schema, e.g. ``schema("v1/GenerateContentRequest.schema.json")``."""
    return data("schemas", *name.split("/"))


def builtin_scenario_names() -> list[str]:
    folder = files("mockvertex").joinpath("scenarios")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def builtin_scenario(name: str) -> Any:
    return data("scenarios", f"{name}.json")

"""Deterministic example values for a schema: a Vertex ``Schema`` object or a plain JSON Schema.

The default responder answers JSON mode (``responseSchema`` / ``responseJsonSchema``) and
function calls (``parameters`` / ``parametersJsonSchema``) with a value that is valid against
the schema the caller declared. The same schema and seed always give the same value.

Vertex ``Schema`` is the OpenAPI 3.0 subset of the discovery document: ``type`` (STRING,
NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT, NULL, in any letter case), ``properties``,
``required``, ``propertyOrdering``, ``items``, ``minItems``/``maxItems`` (int64, so maybe
strings), ``enum``, ``format``, ``nullable``, ``anyOf``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``maxProperties``, ``ref``/``defs``. ``pattern`` is not honoured.

A JSON Schema may use ``type`` (a name or a list), ``const``, ``enum``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``prefixItems``, ``minItems``,
``maxItems``, ``uniqueItems``, ``anyOf``, ``oneOf``, ``allOf``, ``$ref`` into ``$defs`` or
``definitions``, ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
``multipleOf`` (integers), ``minLength``, ``maxLength`` and ``format`` (date-time, date, time,
email, uri, uuid). ``pattern`` is not honoured either.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["WORDS", "JsonSchema", "json_schema_instance", "seeded_random", "vertex_instance"]

#: The fixed vocabulary of every generated string and of the default responder's prose.
WORDS: tuple[str, ...] = (
    "the", "a", "river", "stone", "light", "quiet", "garden", "morning", "paper", "window",
    "bright", "simple", "little", "green", "blue", "warm", "cold", "mountain", "village",
    "road", "clock", "friend", "story", "answer", "question", "table", "orange", "silver",
    "early", "late", "open", "close", "gentle", "north", "south", "harbor", "lantern",
    "meadow", "pencil", "signal", "tower", "valley", "winter", "summer", "bridge", "cloud",
    "forest", "island", "letter", "market", "number", "ocean", "planet", "record", "season",
    "travel", "useful", "careful", "steady", "clear", "and", "with", "under", "over", "near",
    "before", "after", "always", "often", "never", "slowly", "quickly", "together", "again",
    "is", "was", "makes", "finds", "keeps", "brings", "holds", "shows", "turns", "waits",
)  # fmt: skip

#: A JSON Schema: an object, or ``true``/``false``.
JsonSchema: TypeAlias = "Mapping[str, Any] | bool"

_MAX_DEPTH = 8
_STRING_FORMATS: Mapping[str, str] = {
    "date-time": "2024-05-14T09:30:00Z",
    "date": "2024-05-14",
    "time": "09:30:00",
    "email": "someone@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def seeded_random(seed: bytes | str) -> random.Random:
    """A PRNG whose ``random()`` sequence is fixed for a seed across Python versions.

    Callers only use ``random()`` (see ``_below``), the one method whose output the
    standard library promises not to change for a given seed.
    """
    raw = seed.encode("utf-8") if isinstance(seed, str) else seed
    return random.Random(int.from_bytes(hashlib.sha256(raw).digest()[:16], "big"))


def _below(rng: random.Random, n: int) -> int:
    return min(int(rng.random() * n), n - 1) if n > 0 else 0


def _choice(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[_below(rng, len(seq))]


def _int(value: Any, default: int) -> int:
    """int64 fields arrive as strings in proto3 JSON; anything unusable gives the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _string_for(rng: random.Random, schema: Mapping[str, Any]) -> str:
    """A string within the schema's ``minLength``/``maxLength``, shaped by its ``format``."""
    max_len = schema.get("maxLength")
    return _string(
        rng,
        _int(schema.get("minLength"), 0),
        None if max_len is None else _int(max_len, 64),
        schema.get("format"),
    )


def _string(rng: random.Random, min_len: int, max_len: int | None, fmt: str | None) -> str:
    if fmt and fmt.lower() in _STRING_FORMATS:
        text = _STRING_FORMATS[fmt.lower()]
        if len(text) >= min_len and (max_len is None or len(text) <= max_len):
            return text
    text = " ".join(_choice(rng, WORDS) for _ in range(1 + _below(rng, 3)))
    while len(text) < min_len:
        text += " " + _choice(rng, WORDS)
    if max_len is not None:
        text = text[:max_len]
        while len(text) < min_len:  # only when max_len < min_len: keep the minimum
            text += "x"
    return text


def _number(
    rng: random.Random,
    low: float | None,
    high: float | None,
    *,
    integer: bool,
    exclusive_low: bool = False,
    exclusive_high: bool = False,
    multiple_of: float | None = None,
) -> int | float:
    if integer:
        lo = None if low is None else math.floor(low) + 1 if exclusive_low else math.ceil(low)
        hi = None if high is None else math.ceil(high) - 1 if exclusive_high else math.floor(high)
        step = int(multiple_of) if multiple_of and float(multiple_of).is_integer() else 1
        if lo is None:
            lo = 0 if hi is None else hi - 100
        if hi is None:
            hi = lo + 100
        first = -(-lo // step) * step
        count = max(0, (hi - first) // step + 1)
        return first + step * _below(rng, count) if count else lo
    lo_f = -100.0 if low is None else float(low)
    hi_f = lo_f + 200.0 if high is None else float(high)
    if low is None and high is not None:
        lo_f = hi_f - 200.0
    if hi_f < lo_f:
        return lo_f
    value = round(lo_f + (hi_f - lo_f) * (0.1 + 0.8 * rng.random()), 2)
    if not lo_f <= value <= hi_f or (exclusive_low and value == lo_f):
        value = (lo_f + hi_f) / 2
    if exclusive_high and value == hi_f:
        value = (lo_f + hi_f) / 2
    return value


# --------------------------------------------------------------------------------------------
# Vertex Schema


def vertex_instance(schema: Mapping[str, Any], seed: bytes | str) -> Any:
    """A value valid against a Vertex ``Schema`` object (OpenAPI subset)."""
    return _Vertex(schema, seeded_random(seed)).value(schema, 0)


class _Vertex:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.defs: Mapping[str, Any] = root.get("defs") or {}
        self.rng = rng

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("ref"), str) and seen < _MAX_DEPTH:
            name = schema["ref"].rsplit("/", 1)[-1]
            target = self.defs.get(name)
            if not isinstance(target, Mapping):
                return {}
            schema, seen = target, seen + 1
        return schema

    def value(self, schema: Mapping[str, Any], depth: int) -> Any:
        schema = self.resolve(schema)
        rng = self.rng
        any_of = schema.get("anyOf")
        if isinstance(any_of, list) and any_of:
            return self.value(_choice(rng, any_of), depth + 1)
        kind = str(schema.get("type", "")).upper()
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and kind in ("", "STRING", "TYPE_UNSPECIFIED"):
            return _choice(rng, enum)
        if kind in ("", "TYPE_UNSPECIFIED"):
            if "properties" in schema:
                kind = "OBJECT"
            elif "items" in schema:
                kind = "ARRAY"
            else:
                kind = "STRING"
        if kind == "NULL":
            return None
        if kind == "BOOLEAN":
            return _below(rng, 2) == 1
        if kind in ("INTEGER", "NUMBER"):
            if isinstance(enum, list) and enum:
                return _choice(rng, enum)
            return _number(
                rng, schema.get("minimum"), schema.get("maximum"), integer=kind == "INTEGER"
            )
        if kind == "ARRAY":
            return self.array(schema, depth)
        if kind == "OBJECT":
            return self.object(schema, depth)
        return _string_for(rng, schema)

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        low = _int(schema.get("minItems"), 0)
        high = _int(schema.get("maxItems"), low + 3)
        want = low if depth >= _MAX_DEPTH else max(low, min(high, 1 + _below(self.rng, 3)))
        items = schema.get("items")
        item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
        return [self.value(item_schema, depth + 1) for _ in range(want)]

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = [str(r) for r in schema.get("required") or ()]
        order = [str(n) for n in schema.get("propertyOrdering") or () if n in props]
        order += [n for n in props if n not in order]
        limit = _int(schema.get("maxProperties"), len(order))
        chosen = [n for n in order if n in required]
        if depth < _MAX_DEPTH:
            chosen += [n for n in order if n not in required][: max(0, limit - len(chosen))]
        names = [n for n in order if n in chosen] + [r for r in required if r not in props]
        return {n: self.value(props.get(n) or {}, depth + 1) for n in names}


# --------------------------------------------------------------------------------------------
# JSON Schema


def json_schema_instance(schema: JsonSchema, seed: bytes | str) -> Any:
    """A value valid against a JSON Schema (the subset listed in the module docstring)."""
    root: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
    return _Json(root, seeded_random(seed)).value(schema, 0)


class _Json:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
            ref: str = schema["$ref"]
            target: Any = self.root
            if ref.startswith("#"):
                for token in (t for t in ref[1:].split("/") if t):
                    key = token.replace("~1", "/").replace("~0", "~")
                    target = target.get(key) if isinstance(target, Mapping) else None
            merged = dict(target) if isinstance(target, Mapping) else {}
            merged.update({k: v for k, v in schema.items() if k != "$ref"})
            schema, seen = merged, seen + 1
        return schema

    def value(self, schema: JsonSchema, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return None if schema is False else _choice(self.rng, WORDS)
        schema = self.resolve(schema)
        rng = self.rng
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return _choice(rng, enum)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            allowed: set[str] | None = None  # names every closed part permits
            for part in (merged, *(self.resolve(p) for p in all_of if isinstance(p, Mapping))):
                if part is not merged:
                    _merge_into(merged, part)
                if part.get("additionalProperties") is False:
                    names = set(part.get("properties") or ())
                    allowed = names if allowed is None else allowed & names
            if allowed is not None:
                props = merged.get("properties") or {}
                merged["properties"] = {k: v for k, v in props.items() if k in allowed}
                merged["additionalProperties"] = False
            return self.value(merged, depth + 1)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                pick = options[0] if key == "oneOf" else _choice(rng, options)
                combined = dict(rest)
                if isinstance(pick, Mapping):
                    _merge_into(combined, self.resolve(pick))
                return self.value(combined, depth + 1)
        kind = self.kind(schema)
        if kind == "null":
            return None
        if kind == "boolean":
            return _below(rng, 2) == 1
        if kind in ("integer", "number"):
            return _number(
                rng,
                _first_number(schema.get("minimum"), schema.get("exclusiveMinimum")),
                _first_number(schema.get("maximum"), schema.get("exclusiveMaximum")),
                integer=kind == "integer",
                exclusive_low="minimum" not in schema and "exclusiveMinimum" in schema,
                exclusive_high="maximum" not in schema and "exclusiveMaximum" in schema,
                multiple_of=schema.get("multipleOf"),
            )
        if kind == "array":
            return self.array(schema, depth)
        if kind == "object":
            return self.object(schema, depth)
        return _string_for(rng, schema)

    @staticmethod
    def kind(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            names = [str(t) for t in declared]
            non_null = [t for t in names if t != "null"]
            return non_null[0] if non_null else "null"
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
            return "number"
        return "string"

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        low = max(_int(schema.get("minItems"), 0), 0)
        high = _int(schema.get("maxItems"), max(low, len(prefix)) + 3)
        want = low if depth >= _MAX_DEPTH else max(low, min(high, 1 + _below(self.rng, 3)))
        items = schema.get("items", {})
        unique = bool(schema.get("uniqueItems"))
        out: list[Any] = []
        attempts = 0
        while len(out) < want and attempts < 10 * want:
            attempts += 1
            i = len(out)
            sub = prefix[i] if i < len(prefix) else items
            if sub is False:
                break
            value = self.value(sub, depth + 1)
            if not unique or value not in out:
                out.append(value)
        return out

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = [str(r) for r in schema.get("required") or ()]
        limit = _int(schema.get("maxProperties"), len(props) + len(required))
        chosen = [n for n in props if n in required]
        if depth < _MAX_DEPTH:
            optional = [n for n in props if n not in required]
            chosen += optional[: max(0, limit - len(chosen))]
        out = {n: self.value(props[n], depth + 1) for n in props if n in chosen}
        extra = schema.get("additionalProperties", True)
        for name in required:
            if name not in out:
                out[name] = self.value(extra if isinstance(extra, Mapping) else {}, depth + 1)
        return out


def _first_number(*values: Any) -> float | None:
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _merge_into(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Shallow merge for allOf/anyOf: properties and required are unioned, the rest overrides."""
    for key, value in extra.items():
        if key == "properties" and isinstance(target.get(key), Mapping):
            target[key] = {**target[key], **value}
        elif key == "required" and isinstance(target.get(key), list):
            target[key] = [*target[key], *(v for v in value if v not in target[key])]
        else:
            target[key] = value

"""Example values: valid against the schema they were made for, and the same for the same seed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from mockvertex.engine.instance import (
    WORDS,
    JsonSchema,
    json_schema_instance,
    seeded_random,
    vertex_instance,
)

_JSON_TYPE = {
    "STRING": "string",
    "NUMBER": "number",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "ARRAY": "array",
    "OBJECT": "object",
    "NULL": "null",
}


def vertex_to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An independent reading of the Vertex Schema subset as JSON Schema (objects closed)."""
    out: dict[str, Any] = {}
    if "ref" in schema:
        out["$ref"] = "#/$defs/" + schema["ref"].rsplit("/", 1)[-1]
    if "defs" in schema:
        out["$defs"] = {k: vertex_to_json_schema(v) for k, v in schema["defs"].items()}
    if "anyOf" in schema:
        out["anyOf"] = [vertex_to_json_schema(s) for s in schema["anyOf"]]
    if "type" in schema:
        kind = _JSON_TYPE[schema["type"].upper()]
        out["type"] = [kind, "null"] if schema.get("nullable") else kind
    if "enum" in schema:
        out["enum"] = list(schema["enum"]) + ([None] if schema.get("nullable") else [])
    if "properties" in schema:
        out["properties"] = {k: vertex_to_json_schema(v) for k, v in schema["properties"].items()}
        out["additionalProperties"] = False
    if "items" in schema:
        out["items"] = vertex_to_json_schema(schema["items"])
    for key in ("minItems", "maxItems", "minLength", "maxLength", "maxProperties"):
        if key in schema:
            out[key] = int(schema[key])
    for key in ("required", "minimum", "maximum", "format"):
        if key in schema:
            out[key] = schema[key]
    return out


def _check(instance: Any, schema: JsonSchema) -> None:
    jsonschema.validate(
        instance,
        schema,
        cls=jsonschema.Draft202012Validator,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


# --------------------------------------------------------------------------------------------
# Strategies

_names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,11}", fullmatch=True)


def _case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.capitalize()])


@st.composite
def _vertex_leaf(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["STRING", "NUMBER", "INTEGER", "BOOLEAN", "NULL"]))
    schema: dict[str, Any] = {}
    if kind == "STRING":
        if draw(st.booleans()):
            schema["enum"] = draw(
                st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True)
            )
        else:
            low = draw(st.integers(0, 12))
            if draw(st.booleans()):
                schema["minLength"] = str(low) if draw(st.booleans()) else low
            if draw(st.booleans()):
                schema["maxLength"] = low + draw(st.integers(0, 12))
            if not schema and draw(st.booleans()):
                schema["format"] = draw(st.sampled_from(["date-time", "date", "email", "uri"]))
    elif kind in ("NUMBER", "INTEGER"):
        low = draw(st.integers(-1000, 1000))
        if draw(st.booleans()):
            schema["minimum"] = low if kind == "INTEGER" else low + 0.25
        if draw(st.booleans()):
            schema["maximum"] = low + draw(st.integers(1, 500))
    if kind != "NULL" and draw(st.booleans()):
        schema["nullable"] = True
    return {"type": draw(_case(kind)), **schema}


def _vertex_node(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def array(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 3))
        schema: dict[str, Any] = {"type": draw(_case("ARRAY")), "items": draw(children)}
        if draw(st.booleans()):
            schema["minItems"] = str(low)
        if draw(st.booleans()):
            schema["maxItems"] = str(low + draw(st.integers(0, 3)))
        return schema

    @st.composite
    def obj(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(st.dictionaries(_names, children, max_size=4))
        schema: dict[str, Any] = {"type": draw(_case("OBJECT")), "properties": props}
        names = list(props)
        keep: list[bool] = [draw(st.booleans()) for _ in names]
        schema["required"] = [n for n, k in zip(names, keep, strict=True) if k]
        if len(names) > 0 and draw(st.booleans()):
            schema["propertyOrdering"] = draw(st.permutations(names))
        if draw(st.booleans()):
            schema["maxProperties"] = len(schema["required"]) + draw(st.integers(0, 2))
        return schema

    any_of = st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})
    return st.one_of(array(), obj(), any_of)


vertex_schemas = st.recursive(_vertex_leaf(), _vertex_node, max_leaves=12)
seeds = st.binary(max_size=16)


@st.composite
def _json_leaf(draw: st.DrawFn) -> dict[str, Any] | bool:
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return {"const": draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))}
    if choice == 1:
        return {"enum": draw(st.lists(st.integers() | st.text(max_size=5), min_size=1, max_size=4))}
    if choice == 2:
        low = draw(st.integers(-50, 50))
        schema: dict[str, Any] = {"type": "integer", "exclusiveMinimum": low}
        schema["exclusiveMaximum"] = low + draw(st.integers(2, 60))
        if draw(st.booleans()):
            schema["multipleOf"] = 1
        return schema
    if choice == 3:
        low = draw(st.integers(-50, 50))
        return {"type": "integer", "minimum": low, "maximum": low + 40, "multipleOf": 3}
    if choice == 4:
        return {"type": ["number", "null"], "minimum": -1.5, "exclusiveMaximum": 2.5}
    if choice == 5:
        fmt = draw(st.sampled_from(["date-time", "date", "time", "email", "uri", "uuid"]))
        return {"type": "string", "format": fmt}
    if choice == 6:
        return {"type": "string", "minLength": draw(st.integers(0, 30)), "maxLength": 40}
    trivial: list[dict[str, Any] | bool] = [True, {}, {"type": "boolean"}, {"type": "null"}]
    chosen: dict[str, Any] | bool = draw(st.sampled_from(trivial))
    return chosen


def _json_node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def obj(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(st.dictionaries(_names, children, max_size=4))
        extra = draw(st.sampled_from([False, True, {"type": "integer"}]))
        required = [n for n in props if draw(st.booleans())]
        if extra is not False and draw(st.booleans()):
            required.append("extraField")
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": extra,
        }

    @st.composite
    def array(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": draw(children)}
        if draw(st.booleans()):
            schema["prefixItems"] = draw(st.lists(children, min_size=1, max_size=2))
        schema["minItems"] = draw(st.integers(0, len(schema.get("prefixItems", [])) + 1))
        return schema

    unique = st.just(
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 10**6},
            "minItems": 3,
            "uniqueItems": True,
        }
    )
    one_of = st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})

    @st.composite
    def all_of(draw: st.DrawFn) -> dict[str, Any]:
        # Satisfiable by construction: open parts with disjoint property names.
        parts = []
        for i in range(draw(st.integers(1, 3))):
            props = draw(st.dictionaries(_names, children, max_size=3))
            parts.append(
                {
                    "type": "object",
                    "properties": {f"p{i}_{k}": v for k, v in props.items()},
                    "required": [f"p{i}_{k}" for k in props if draw(st.booleans())],
                }
            )
        return {"allOf": parts}

    return st.one_of(obj(), array(), one_of, all_of(), unique)


json_schemas = st.recursive(_json_leaf(), _json_node, max_leaves=10)


# --------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=200)
@given(vertex_schemas, seeds)
def test_vertex_instance_is_valid_and_deterministic(schema: dict[str, Any], seed: bytes) -> None:
    value = vertex_instance(schema, seed)
    _check(value, vertex_to_json_schema(schema))
    assert vertex_instance(schema, seed) == value


@settings(max_examples=200)
@given(json_schemas, seeds)
def test_json_schema_instance_is_valid_and_deterministic(schema: Any, seed: bytes) -> None:
    value = json_schema_instance(schema, seed)
    _check(value, schema)
    assert json_schema_instance(schema, seed) == value


def test_seed_changes_the_value() -> None:
    schema = {"type": "STRING"}
    values = {vertex_instance(schema, str(i)) for i in range(20)}
    assert len(values) > 5
    assert all(set(v.split()) <= set(WORDS) for v in values)


def test_seeded_random_is_stable_for_a_seed() -> None:
    first = [seeded_random("abc").random() for _ in range(3)]
    assert first == [seeded_random("abc").random() for _ in range(3)]
    assert seeded_random(b"abc").random() == first[0]
    assert seeded_random("abd").random() != first[0]


def test_vertex_object_follows_property_ordering_and_keeps_required() -> None:
    schema = {
        "type": "object",
        "properties": {"b": {"type": "STRING"}, "a": {"type": "integer"}, "c": {"type": "BOOLEAN"}},
        "propertyOrdering": ["c", "a", "b"],
        "required": ["b"],
    }
    value = vertex_instance(schema, "s")
    assert list(value) == ["c", "a", "b"]
    assert isinstance(value["a"], int)
    assert isinstance(value["c"], bool)


def test_vertex_max_properties_keeps_required_first() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"x": {"type": "STRING"}, "y": {"type": "STRING"}, "z": {"type": "STRING"}},
        "required": ["z"],
        "maxProperties": "1",
    }
    assert list(vertex_instance(schema, "s")) == ["z"]


def test_vertex_ref_into_defs_and_recursion_terminates() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"root": {"ref": "#/defs/Node"}},
        "required": ["root"],
        "defs": {
            "Node": {
                "type": "OBJECT",
                "properties": {
                    "name": {"type": "STRING"},
                    "children": {"type": "ARRAY", "items": {"ref": "#/defs/Node"}},
                },
                "required": ["name", "children"],
            }
        },
    }
    value = vertex_instance(schema, "tree")
    _check(value, vertex_to_json_schema(schema))
    depth, node = 0, value["root"]
    while node["children"]:
        node, depth = node["children"][0], depth + 1
    assert depth >= 1


def test_vertex_enum_and_untyped_shapes() -> None:
    assert vertex_instance({"type": "STRING", "format": "enum", "enum": ["N", "S"]}, "x") in (
        "N",
        "S",
    )
    assert isinstance(vertex_instance({"properties": {"a": {"type": "STRING"}}}, "x"), dict)
    assert isinstance(vertex_instance({"items": {"type": "INTEGER"}}, "x"), list)
    assert isinstance(vertex_instance({}, "x"), str)


def test_json_ref_into_defs() -> None:
    schema = {
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
        },
        "type": "array",
        "items": {"$ref": "#/$defs/Point"},
        "minItems": 2,
    }
    value = json_schema_instance(schema, "p")
    _check(value, schema)
    assert all("x" in p for p in value)


def test_json_false_schema_and_property_names_with_slashes() -> None:
    schema = {
        "definitions": {"a/b": {"type": "integer", "minimum": 5, "maximum": 5}},
        "type": "object",
        "properties": {"v": {"$ref": "#/definitions/a~1b"}},
        "required": ["v"],
    }
    assert json_schema_instance(schema, "q") == {"v": 5}
    assert json_schema_instance(schema=False, seed="q") is None


def test_json_all_of_with_a_closed_part_only_uses_names_it_permits() -> None:
    schema = {
        "allOf": [
            {
                "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                "additionalProperties": False,
            },
            {"properties": {"b": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["b"]},
        ]
    }
    value = json_schema_instance(schema, "closed")
    _check(value, schema)
    assert set(value) == {"a", "b"}

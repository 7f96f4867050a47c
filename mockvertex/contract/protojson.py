"""Proto3 JSON parsing as Google's front end does it, driven by the shipped JSON Schemas.

What the front end accepts, and so what this module accepts:
- field names in lowerCamelCase (``generationConfig``) or as the proto field name
  (``generation_config``);
- a single value where a repeated field is expected (``"contents": {...}``,
  ``"parts": {...}``, ``"responseModalities": "TEXT"``);
- enum values by name, in any letter case, or by number (the gapic REST transport sends
  ``"threshold": 3``);
- numbers as JSON numbers or numeric strings, 64-bit integers as strings;
- durations as ``"1.5s"`` strings (or the ``{"seconds", "nanos"}`` object form);
- bytes as standard or URL-safe base64, padded or not;
- ``null`` for any field, meaning "not set".

What it rejects, in the front end's own words and with snake_case paths and indices:
``Invalid JSON payload received. Unknown name "foo" at 'generation_config': Cannot find field.``,
``Invalid value at 'safety_settings[0].threshold' (type.googleapis.com/...), "X"``,
``... Proto field is not repeating, cannot start list.``, ``Invalid JSON payload received.
Unexpected token.`` with a snippet and a caret. Every violation is collected, not just the first.

The result is the *normalized* request: camelCase keys only, repeated fields as lists, enum
values as canonical names, numbers as numbers, durations as strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from typing import Any

import orjson

from mockvertex.contract import resources
from mockvertex.contract.errors import FieldViolation, InvalidArgument

__all__ = [
    "MessageType",
    "compile_schema",
    "decode_json",
    "encode_int_enums",
    "message_type",
    "parse_message",
]

_PAYLOAD = "Invalid JSON payload received."
_MAX_SNIPPET = 64

_Kind = str  # "message" | "enum" | "map" | "struct" | "value" | "scalar"


@dataclass(slots=True)
class _Enum:
    full_name: str
    by_upper: dict[str, str]
    by_number: dict[int, str]
    number_of: dict[str, int]


@dataclass(slots=True, eq=False)
class _Field:
    json_name: str
    proto_name: str
    kind: _Kind
    repeated: bool = False
    scalar: str = ""  # TYPE_* or a google.protobuf well-known type name
    message: MessageType | None = None
    enum: _Enum | None = None
    map_value: _Field | None = None


@dataclass(slots=True, eq=False)
class MessageType:
    """A compiled message: its fields by JSON name, and a lookup by JSON or proto name."""

    full_name: str
    fields: dict[str, _Field] = field(default_factory=dict)
    lookup: dict[str, _Field] = field(default_factory=dict)

    @property
    def type_url(self) -> str:
        return f"type.googleapis.com/{self.full_name}"


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake(name: str) -> str:
    return _CAMEL_BOUNDARY.sub(r"_\1", name).lower()


class _Compiler:
    """Turns one schema file's ``$defs`` into linked MessageType objects (once, then cached)."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.messages: dict[str, MessageType] = {}
        self.enums: dict[str, _Enum] = {}

    def message(self, name: str) -> MessageType:
        done = self.messages.get(name)
        if done is not None:
            return done
        spec = self.defs[name]
        msg = MessageType(full_name=str(spec.get("x-proto-message", name)))
        self.messages[name] = msg  # before the fields: recursion through Schema
        for json_name, fspec in spec.get("properties", {}).items():
            f = self._field(json_name, fspec)
            msg.fields[json_name] = f
            msg.lookup[json_name] = f
            msg.lookup.setdefault(f.proto_name, f)
        return msg

    def enum(self, name: str) -> _Enum:
        done = self.enums.get(name)
        if done is None:
            spec = self.defs[name]
            numbers = {str(k): int(v) for k, v in spec.get("x-enum-numbers", {}).items()}
            done = _Enum(
                full_name=str(spec.get("x-proto-enum", name)),
                by_upper={str(v).upper(): str(v) for v in spec["enum"]},
                by_number={v: k for k, v in numbers.items()},
                number_of=numbers,
            )
            self.enums[name] = done
        return done

    def _field(self, json_name: str, spec: Mapping[str, Any]) -> _Field:
        f = _Field(json_name=json_name, proto_name=_snake(json_name), kind="scalar")
        if spec.get("type") == "array":
            f.repeated = True
            spec = spec["items"]
        self._fill(f, spec)
        return f

    def _fill(self, f: _Field, spec: Mapping[str, Any]) -> None:
        ref = spec.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            target = self.defs[name]
            if "enum" in target:
                f.kind, f.enum = "enum", self.enum(name)
            else:
                f.kind, f.message = "message", self.message(name)
            return
        proto_type = spec.get("x-proto-type", "")
        if spec.get("x-proto-map"):
            f.kind = "map"
            value = _Field(json_name="value", proto_name="value", kind="scalar")
            self._fill(value, spec.get("additionalProperties", {}))
            f.map_value = value
        elif proto_type == "google.protobuf.Struct":
            f.kind = "struct"
        elif proto_type == "google.protobuf.Value" or not spec:
            f.kind = "value"
        else:
            f.kind = "scalar"
            f.scalar = proto_type or _DEFAULT_SCALAR.get(str(spec.get("type")), "TYPE_STRING")


_DEFAULT_SCALAR = {
    "string": "TYPE_STRING",
    "number": "TYPE_DOUBLE",
    "boolean": "TYPE_BOOL",
    "integer": "TYPE_INT32",
}


def compile_schema(doc: Mapping[str, Any]) -> MessageType:
    """Compile a schema document (root ``$ref`` into ``$defs``) into its root MessageType."""
    root = str(doc["$ref"]).rsplit("/", 1)[-1]
    return _Compiler(doc["$defs"]).message(root)


@cache
def message_type(schema_name: str) -> MessageType:
    """The compiled root message of a shipped schema, e.g. ``v1/GenerateContentRequest``."""
    return compile_schema(resources.schema(f"{schema_name}.schema.json"))


# --------------------------------------------------------------------------------------------
# JSON text -> Python value, with the front end's syntax errors


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _without_trailing_commas(text: str) -> str:
    """Blank out commas between a value and ``}`` or ``]`` outside strings (the front end
    allows them). Each becomes a space, so positions in the result are positions in ``text``."""
    out: list[str] = []
    in_string = escaped = False
    pending_comma = -1
    last = ""  # the last significant character outside strings
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                last = '"'
            continue
        if ch.isspace():
            out.append(ch)
            continue
        if ch in "}]" and pending_comma >= 0:
            out[pending_comma] = " "
        pending_comma = len(out) if ch == "," and last not in ("", "[", "{", ",") else -1
        last = ch
        if ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def _syntax_error(text: str, pos: int, reason: str = "Unexpected token.") -> InvalidArgument:
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    start = max(line_start, pos - _MAX_SNIPPET)
    snippet = text[start : min(line_end, pos + 16)]
    caret = " " * (pos - start) + "^"
    return InvalidArgument(f"{_PAYLOAD} {reason}\n{snippet}\n{caret}")


# Nesting. protobuf's JSON stream parser, the open-source form of the front end's (the source
# of its "Unexpected token." and "Unexpected end of string." texts), refuses the 101st nested
# object: ``kDefaultMaxRecursionDepth = 100`` and ``Message too deep. Max recursion depth
# reached for key '<key>'``, the key the object is the value of ('' inside a list)
# (src/google/protobuf/util/internal/json_stream_parser.cc, IncrementRecursionDepth). A
# gateway measuring Gemini's endpoint live quotes that message for deep JSON (not the limit).
# That parser does not count lists; the mock counts objects and lists together against a
# second bound of its own (unconfirmed), so nothing after parsing recurses past Python's limit.
_MAX_OBJECT_DEPTH = 100
_MAX_NESTING = 200
_CONTAINERS = (dict, list)
_NESTING_TOKEN = re.compile(r'(?P<string>"(?:[^"\\]|\\.)*")\s*(?P<colon>:)?|[\[\]{}]', re.DOTALL)


def _too_deep(key: str) -> InvalidArgument:
    return InvalidArgument(
        f"{_PAYLOAD} Message too deep. Max recursion depth reached for key '{key}'"
    )


def _may_nest_deeply(raw: bytes | str) -> bool:
    """Whether JSON ``raw`` (already parsed) may break a nesting limit, read at C speed.

    Too few brackets cannot nest too deep. Otherwise, in bytes whose strings hold no escaped
    quote, every ``"`` delimits a string: the brackets left once the strings are cut out give
    the exact depths, by a running sum. Anything else is left to the walk.
    """
    if not isinstance(raw, bytes):
        objects, lists = raw.count("{"), raw.count("[")
        return objects > _MAX_OBJECT_DEPTH or objects + lists > _MAX_NESTING
    marks = raw.translate(None, _NOT_BRACKET_OR_QUOTE)
    objects, lists = marks.count(b"{"), marks.count(b"[")
    if objects <= _MAX_OBJECT_DEPTH and objects + lists <= _MAX_NESTING:
        return False
    if b'\\"' in raw:
        return True
    brackets = marks.replace(b'""', b"")
    if b'"' in brackets:
        brackets = _BRACKETED_STRING.sub(b"", brackets)
    nesting = _max_depth(brackets)
    if nesting > _MAX_NESTING:
        return True
    if nesting <= _MAX_OBJECT_DEPTH:
        return False
    return _max_depth(brackets.translate(None, _NOT_BRACE)) > _MAX_OBJECT_DEPTH


_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'{}[]"')
_NOT_BRACE = bytes(b for b in range(256) if b not in b"{}")
_BRACKETED_STRING = re.compile(rb'"[^"]*"')
_BRACKET_STEP = [1 if b in b"{[" else -1 if b in b"}]" else 0 for b in range(256)]


def _max_depth(brackets: bytes) -> int:
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _nesting_error(value: Any) -> InvalidArgument | None:
    """The refusal of the first container, in document order, nested past a limit."""
    stack: list[tuple[Any, str, int, int]] = [(value, "", 0, 0)]
    while stack:
        node, key, objects, nesting = stack.pop()
        nesting += 1
        if type(node) is dict:
            objects += 1
            children = [(v, k) for k, v in node.items() if type(v) in _CONTAINERS]
        else:
            children = [(v, "") for v in node if type(v) in _CONTAINERS]
        if objects > _MAX_OBJECT_DEPTH or nesting > _MAX_NESTING:
            return _too_deep(key)
        stack.extend((v, k, objects, nesting) for v, k in reversed(children))
    return None


_Failure = tuple[int, InvalidArgument]  # where in the text, and the refusal


def _nesting_error_in_text(text: str, limit: int) -> _Failure | None:
    """``_nesting_error`` read from the text before ``limit``: for JSON too deep for the
    parsers to build, or with a syntax error after the nesting."""
    opened: list[bool] = []  # True for an object
    objects = 0
    key = ""
    for match in _NESTING_TOKEN.finditer(text, 0, limit):
        string = match.group("string")
        if string is not None:
            key = _key_text(string) if match.group("colon") else ""
            continue
        if match.group() in "{[":
            is_object = match.group() == "{"
            objects += is_object
            opened.append(is_object)
            if objects > _MAX_OBJECT_DEPTH or len(opened) > _MAX_NESTING:
                return match.start(), _too_deep(key)
        elif opened:
            objects -= opened.pop()
        key = ""
    return None


def _key_text(string: str) -> str:
    try:
        return str(json.loads(string))
    except ValueError:
        return string[1:-1]


# Lone UTF-16 surrogates. The JSON module decodes ``"\ud800"`` into a str no UTF-8 encoder
# takes; orjson refuses it. protobuf's parser refuses it with its own texts, pointing at the
# escape (json_stream_parser.cc, ParseUnicodeEscape): a high surrogate not followed by a
# ``\u`` escape is "Missing low surrogate.", one followed by an escape that is not a low
# surrogate is "Invalid low surrogate.", and a low surrogate alone is "Invalid unicode code
# point.". Only escapes can carry one: bytes decoded as UTF-8 never hold a surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_error(text: str, limit: int) -> _Failure | None:
    """The refusal of the first lone surrogate escape before ``limit`` in ``text``, whose
    part before ``limit`` is valid JSON (a backslash only occurs in strings)."""
    high = -1  # where an unpaired high surrogate escape starts
    for match in _ESCAPE.finditer(text, 0, limit):
        code = int(match.group(1), 16) if match.group(1) else -1
        if high >= 0:
            if match.start() != high + 6 or code < 0:
                return high, _syntax_error(text, high, "Missing low surrogate.")
            if not 0xDC00 <= code <= 0xDFFF:
                return high, _syntax_error(text, high, "Invalid low surrogate.")
            high = -1
        elif 0xD800 <= code <= 0xDBFF:
            high = match.start()
        elif 0xDC00 <= code <= 0xDFFF:
            return match.start(), _syntax_error(text, match.start(), "Invalid unicode code point.")
    if high >= 0:
        return high, _syntax_error(text, high, "Missing low surrogate.")
    return None


def _first_failure(text: str, syntax: _Failure | None = None) -> InvalidArgument | None:
    """What the front end's streaming parser meets first in ``text``: a lone surrogate, a
    container nested past a limit, or the syntax error ``syntax`` (if any)."""
    limit = syntax[0] if syntax is not None else len(text)
    found: list[_Failure | None] = [syntax]
    if _SURROGATE_ESCAPE.search(text, 0, limit) is not None:
        found.append(_surrogate_error(text, limit))
    if _may_nest_deeply(text):
        found.append(_nesting_error_in_text(text, limit))
    failures = [f for f in found if f is not None]
    return min(failures, key=lambda f: f[0])[1] if failures else None


# orjson reads integers outside [-2**63, 2**64) as floats. Every such integer has at least 19
# digits (-9223372036854775809 has 19), so bodies with a run of 19 digits take the json
# module's exact path. Every ASCII digit byte maps to "0", every other byte to " ": in UTF-8
# an ASCII digit is only ever itself, so one bytes.translate and one substring search find
# the run, ten times faster than the regex.
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_DIGIT_MAP = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


def _has_long_digits(raw: bytes | str) -> bool:
    if isinstance(raw, bytes):
        return _LONG_RUN in raw.translate(_DIGIT_MAP)
    return _LONG_DIGITS.search(raw) is not None


def decode_json(raw: bytes | str) -> Any:
    """Parse a request body as the front end does; ``InvalidArgument`` on a syntax error."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"{_PAYLOAD} Unexpected token.\nInvalid UTF-8 at byte {exc.start}."
            ) from None
    else:
        text = raw
        if not text.isascii() and (bad := _RAW_SURROGATE.search(text)) is not None:
            at = len(text[: bad.start()].encode("utf-8"))  # where UTF-8 bytes would break
            raise InvalidArgument(f"{_PAYLOAD} Unexpected token.\nInvalid UTF-8 at byte {at}.")
    if text.startswith("\ufeff"):
        text = text[1:]
    value = _parse(raw, text)
    if _may_nest_deeply(raw):
        error = _nesting_error(value)
        if error is not None:
            raise error
    return value


def _parse(raw: bytes | str, text: str) -> Any:
    # The fast path: orjson is strict JSON (no NaN, no trailing commas, no lone surrogates,
    # at most 1024 levels) and 3-4x quicker, but it reads integers beyond 64 bits as floats,
    # so those bodies take the slow path.
    if not _has_long_digits(raw):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return _checked(text, json.loads(text, parse_constant=_reject_constant))
    except RecursionError:
        raise _first_failure(text) or _too_deep("") from None
    except ValueError:  # a syntax error, NaN / Infinity, or only a trailing comma
        pass
    if not text.strip():
        raise InvalidArgument(f"{_PAYLOAD} Unexpected end of string. Expected a value.") from None
    # Parse again with trailing commas blanked out, so the caret marks the first error the
    # front end would see, not an accepted trailing comma before it.
    lenient = _without_trailing_commas(text)
    try:
        return _checked(text, json.loads(lenient, parse_constant=_reject_constant))
    except RecursionError:
        raise _first_failure(text) or _too_deep("") from None
    except json.JSONDecodeError as exc:
        pos = exc.pos
    except ValueError:  # NaN / Infinity: not JSON
        pos = _first_constant(lenient)
    raise _first_failure(text, (pos, _syntax_error(text, pos))) or _syntax_error(text, pos)


def _checked(text: str, value: Any) -> Any:
    """``value``, parsed from ``text`` by the json module, unless it holds a lone surrogate."""
    if _SURROGATE_ESCAPE.search(text) is not None:
        failure = _first_failure(text)
        if failure is not None:
            raise failure
    return value


_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?(?:NaN|Infinity))')


def _first_constant(text: str) -> int:
    """Where the first bare NaN / Infinity starts, skipping strings that merely contain one."""
    for match in _STRING_OR_CONSTANT.finditer(text):
        if match.group(1):
            return match.start(1)
    return 0


# --------------------------------------------------------------------------------------------
# Python value -> normalized message, collecting violations


def _render(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# A field path as the front end quotes it (``contents[0].parts[1].text``), kept as a chain of
# (parent, proto field name or list index) and rendered only when a violation is recorded:
# a valid request never needs one. ``None`` is the root message.
_Path = tuple["_Path", str | int] | None


def _path_text(path: _Path) -> str:
    steps: list[str | int] = []
    while path is not None:
        path, step = path
        steps.append(step)
    text = ""
    for step in reversed(steps):
        text = f"{text}[{step}]" if isinstance(step, int) else _join(text, step)
    return text


class _Walker:
    __slots__ = ("violations",)

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    # -- reporting
    def unknown(self, parent: _Path, name: str, why: str) -> None:
        # Reported at the parent's path whatever the value holds, an object included:
        # 'Unknown name "thinkingConfig" at 'generation_config': Cannot find field.' for
        # {"generation_config": {"thinkingConfig": {...}}} (googleapis/go-genai#83), and with
        # no "at" part at the top level ('Unknown name "thinking": Cannot find field.',
        # decolua/9router#1876; that the value there was an object is likely, not shown).
        where = _path_text(parent)
        at = f" at '{where}'" if where else ""
        self.violations.append(
            FieldViolation(where, f'{_PAYLOAD} Unknown name "{name}"{at}: {why}')
        )

    def invalid(self, path: _Path, type_name: str, value: Any, reason: str | None = None) -> None:
        shown = reason if reason is not None else _render(value)
        where = _path_text(path)
        self.violations.append(
            FieldViolation(where, f"Invalid value at '{where}' ({type_name}), {shown}")
        )

    # -- messages
    def message(self, msg: MessageType, obj: Mapping[str, Any], path: _Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lookup = msg.lookup
        for key, value in obj.items():
            f = lookup.get(key)
            if f is None:
                self.unknown(path, key, "Cannot find field.")
                continue
            if value is None:
                continue
            fpath = (path, f.proto_name)
            if f.repeated:
                items = value if isinstance(value, list) else [value]
                parsed = []
                for i, item in enumerate(items):
                    if item is None or isinstance(item, list):
                        self.invalid((fpath, i), self._type_name(f), item)
                        continue
                    parsed.append(self.single(f, item, (fpath, i), path, key))
                out[f.json_name] = parsed
            elif isinstance(value, list) and f.kind not in ("value", "struct"):
                self.unknown(path, key, "Proto field is not repeating, cannot start list.")
            else:
                out[f.json_name] = self.single(f, value, fpath, path, key)
        return out

    def _type_name(self, f: _Field) -> str:
        if f.kind == "message" and f.message is not None:
            return f.message.type_url
        if f.kind == "enum" and f.enum is not None:
            return f"type.googleapis.com/{f.enum.full_name}"
        if f.kind == "struct":
            return "type.googleapis.com/google.protobuf.Struct"
        if f.scalar.startswith("google.protobuf."):
            return f"type.googleapis.com/{f.scalar}"
        return f.scalar or "TYPE_MESSAGE"

    def single(self, f: _Field, value: Any, path: _Path, parent: _Path, name: str | None) -> Any:
        """One value of field ``f`` at ``path`` in ``parent``; ``name`` is its key as sent."""
        kind = f.kind
        if kind == "message":
            assert f.message is not None
            if isinstance(value, dict):
                return self.message(f.message, value, path)
            self.invalid(path, f.message.type_url, value)
            return None
        if kind == "scalar":
            if isinstance(value, dict) and f.scalar != "google.protobuf.Duration":
                self.unknown(parent, name or f.json_name, "Starting an object on a scalar field")
                return None
            return self.scalar(f.scalar, value, path)
        if kind == "enum":
            assert f.enum is not None
            return self.enum_value(f.enum, value, path)
        if kind == "map":
            assert f.map_value is not None
            if not isinstance(value, dict):
                self.invalid(path, self._type_name(f), value)
                return None
            # A map is a list of entries {key, value} to the front end: the fields of the i-th
            # value sit at '<map>[i].value' ('Unknown name "x" at
            # 'tools[0].function_declarations[0].parameters.properties[2].value': Cannot find
            # field.', python-aiplatform#4333), and the value field itself belongs to the entry
            # '<map>[i]' (inferred from that form: no message about a map's scalar value seen).
            entries: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if v is None:
                    continue
                entry = (path, i)
                entries[k] = self.single(f.map_value, v, (entry, "value"), entry, None)
            return entries
        if kind == "struct":
            if not isinstance(value, dict):
                self.invalid(path, "type.googleapis.com/google.protobuf.Struct", value)
                return None
            return value
        return value  # "value": google.protobuf.Value takes any JSON

    def enum_value(self, enum: _Enum, value: Any, path: _Path) -> Any:
        if isinstance(value, bool):
            pass
        elif isinstance(value, str):
            name = enum.by_upper.get(value.upper())
            if name is not None:
                return name
        elif isinstance(value, int) and value in enum.by_number:
            return enum.by_number[value]
        self.invalid(path, f"type.googleapis.com/{enum.full_name}", value)
        return None

    def scalar(self, scalar: str, value: Any, path: _Path) -> Any:
        parser = _SCALARS.get(scalar, _parse_string)
        try:
            return parser(value)
        except _BadScalar as bad:
            self.invalid(path, self._scalar_type_name(scalar), value, bad.reason)
            return None

    @staticmethod
    def _scalar_type_name(scalar: str) -> str:
        if scalar.startswith("google.protobuf."):
            return f"type.googleapis.com/{scalar}"
        return scalar


class _BadScalar(Exception):
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason


def _parse_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _BadScalar


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _BadScalar


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _parse_float(value: Any) -> float | int:
    if isinstance(value, bool):
        raise _BadScalar
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            number = float(value)
        except ValueError:
            raise _BadScalar from None
        integral = number.is_integer() and not any(c in value for c in ".eE")
        return int(number) if integral else number
    raise _BadScalar


def _int_in(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise _BadScalar
    if isinstance(value, float):
        if not value.is_integer():
            raise _BadScalar
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                raise _BadScalar from None
            if not as_float.is_integer():
                raise _BadScalar from None
            value = int(as_float)
    if not isinstance(value, int) or not low <= value <= high:
        raise _BadScalar
    return value


def _parse_int32(value: Any) -> int:
    return _int_in(value, -(2**31), 2**31 - 1)


def _parse_uint32(value: Any) -> int:
    return _int_in(value, 0, 2**32 - 1)


def _parse_int64(value: Any) -> int:
    return _int_in(value, -(2**63), 2**63 - 1)


def _parse_uint64(value: Any) -> int:
    return _int_in(value, 0, 2**64 - 1)


_B64_ALPHABET = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")


def _parse_bytes(value: Any) -> str:
    if not isinstance(value, str):
        raise _BadScalar
    compact = value.strip()
    if _B64_ALPHABET.fullmatch(compact):
        padded = compact.rstrip("=")
        padded += "=" * (-len(padded) % 4)
        try:
            base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            if len(compact.rstrip("=")) % 4 != 1:
                return value
    shown = value if len(value) <= 40 else value[:40] + "..."
    raise _BadScalar(f'Base64 decoding failed for "{shown}"')


_DURATION = re.compile(r"^-?[0-9]+(\.[0-9]{1,9})?s$")
_DURATION_MAX_SECONDS = 315_576_000_000


def _parse_duration(value: Any) -> str:
    if isinstance(value, dict) and set(value) <= {"seconds", "nanos"}:
        try:
            seconds = _parse_int64(value.get("seconds", 0))
            nanos = _parse_int32(value.get("nanos", 0))
        except _BadScalar:
            raise _BadScalar from None
        if abs(seconds) > _DURATION_MAX_SECONDS or abs(nanos) >= 10**9:
            raise _BadScalar("Duration value out of range.")
        if nanos == 0:
            return f"{seconds}s"
        sign = "-" if seconds < 0 or nanos < 0 else ""
        frac = f"{abs(nanos):09d}".rstrip("0")
        return f"{sign}{abs(seconds)}.{frac}s"
    if not isinstance(value, str):
        raise _BadScalar
    if not value.endswith("s"):
        raise _BadScalar("Illegal duration format; duration must end with 's'")
    if not _DURATION.fullmatch(value):
        raise _BadScalar(f"Invalid duration format, failed to parse seconds: {value}")
    if abs(float(value[:-1])) > _DURATION_MAX_SECONDS:
        raise _BadScalar("Duration value out of range.")
    return value


_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _parse_timestamp(value: Any) -> str:
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        return value
    raise _BadScalar(f"Field 'timestamp', Invalid time format: {_render(value)}")


_SCALARS = {
    "TYPE_STRING": _parse_string,
    "TYPE_BOOL": _parse_bool,
    "TYPE_FLOAT": _parse_float,
    "TYPE_DOUBLE": _parse_float,
    "TYPE_INT32": _parse_int32,
    "TYPE_SINT32": _parse_int32,
    "TYPE_UINT32": _parse_uint32,
    "TYPE_INT64": _parse_int64,
    "TYPE_SINT64": _parse_int64,
    "TYPE_UINT64": _parse_uint64,
    "TYPE_BYTES": _parse_bytes,
    "google.protobuf.Duration": _parse_duration,
    "google.protobuf.Timestamp": _parse_timestamp,
    "google.protobuf.FieldMask": _parse_string,
}


def parse_message(value: Any, msg: MessageType) -> tuple[dict[str, Any], list[FieldViolation]]:
    """Normalize a decoded JSON value as message ``msg``; return it with every violation found."""
    walker = _Walker()
    if not isinstance(value, dict):
        walker.violations.append(FieldViolation("", f"{_PAYLOAD} Root element must be a message."))
        return {}, walker.violations
    return walker.message(msg, value, None), walker.violations


# --------------------------------------------------------------------------------------------
# Normalized message -> integer enums (the gapic transport's $alt=json;enum-encoding=int)


def encode_int_enums(obj: Mapping[str, Any], msg: MessageType) -> dict[str, Any]:
    """A copy of a normalized (camelCase) message with every known enum name as its number."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        f = msg.fields.get(key)
        out[key] = value if f is None else _encode_field(f, value)
    return out


def _encode_field(f: _Field, value: Any) -> Any:
    if f.repeated and isinstance(value, list):
        return [_encode_single(f, v) for v in value]
    return _encode_single(f, value)


def _encode_single(f: _Field, value: Any) -> Any:
    if f.kind == "enum" and f.enum is not None and isinstance(value, str):
        return f.enum.number_of.get(value, value)
    if f.kind == "message" and f.message is not None and isinstance(value, Mapping):
        return encode_int_enums(value, f.message)
    if f.kind == "map" and f.map_value is not None and isinstance(value, Mapping):
        mv = f.map_value
        return {k: _encode_single(mv, v) for k, v in value.items()}
    return value

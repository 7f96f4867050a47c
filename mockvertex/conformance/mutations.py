"""Mutation kinds for the conformance strategies: one targeted defect in a valid body.

Each kind knows where it applies (the model's profile, the method), what the body must hold
for it (a function declaration, a media part, ...), and, once applied, the answer a target
owes: the field path Google reports and, where the evidence gives Vertex's wording, a pattern
for the message. Kinds of the ``sent`` stage break the JSON form (an unknown name, a wrong
type), found by walking the body as sent with the compiled message types, so the path is the
one the front end computes; kinds of the ``canonical`` stage break what the request says (a
range, a role, the order of turns) before it is encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from mockvertex.conformance.bodies import (
    FUNCTION_NAME,
    IDENT,
    SAMPLE_FILES,
    SCALAR_TYPES,
    STOP,
    TEXT,
    Context,
    Form,
    b64,
    message_of,
    name_for,
    number_text,
    word,
)
from mockvertex.contract import protojson
from mockvertex.contract.profiles import Range

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn

    from mockvertex.contract.protojson import _Field

__all__ = ["KINDS", "Kind", "Outcome"]

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


# ------------------------------------------------------------------ walking a body as sent


@dataclass(frozen=True)
class _Slot:
    """One value in a body as sent: where it sits, its field, and its path as Google says it.

    ``element`` is an item of a repeated field (or the bare value standing for one); ``key``
    is the field's name as sent (for an element, the name of the repeated field)."""

    container: Any  # the dict or list holding the value
    index: Any  # its key in that dict, or its index in that list
    key: str
    field: _Field
    path: str
    parent: str
    element: bool


@dataclass(frozen=True)
class _Site:
    """One message object in a body as sent."""

    obj: dict[str, Any]
    msg: protojson.MessageType
    path: str


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(
    obj: dict[str, Any],
    msg: protojson.MessageType,
    path: str,
    sites: list[_Site],
    slots: list[_Slot],
) -> None:
    """Every message object and every field value under ``obj``, with the paths the front
    end reports (``protojson`` computes them the same way)."""
    sites.append(_Site(obj, msg, path))
    for key, value in obj.items():
        f = msg.lookup.get(key)
        if f is None or value is None:
            continue
        fpath = _join(path, f.proto_name)
        if f.repeated:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    slots.append(_Slot(value, i, key, f, f"{fpath}[{i}]", path, element=True))
                    _descend(f, item, f"{fpath}[{i}]", sites, slots)
            else:
                slots.append(_Slot(obj, key, key, f, f"{fpath}[0]", path, element=True))
                _descend(f, value, f"{fpath}[0]", sites, slots)
        else:
            slots.append(_Slot(obj, key, key, f, fpath, path, element=False))
            _descend(f, value, fpath, sites, slots)


def _descend(f: _Field, value: Any, path: str, sites: list[_Site], slots: list[_Slot]) -> None:
    if f.kind == "message" and f.message is not None and isinstance(value, dict):
        _walk(value, f.message, path, sites, slots)
    elif f.kind == "map" and isinstance(value, dict):
        mv = f.map_value
        if mv is not None and mv.kind == "message" and mv.message is not None:
            # '<map>[i].value' is where a map's message values sit (python-aiplatform#4333).
            for i, item in enumerate(value.values()):
                if isinstance(item, dict):
                    _walk(item, mv.message, f"{path}[{i}].value", sites, slots)


def _survey(body: dict[str, Any], ctx: Context) -> tuple[list[_Site], list[_Slot]]:
    sites: list[_Site] = []
    slots: list[_Slot] = []
    _walk(body, ctx.root, "", sites, slots)
    return sites, slots


def _render(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _unknown_name(key: str, parent: str, why: str) -> str:
    at = f" at '{parent}'" if parent else ""
    return re.escape(f'Invalid JSON payload received. Unknown name "{key}"{at}: {why}')


def _key_for(draw: DrawFn, msg: protojson.MessageType, json_name: str, form: Form) -> str:
    """The key a body in ``form`` would use for a field it does not have yet."""
    return name_for(draw, msg.fields[json_name], form.casing)


def _existing_key(obj: Mapping[str, Any], msg: protojson.MessageType, json_name: str) -> str | None:
    for key in obj:
        f = msg.lookup.get(key)
        if f is not None and f.json_name == json_name:
            return key
    return None


# ------------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Outcome:
    field: str | None
    message: str | None
    body: bytes | None = None  # replaces the body when the defect is in the JSON text


_Apply = Callable[["DrawFn", Context, dict[str, Any], Form], Outcome]


@dataclass(frozen=True)
class Kind:
    name: str
    applies: Callable[[Context], bool]
    apply: _Apply
    needs: frozenset[str] = frozenset()
    #: "sent": applied to the body as sent (the defect is in its JSON form);
    #: "canonical": applied before encoding (the defect is in what the request says).
    stage: str = "canonical"


KINDS: list[Kind] = []


def _kind(
    name: str,
    *,
    stage: str = "canonical",
    needs: Sequence[str] = (),
    applies: Callable[[Context], bool] = lambda ctx: True,
) -> Callable[[_Apply], _Apply]:
    def register(apply: _Apply) -> _Apply:
        KINDS.append(Kind(name, applies, apply, frozenset(needs), stage))
        return apply

    return register


def _pick(draw: DrawFn, options: Sequence[Any]) -> Any:
    return draw(st.sampled_from(list(options)))


# -- in the JSON form (the front end's proto3 JSON parse)


@_kind("unknown_field", stage="sent")
def _unknown_field(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A field the message does not have, at any depth; reported at the message's path
    (wire.md §4: 'Unknown name "x" at 'generation_config': Cannot find field.')."""
    sites, _ = _survey(body, ctx)
    site = _pick(draw, sites)
    name = draw(
        word(_LOWER, _LOWER + _UPPER + _DIGITS, 9).filter(
            lambda k: k not in site.msg.lookup and k not in site.obj
        )
    )
    site.obj[name] = draw(st.one_of(st.integers(0, 9), IDENT, st.just({"x": 1})))
    return Outcome(site.path, _unknown_name(name, site.path, "Cannot find field."))


_WRONG_SCALARS: dict[str, list[Any]] = {
    "TYPE_STRING": [7, True],
    "TYPE_BOOL": ["yes", 1],
    "TYPE_FLOAT": ["hot", True],
    "TYPE_DOUBLE": ["hot", True],
    "TYPE_INT32": ["many", 1.5, True],
    "TYPE_INT64": ["many", 1.5, True],
    "TYPE_UINT32": ["many", 1.5, True],
    "TYPE_UINT64": ["many", 1.5, True],
    "TYPE_BYTES": [7, True],
    "google.protobuf.Duration": [7, True],
}


def _wrong_value(f: _Field) -> list[Any] | None:
    """JSON values of the wrong type for ``f``, or None where any JSON is accepted."""
    if f.kind == "message":
        return ["text", 7, True]
    if f.kind == "struct":
        return ["text", 7]
    if f.kind == "enum":
        return [True, 1.5]
    if f.kind != "scalar":
        return None
    return _WRONG_SCALARS.get(f.scalar)


@_kind("wrong_type", stage="sent")
def _wrong_type(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A value of the wrong JSON type: a number for a string, a word for a float, a fraction
    for an integer, a string for a message ('Invalid value at '<path>' (TYPE_FLOAT), "hot"',
    by analogy with the confirmed TYPE_BYTES message, wire.md §4)."""
    _, slots = _survey(body, ctx)
    slot = _pick(draw, [s for s in slots if _wrong_value(s.field)])
    value = _pick(draw, _wrong_value(slot.field) or [])
    slot.container[slot.index] = value
    return Outcome(slot.path, re.escape(f"Invalid value at '{slot.path}' ") + r".*")


@_kind("object_for_scalar", stage="sent")
def _object_for_scalar(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """An object where a scalar belongs: the parser reports the key at the parent message."""
    _, slots = _survey(body, ctx)
    slot = _pick(
        draw,
        [
            s
            for s in slots
            if s.field.kind == "scalar" and s.field.scalar != "google.protobuf.Duration"
        ],
    )
    slot.container[slot.index] = {"value": 1}
    return Outcome(slot.parent, _unknown_name(slot.key, slot.parent, "") + ".*")


@_kind("not_repeating", stage="sent")
def _not_repeating(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A list where a single value belongs: the parser reports the key at the parent."""
    _, slots = _survey(body, ctx)
    slot = _pick(
        draw,
        [s for s in slots if not s.element and s.field.kind in ("message", "scalar", "enum")],
    )
    slot.container[slot.index] = [slot.container[slot.index]]
    return Outcome(slot.parent, _unknown_name(slot.key, slot.parent, "") + ".*")


@_kind("bad_enum", stage="sent", needs=["enum"])
def _bad_enum(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """An enum value the enum lacks, by name or by number ('Invalid value at
    'safety_settings[0].threshold' (type.googleapis.com/...HarmBlockThreshold), "OFFF"',
    confirmed on generativelanguage; the Vertex type name is inferred)."""
    _, slots = _survey(body, ctx)
    slot = _pick(draw, [s for s in slots if s.field.kind == "enum"])
    enum = slot.field.enum
    assert enum is not None
    if form.int_enums and isinstance(slot.container[slot.index], int):
        value: Any = draw(st.integers(100, 999).filter(lambda n: n not in enum.by_number))
    else:
        value = draw(
            word(_UPPER, _UPPER + "_", 11, least=2).filter(lambda v: v.upper() not in enum.by_upper)
        )
    slot.container[slot.index] = value
    pattern = (
        re.escape(f"Invalid value at '{slot.path}' (type.googleapis.com/")
        + r"[\w.]+"
        + re.escape(f"), {_render(value)}")
    )
    return Outcome(slot.path, pattern)


_BAD_BASE64 = ("not base64!", "a", "%%%%", "abc*")


@_kind("bad_base64", stage="sent")
def _bad_base64(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """Bytes that are not base64: inline data, or a thought signature on any part
    ('Invalid value at '...thought_signature' (TYPE_BYTES), Base64 decoding failed for ...',
    wire.md §3)."""
    sites, slots = _survey(body, ctx)
    value = _pick(draw, _BAD_BASE64)
    targets: list[Any] = [s for s in slots if s.field.scalar == "TYPE_BYTES"]
    targets += [s for s in sites if s.msg is ctx.types.part]
    target = _pick(draw, targets)
    if isinstance(target, _Slot):
        target.container[target.index] = value
        path = target.path
    else:
        key = _existing_key(target.obj, target.msg, "thoughtSignature") or _key_for(
            draw, target.msg, "thoughtSignature", form
        )
        target.obj[key] = value
        path = _join(target.path, "thought_signature")
    message = f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"{value}\""
    return Outcome(path, re.escape(message))


@_kind("bad_duration", stage="sent")
def _bad_duration(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A duration that is not a google-duration string ("10" for "10s"), in videoMetadata."""
    sites, _ = _survey(body, ctx)
    site = _pick(draw, [s for s in sites if s.msg is ctx.types.part])
    video_type = message_of(ctx.types.part, "videoMetadata")
    key = _existing_key(site.obj, site.msg, "videoMetadata") or _key_for(
        draw, site.msg, "videoMetadata", form
    )
    meta = site.obj.get(key)
    if not isinstance(meta, dict):
        meta = site.obj[key] = {}
    offset = _existing_key(meta, video_type, "startOffset") or _key_for(
        draw, video_type, "startOffset", form
    )
    meta[offset] = _pick(draw, ["10", "1m", "ten seconds", "1.5.0s"])
    path = _join(site.path, "video_metadata.start_offset")
    return Outcome(path, re.escape(f"Invalid value at '{path}' ") + r".*")


@_kind("malformed_json", stage="sent")
def _malformed_json(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """The JSON text cut short: a syntax error, which names no field."""
    text = _render(body)  # cut between characters: the bytes stay valid UTF-8
    cut = draw(st.integers(1, len(text) - 1))
    return Outcome(
        None,
        re.escape("Invalid JSON payload received. Unexpected ") + r"(token|end of string)\..*",
        body=text[:cut].encode(),
    )


@_kind("root_not_object", stage="sent")
def _root_not_object(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A JSON value that is not an object: a list holding the request, a string, a number."""
    root = _pick(draw, [[body], "contents", 1])
    return Outcome(
        "",
        re.escape("Invalid JSON payload received. ") + r".*",
        body=_render(root).encode(),
    )


# -- in what the request says (the model's checks)


def _parts(body: Mapping[str, Any]) -> Iterator[tuple[int, int, dict[str, Any]]]:
    for i, content in enumerate(body["contents"]):
        for j, part in enumerate(content["parts"]):
            yield i, j, part


def _has(content: Mapping[str, Any], kind: str) -> bool:
    return any(kind in part for part in content.get("parts", ()))


def _config(body: dict[str, Any]) -> dict[str, Any]:
    gc: dict[str, Any] = body.setdefault("generationConfig", {})
    return gc


_LEARN_MORE = r" Learn more: .*"


@_kind("missing_required")
def _missing_required(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A field the API requires, left out: contents, a turn's parts, a blob's MIME type or
    data, a file's URI or MIME type, a function call's or response's name."""
    parts_message = (
        re.escape(
            "Unable to submit request because it must include at least one parts field, which "
            "describes the prompt input."
        )
        + _LEARN_MORE  # vercel/ai#4859 (Vertex)
    )
    # (the object, the key to drop from it, the path reported, the message)
    options: list[tuple[dict[str, Any], str, str, str | None]] = [
        (body, "contents", "contents", None)
    ]
    for i, content in enumerate(body["contents"]):
        if not _has(content, "functionCall") and not _has(content, "functionResponse"):
            options.append((content, "parts", f"contents[{i}].parts", parts_message))
    system = body.get("systemInstruction")
    if system is not None and ctx.method != "countTokens":
        options.append((system, "parts", "system_instruction.parts", parts_message))
    fields = (
        ("inlineData", "inline_data", (("mimeType", "mime_type"), ("data", "data"))),
        ("fileData", "file_data", (("fileUri", "file_uri"), ("mimeType", "mime_type"))),
        ("functionCall", "function_call", (("name", "name"),)),
        ("functionResponse", "function_response", (("name", "name"),)),
    )
    for i, j, part in _parts(body):
        for kind, proto, required in fields:
            if kind in part:
                for name, proto_name in required:
                    path = f"contents[{i}].parts[{j}].{proto}.{proto_name}"
                    options.append((part[kind], name, path, None))
    obj, key, path, message = _pick(draw, options)
    del obj[key]
    return Outcome(path, message)


_RANGED = (
    ("temperature", "temperature", "temperature", True),
    ("topP", "top_p", "top_p", True),
    ("topK", "top_k", "top_k", True),
    ("candidateCount", "candidate_count", "candidate_count", False),
    ("maxOutputTokens", "max_output_tokens", "max_output_tokens", False),
)


def _outside(draw: DrawFn, rng: Range, *, real: bool) -> float:
    """A value outside ``rng``, above or below, on a grid of halves (exact in float32) and
    never 0 (the proto default, which a target may read as unset)."""
    top = float(rng.max)
    if real:
        above = st.integers(0, 20).map(lambda k: (int(top * 2) + 1 + k) / 2)
        below = st.integers(1, 20).map(lambda k: (int(float(rng.min) * 2) - k) / 2)
    else:
        above = st.integers(int(top), int(top) + 1000)
        below = st.integers(int(rng.min) - 1000, int(rng.min) - 1)
    value: float = draw(st.one_of(above, below).filter(lambda v: v != 0 and not rng.contains(v)))
    return int(value) if float(value).is_integer() else value


@_kind("out_of_range", needs=["generation_config"])
def _out_of_range(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A generation parameter outside the model's range ("Unable to submit request because it
    has a topK value of 50 but the supported range is from 1 (inclusive) to 41 (exclusive).
    ...", genkit#1397; temperature's the same, wire.md §3; candidateCount on single-candidate
    models: "... candidateCount must be 1 but the entered value was 3. ...", genkit#546)."""
    p = ctx.profile
    ranges = {
        "temperature": p.temperature,
        "topP": p.top_p,
        "topK": p.top_k,
        "candidateCount": p.candidate_count,
        "maxOutputTokens": p.max_output_tokens,
    }
    name, proto, _, real = _pick(draw, [r for r in _RANGED if ranges[r[0]] is not None])
    rng = ranges[name]
    assert rng is not None
    value = _outside(draw, rng, real=real)
    _config(body)[name] = value
    if name == "candidateCount" and rng.max <= 2:
        text = (
            "Unable to submit request because candidateCount must be 1 but the entered value "
            f"was {number_text(value)}. Update the candidateCount value and try again."
        )
    else:
        low, high = number_text(rng.min), number_text(rng.max)
        text = (
            f"Unable to submit request because it has a {name} value of {number_text(value)} "
            f"but the supported range is from {low} (inclusive) to {high} (exclusive). Update "
            "the value and try again."
        )
    return Outcome(f"generation_config.{proto}", re.escape(text))


@_kind("too_many_stop_sequences", needs=["generation_config"])
def _too_many_stops(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """More stop sequences than the model takes (5 on every Gemini model so far)."""
    most = ctx.profile.max_stop_sequences
    _config(body)["stopSequences"] = draw(
        st.lists(STOP, min_size=most + 1, max_size=most + 3, unique=True)
    )
    return Outcome("generation_config.stop_sequences", None)


@_kind("bad_role")
def _bad_role(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A role other than user and model ("Please use a valid role: user, model.", wire.md §4)."""
    i = draw(st.integers(0, len(body["contents"]) - 1))
    body["contents"][i]["role"] = _pick(draw, ["assistant", "bot", "human", "Assistant"])
    return Outcome(f"contents[{i}].role", re.escape("Please use a valid role: user, model."))


@_kind("system_role")
def _system_role(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """The system role inside contents (instructor#1291, CLIProxyAPI#3678)."""
    i = draw(st.integers(0, len(body["contents"]) - 1))
    body["contents"][i]["role"] = _pick(draw, ["system", "SYSTEM"])
    return Outcome(f"contents[{i}].role", re.escape("Content with system role is not supported."))


_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
_PLAIN_DATA = ("text", "inlineData", "fileData", "executableCode", "codeExecutionResult")


@_kind("two_data_fields")
def _two_data_fields(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """Two members of a part's ``data`` oneof (text and inline data, say) in one part."""
    i, j, part = _pick(draw, [s for s in _parts(body) if any(k in s[2] for k in _PLAIN_DATA)])
    second = _pick(draw, [k for k in ("text", "inlineData", "fileData") if k not in part])
    part[second] = {
        "text": "and this",
        "inlineData": {"mimeType": "text/plain", "data": b64(b"and this")},
        "fileData": {"mimeType": SAMPLE_FILES[0][0], "fileUri": SAMPLE_FILES[0][1]},
    }[second]
    return Outcome(f"contents[{i}].parts[{j}]", None)


@_kind("no_data_field")
def _no_data_field(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A part with no data at all (an empty object)."""
    i, j, _ = _pick(
        draw,
        [s for s in _parts(body) if "functionCall" not in s[2] and "functionResponse" not in s[2]],
    )
    body["contents"][i]["parts"][j] = {}
    return Outcome(f"contents[{i}].parts[{j}]", None)


@_kind("empty_text")
def _empty_text(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """An empty text part where the model never sends one (not beside a function call):
    "Unable to submit request because it has an empty text parameter. ..." (OpenManus#876)."""
    options = [
        (f"contents[{i}].parts[{j}].text", part)
        for i, j, part in _parts(body)
        if "text" in part and not _has(body["contents"][i], "functionCall")
    ]
    system = body.get("systemInstruction")
    if system is not None:
        options += [
            (f"system_instruction.parts[{j}].text", p) for j, p in enumerate(system["parts"])
        ]
    path, part = _pick(draw, options)
    part["text"] = ""
    return Outcome(
        path,
        re.escape("Unable to submit request because it has an empty text parameter.") + ".*",
    )


def _declarations(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"tools[{t}].function_declarations[{d}]", decl)
        for t, tool in enumerate(body.get("tools", ()))
        for d, decl in enumerate(tool.get("functionDeclarations", ()))
    ]


def _calling(ctx: Context) -> bool:
    return ctx.profile.function_calling and ctx.has("tools")


_BAD_FUNCTION_NAMES = ("1st", "get weather", "fn()", "-lead", "a" * 129, "naïve")


@_kind("bad_function_name", needs=["declarations"], applies=_calling)
def _bad_function_name(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A declared function name outside ``[A-Za-z_][A-Za-z0-9_.:-]{0,127}`` (cloudflare/
    agents#406: "The GenerateContentRequest proto is invalid:\\n  * tools[0].
    function_declarations[5].name: [FIELD_INVALID] Invalid function name. ...")."""
    path, decl = _pick(draw, _declarations(body))
    old = decl["name"]
    decl["name"] = _pick(draw, _BAD_FUNCTION_NAMES)
    config = body.get("toolConfig", {}).get("functionCallingConfig", {})
    allowed = [n for n in config.get("allowedFunctionNames", ()) if n != old]
    if "allowedFunctionNames" in config:
        if allowed:
            config["allowedFunctionNames"] = allowed
        else:
            del config["allowedFunctionNames"]
    where = f"{path}.name"
    text = (
        f"The {ctx.root_name} proto is invalid:\n  * {where}: [FIELD_INVALID] Invalid function "
        "name."
    )
    return Outcome(where, re.escape(text) + ".*")


_BAD_PARAMETER_NAMES = ("1st", "a b", "a-b", "a.b", "x" * 65)


@_kind("bad_parameter_name", needs=["declarations"], applies=_calling)
def _bad_parameter_name(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A parameter name outside ``[A-Za-z_][A-Za-z0-9_]{0,63}``, reported at the map entry's
    key."""
    path, decl = _pick(draw, [d for d in _declarations(body) if "parameters" in d[1]])
    params = decl["parameters"]
    names = list(params["properties"])
    p = draw(st.integers(0, len(names) - 1))
    new = _pick(draw, [n for n in _BAD_PARAMETER_NAMES if n not in names])
    params["properties"] = {
        (new if k == names[p] else k): v for k, v in params["properties"].items()
    }
    if "required" in params:
        params["required"] = [new if n == names[p] else n for n in params["required"]]
    return Outcome(f"{path}.parameters.properties[{p}].key", None)


@_kind("parameters_not_object", needs=["declarations"], applies=_calling)
def _parameters_not_object(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A declaration's parameters schema of a type other than OBJECT."""
    path, decl = _pick(draw, [d for d in _declarations(body) if "parameters" in d[1]])
    decl["parameters"] = {"type": _pick(draw, SCALAR_TYPES)}
    return Outcome(f"{path}.parameters", None)


def _schemas(
    schema: Mapping[str, Any], where: str, path: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every schema under ``schema`` with its dotted name from "parameters" and its path."""
    for p, (name, sub) in enumerate(schema.get("properties", {}).items()):
        yield f"{where}.{name}", f"{path}.properties[{p}].value", sub
        yield from _schemas(sub, f"{where}.{name}", f"{path}.properties[{p}].value")
    items = schema.get("items")
    if isinstance(items, dict):
        yield f"{where}.items", f"{path}.items", items
        yield from _schemas(items, f"{where}.items", f"{path}.items")


def _parameter_schemas(body: Mapping[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (decl["name"], where, spath, sub)
        for path, decl in _declarations(body)
        if "parameters" in decl
        for where, spath, sub in _schemas(decl["parameters"], "parameters", f"{path}.parameters")
    ]


@_kind("schema_type_missing", needs=["declarations"], applies=_calling)
def _schema_type_missing(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A parameter schema without a type ("Unable to submit request because `create-field`
    functionDeclaration `parameters.data.meta.width` schema didn't specify the schema type
    field. ...", gemini-cli#2282)."""
    function, where, path, schema = _pick(draw, _parameter_schemas(body))
    del schema["type"]
    text = (
        f"Unable to submit request because `{function}` functionDeclaration `{where}` schema "
        "didn't specify the schema type field."
    )
    return Outcome(path, re.escape(text) + _LEARN_MORE)


@_kind("enum_on_object", needs=["declarations"], applies=_calling)
def _enum_on_object(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """Enum values on an OBJECT schema (reportportal-mcp-server#25: "... schema specified
    incorrect schema type field. For schema with enum values, schema type should not be
    OBJECT or ARRAY. ...")."""
    options = [
        (decl["name"], "parameters", f"{path}.parameters", decl["parameters"])
        for path, decl in _declarations(body)
        if "parameters" in decl
    ]
    options += [o for o in _parameter_schemas(body) if o[3].get("type") == "OBJECT"]
    function, where, path, schema = _pick(draw, options)
    schema["enum"] = ["a", "b"]
    text = (
        f"Unable to submit request because `?{re.escape(function)}`? functionDeclaration "
        f"`?{re.escape(where)}`? "
        + re.escape(
            "schema specified incorrect schema type field. For schema with enum values, schema "
            "type should not be OBJECT or ARRAY."
        )
    )
    return Outcome(path, text + _LEARN_MORE)


_UNSUPPORTED_MIMES = ("application/zip", "image/tiff", "application/x-msdownload", "video/x-mng")


def _multimodal(ctx: Context) -> bool:
    return not ctx.profile.text_only and bool(ctx.profile.mime_types)


@_kind("bad_mime_type", needs=["media"], applies=_multimodal)
def _bad_mime_type(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """Inline data or a file of a MIME type the model does not take."""
    options = [
        (f"contents[{i}].parts[{j}].{proto}.mime_type", part[kind])
        for i, j, part in _parts(body)
        for kind, proto in (("inlineData", "inline_data"), ("fileData", "file_data"))
        if kind in part
    ]
    path, data = _pick(draw, options)
    data["mimeType"] = _pick(
        draw, [m for m in _UNSUPPORTED_MIMES if m not in ctx.profile.mime_types]
    )
    return Outcome(path, None)


@_kind("bad_response_mime_type", needs=["generation_config"])
def _bad_response_mime(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A response MIME type the model cannot produce."""
    gc = _config(body)
    gc.pop("responseSchema", None)
    candidates = ["text/html", "application/xml", "image/png", "text/csv", "application/json"]
    gc["responseMimeType"] = _pick(
        draw, [m for m in candidates if m not in ctx.profile.response_mime_types]
    )
    return Outcome("generation_config.response_mime_type", None)


_RESPONSE_AFTER_CALL = re.escape(
    "Please ensure that function response turn comes immediately after a function call turn."
)


@_kind("response_without_call", applies=_calling)
def _response_without_call(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A function response opening the conversation, with no call before it
    (GoogleCloudPlatform/generative-ai#368)."""
    name = draw(FUNCTION_NAME)
    body["contents"][0] = {
        "role": "user",
        "parts": [{"functionResponse": {"name": name, "response": {"result": "ok"}}}],
    }
    return Outcome("contents[0]", _RESPONSE_AFTER_CALL)


@_kind("response_count_mismatch", needs=["call"], applies=_calling)
def _response_count(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A response turn with more or fewer responses than the call turn had calls
    (gemini-cli#4217, docker-agent#2683)."""
    turns = [i for i, c in enumerate(body["contents"]) if _has(c, "functionResponse")]
    i = _pick(draw, turns)
    parts = body["contents"][i]["parts"]
    if len(parts) > 1 and draw(st.booleans()):
        parts.pop()
    else:
        parts.append(json.loads(json.dumps(parts[-1])))
    text = (
        "Please ensure that the number of function response parts is equal to the number of "
        "function call parts of the function call turn."
    )
    return Outcome(f"contents[{i}]", re.escape(text))


@_kind("call_without_user_turn", applies=_calling)
def _call_first(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A function call turn opening the conversation (gemini-cli#11814, dograh#506)."""
    decls = _declarations(body)
    name = decls[0][1]["name"] if decls else draw(FUNCTION_NAME)
    call = {"role": "model", "parts": [{"functionCall": {"name": name, "args": {}}}]}
    body["contents"].insert(0, call)
    text = (
        "Please ensure that function call turn comes immediately after a user turn or after a "
        "function response turn."
    )
    return Outcome("contents[0]", re.escape(text))


@_kind("unsupported_system_instruction", applies=lambda c: not c.profile.system_instruction)
def _unsupported_system(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A system instruction for a model without them (gemini-1.0-pro before -002)."""
    body["systemInstruction"] = {"parts": [{"text": draw(TEXT)}]}
    return Outcome("system_instruction", None)


@_kind(
    "unsupported_function_calling",
    applies=lambda c: not c.profile.function_calling and c.has("tools"),
)
def _unsupported_calling(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """Function declarations for a model without function calling."""
    tools = body.setdefault("tools", [])
    tools.append({"functionDeclarations": [{"name": draw(FUNCTION_NAME)}]})
    return Outcome(f"tools[{len(tools) - 1}].function_declarations", None)


@_kind("unsupported_response_schema", applies=lambda c: not c.profile.response_schema)
def _unsupported_schema(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A response schema for a model without controlled generation."""
    _config(body)["responseSchema"] = {"type": "STRING"}
    return Outcome("generation_config.response_schema", None)


def _thinking_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    _config(body)["thinkingConfig"] = config
    return config


@_kind("unsupported_thinking", applies=lambda c: not c.profile.thinking)
def _unsupported_thinking(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A thinking budget for a model that does not think (js-genai#681)."""
    _thinking_config(body)["thinkingBudget"] = draw(st.one_of(st.just(-1), st.integers(1, 24576)))
    return Outcome(
        "generation_config.thinking_config",
        re.escape("Unable to submit request because thinking is not supported by this model.")
        + _LEARN_MORE,
    )


@_kind(
    "thinking_budget_out_of_range",
    applies=lambda c: c.profile.thinking and c.profile.thinking_budget is not None,
)
def _budget_out_of_range(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A thinking budget outside the model's range (Antigravity-Manager#1384, gcli2api#108)."""
    rng = ctx.profile.thinking_budget
    assert rng is not None
    low, high = int(rng.min), int(rng.max)
    options = [st.integers(high, high + 10000), st.integers(-1000, -2)]
    if low > 1:
        options.insert(1, st.integers(1, low - 1))
    _thinking_config(body)["thinkingBudget"] = draw(st.one_of(options))
    text = (
        "Unable to submit request because thinking_budget is out of range; supported values "
        f"are integers from {low} to {high - 1}."
    )
    return Outcome("generation_config.thinking_config.thinking_budget", re.escape(text) + ".*")


@_kind(
    "thinking_off_unsupported",
    applies=lambda c: c.profile.thinking and not c.profile.thinking_off,
)
def _thinking_off(draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form) -> Outcome:
    """A zero thinking budget for a model that cannot stop thinking (pi#3460)."""
    _thinking_config(body)["thinkingBudget"] = 0
    return Outcome(
        "generation_config.thinking_config.thinking_budget",
        re.escape(
            "Unable to submit request because The model does not support setting "
            "thinking_budget to 0"
        )
        + ".*",
    )


@_kind(
    "include_thoughts_without_thinking",
    applies=lambda c: not c.profile.thinking or c.profile.thinking_off,
)
def _thoughts_without_thinking(
    draw: DrawFn, ctx: Context, body: dict[str, Any], form: Form
) -> Outcome:
    """Thoughts asked of a request that will not think (lobehub#7985, haystack#2845)."""
    config = _thinking_config(body)
    if ctx.profile.thinking:
        config["thinkingBudget"] = 0
    config["includeThoughts"] = True
    return Outcome(
        "generation_config.thinking_config.include_thoughts",
        re.escape(
            "Unable to submit request because Thinking_config.include_thoughts is only enabled "
            "when thinking is enabled."
        )
        + ".*",
    )


#: Every mutation kind ``invalid_requests`` knows, in the order it prefers when shrinking.

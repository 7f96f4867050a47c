"""Request validation: the same verdict, status and wording as Vertex, for Python, CLI and server.

``validate_request`` runs the two stages the real service runs:

1. the front end's proto3 JSON parse (``protojson``): syntax, unknown names, types, enums;
2. the model's own checks: contents and parts present, roles, one data field per part, the
   order of function call and response turns, media types and sizes, function declarations
   and their parameter schemas, generation parameter ranges per model, thinking settings per
   model, features the model lacks, the input token limit.

Every violation of a stage is reported at once, as ``google.rpc.BadRequest`` field violations
of one ``InvalidArgument``. An unknown model is ``NotFound`` with Vertex's message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

from mockvertex.contract import protojson, tokens
from mockvertex.contract.errors import FieldViolation, InvalidArgument
from mockvertex.contract.profiles import ModelProfile, ProfileRegistry, Range

__all__ = ["METHODS", "Method", "validate_request"]

Method = Literal["generateContent", "streamGenerateContent", "countTokens"]
METHODS: tuple[str, ...] = ("generateContent", "streamGenerateContent", "countTokens")
API_VERSIONS: tuple[str, ...] = ("v1", "v1beta1")

_LEARN_MORE = (
    "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
)
# The function-declaration schema messages point at the function-calling page instead.
_FUNCTION_CALLING_MORE = (
    "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/function-calling"
)
# The members of Part's "data" oneof, with the proto names the front end quotes.
_PROTO_NAME = {
    "text": "text",
    "inlineData": "inline_data",
    "fileData": "file_data",
    "functionCall": "function_call",
    "functionResponse": "function_response",
    "executableCode": "executable_code",
    "codeExecutionResult": "code_execution_result",
}
_DATA = frozenset(_PROTO_NAME)
_ROLES = frozenset({"user", "model"})
# Vertex's own words for a system role inside contents (567-labs/instructor#1291, "VertexAI: 400
# Content with system role is not supported."; the whole envelope {"code": 400, "message":
# "Content with system role is not supported.", "status": "INVALID_ARGUMENT"} in
# router-for-me/CLIProxyAPI#3678). Any other unknown role gets "Please use a valid role".
_SYSTEM_ROLE = "Content with system role is not supported."
# The rules across turns, in Gemini's words. Response after call: GoogleCloudPlatform/
# generative-ai#368 ("InvalidArgument: 400 Please ensure that function response turn comes
# immediately after a function call turn.", the vertexai SDK). Call after user or response:
# dograh-hq/dograh#506 (litellm's Vertex client, the whole envelope) and
# google-gemini/gemini-cli#11814 ("when the sent conversation history starts with a function
# call"). As many responses as calls: google-gemini/gemini-cli#4217, #5443, #17208 (the same
# backend through Code Assist) and docker/docker-agent#2683 (Vertex AI); latitude-llm#2414 hit it
# replaying turns to Vertex.
_RESPONSE_AFTER_CALL = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
_CALL_AFTER_USER = (
    "Please ensure that function call turn comes immediately after a user turn or after a "
    "function response turn."
)
_RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)
# Defaults for absent fields: shared and read-only, so a lookup allocates nothing.
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@cache
def _builtin_profiles() -> ProfileRegistry:
    return ProfileRegistry.builtin()


def _root_for(method: str) -> str:
    return "CountTokensRequest" if method == "countTokens" else "GenerateContentRequest"


def validate_request(
    body: bytes | str | Mapping[str, Any],
    *,
    model: str,
    method: str = "generateContent",
    api_version: str = "v1",
    profiles: ProfileRegistry | None = None,
    resource: str | None = None,
) -> dict[str, Any]:
    """Validate a request body for ``model`` and return it normalized.

    ``body`` is the raw JSON text (bytes or str) or an already decoded mapping. The result
    has camelCase keys, lists for repeated fields and enum names. Raises ``InvalidArgument``
    (HTTP 400) with every violation found, or ``NotFound`` (404) for an unknown model.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if api_version not in API_VERSIONS:
        raise ValueError(f"api_version must be one of {', '.join(API_VERSIONS)}")
    decoded = protojson.decode_json(body) if isinstance(body, bytes | str) else body
    msg = protojson.message_type(f"{api_version}/{_root_for(method)}")
    request, violations = protojson.parse_message(decoded, msg)
    if violations:
        raise InvalidArgument(violations=violations)
    profile = (profiles or _builtin_profiles()).resolve(model, resource=resource)
    semantic = _Checker(profile, method).check(request)
    if semantic:
        raise InvalidArgument(_message(semantic), violations=semantic)
    return request


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# The proto-level field checks come back as one message with a line per field, the request
# type named once: "The GenerateContentRequest proto is invalid:\n  * tools[0].
# function_declarations[5].name: [FIELD_INVALID] Invalid function name. ..." (cloudflare/
# agents#406, Vertex through the AI SDK; google-gemini/gemini-cli#7878, SuperGemini#12).
_PROTO_INVALID = "The {root} proto is invalid:"
_PROTO_BULLET = "\n  * "


def _proto_invalid(root: str, field: str, text: str) -> str:
    return f"{_PROTO_INVALID.format(root=root)}{_PROTO_BULLET}{field}: [FIELD_INVALID] {text}"


def _message(violations: list[FieldViolation]) -> str:
    """The error's message: the violations' texts one per line, the proto-level ones merged
    under one header where the first of them stands."""
    lines: list[str] = []
    header = ""
    bullets: list[str] = []
    at = -1
    for v in violations:
        head, sep, rest = v.description.partition(_PROTO_BULLET)
        if sep and head.startswith("The ") and head.endswith(" proto is invalid:"):
            header = header or head
            bullets.append(rest)
            if at < 0:
                at = len(lines)
                lines.append("")
        else:
            lines.append(v.description)
    if at >= 0:
        lines[at] = header + "".join(_PROTO_BULLET + b for b in bullets)
    return "\n".join(lines)


def _range_message(name: str, value: float, rng: Range) -> str:
    return (
        f"Unable to submit request because it has a {name} value of {_number(value)} but the "
        f"supported range is from {_number(rng.min)} (inclusive) to {_number(rng.max)} "
        "(exclusive). Update the value and try again."
    )


def _empty_parameter(name: str) -> str:
    return (
        f"Unable to submit request because it has an empty {name} parameter. Add a value to "
        f"the parameter and try again. {_LEARN_MORE}"
    )


def _unsupported_mime(mime: str, what: str = "mimeType") -> str:
    return (
        f"Unable to submit request because it has a {what} parameter with value {mime}, which "
        f"is not supported. Update the {what} and try again. {_LEARN_MORE}"
    )


def _size(limit: int) -> str:
    """A byte limit in whole MB (1024 * 1024) when it is one, else in bytes: never "0 MB"."""
    mb, rest = divmod(limit, 1024 * 1024)
    return f"{mb} MB" if mb and not rest else f"{limit} bytes"


def _base64_size(data: str) -> int:
    stripped = data.strip().rstrip("=")
    return len(stripped) * 3 // 4


def _calls_and_responses(content: Mapping[str, Any]) -> tuple[int, int]:
    """How many parts of ``content`` are function calls and how many function responses, in
    one pass (text parts, the most common, cost two lookups each); a part holding two data
    fields is refused on its own and counts as neither."""
    calls = responses = 0
    for part in content.get("parts", ()):
        call, response = "functionCall" in part, "functionResponse" in part
        if (call or response) and len(part.keys() & _DATA) == 1:
            calls += call
            responses += response
    return calls, responses


def _may_precede_a_call(previous: Mapping[str, Any] | None, responses: int) -> bool:
    """A function call turn needs a turn before it: a user turn (no role is user) or a function
    response turn (``responses``: its function responses). A first turn that is a call breaks
    the rule too (gemini-cli#11814)."""
    if previous is None:
        return False
    role = str(previous.get("role", "")).lower()
    return role != "model" or responses > 0


@dataclass
class _MediaCount:
    images: int = 0
    inline_images: int = 0
    videos: int = 0
    audio: int = 0
    pdfs: int = 0
    first_path: dict[str, str] = field(default_factory=dict)

    def add(self, mime: str, path: str, *, inline: bool) -> None:
        if inline and mime.startswith("image/"):
            self.inline_images += 1
            self.first_path.setdefault("inline_images", path)
        kind = (
            "images"
            if mime.startswith("image/")
            else "videos"
            if mime.startswith("video/")
            else "audio"
            if mime.startswith("audio/")
            else "pdfs"
            if mime == "application/pdf"
            else ""
        )
        if kind:
            setattr(self, kind, getattr(self, kind) + 1)
            self.first_path.setdefault(kind, path)


class _Checker:
    """The model-side checks, run on a normalized request."""

    def __init__(self, profile: ModelProfile, method: str) -> None:
        self.profile = profile
        self.method = method
        self.root = _root_for(method)
        self.media = _MediaCount()
        self.violations: list[FieldViolation] = []

    def _found(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def check(self, req: Mapping[str, Any]) -> list[FieldViolation]:
        """Every violation of ``req``, in the order the checks meet them."""
        contents = req.get("contents", ())
        if not contents and not (self.method == "countTokens" and req.get("instances")):
            self._found(
                "contents",
                "Unable to submit request because at least one contents field is required. "
                + _LEARN_MORE,
            )
        for i, content in enumerate(contents):
            self._content(content, f"contents[{i}]", check_role=True)
        self._turn_order(contents)
        self._system_instruction(req.get("systemInstruction"))
        self._media_counts()
        for t, tool in enumerate(req.get("tools", ())):
            self._tool(tool, f"tools[{t}]")
        self._generation_config(req.get("generationConfig", _NO_FIELDS))
        if self.method != "countTokens":
            count = tokens.request_tokens(req)
            if count > self.profile.input_token_limit:
                self._found(
                    "contents",
                    f"The input token count ({count}) exceeds the maximum number of tokens "
                    f"allowed ({self.profile.input_token_limit}).",
                )
        return self.violations

    # -- contents and parts
    def _content(self, content: Mapping[str, Any], path: str, *, check_role: bool) -> None:
        role = content.get("role", "")
        if check_role and role and role.lower() == "system":
            self._found(f"{path}.role", _SYSTEM_ROLE)
        elif check_role and role and role.lower() not in _ROLES:
            self._found(f"{path}.role", "Please use a valid role: user, model.")
        parts = content.get("parts", ())
        if not parts:
            self._found(
                f"{path}.parts",
                "Unable to submit request because it must include at least one parts field, "
                "which describes the prompt input. " + _LEARN_MORE,
            )
        beside_call = any("functionCall" in part for part in parts)
        for j, part in enumerate(parts):
            self._part(part, f"{path}.parts[{j}]", beside_call=beside_call)

    def _turn_order(self, contents: Any) -> None:
        """Function responses right after the call turn, one per call; calls after a user turn
        or a response turn. Each violation is reported at the turn that breaks the order."""
        previous: Mapping[str, Any] | None = None
        asked = answered = 0  # the calls and responses of the previous turn
        for i, content in enumerate(contents):
            calls, responses = _calls_and_responses(content)
            if responses and not asked:
                self._found(f"contents[{i}]", _RESPONSE_AFTER_CALL)
            elif responses and responses != asked:
                self._found(f"contents[{i}]", _RESPONSE_COUNT)
            if calls and not _may_precede_a_call(previous, answered):
                self._found(f"contents[{i}]", _CALL_AFTER_USER)
            previous, asked, answered = content, calls, responses

    def _system_instruction(self, system: Mapping[str, Any] | None) -> None:
        if system is None:
            return
        if self.method == "countTokens" and not system.get("parts"):
            return  # SDKs send an empty systemInstruction with countTokens; Vertex ignores it
        if not self.profile.system_instruction:
            self._found(
                "system_instruction",
                f"Unable to submit request because the model {self.profile.family} does not "
                "support systemInstruction. Remove systemInstruction and try again. " + _LEARN_MORE,
            )
            return
        self._content(system, "system_instruction", check_role=False)

    def _part(self, part: Mapping[str, Any], path: str, *, beside_call: bool = False) -> None:
        # In the order sent: the parser complains about the member that arrives second.
        present = [k for k in part if k in _PROTO_NAME]
        if not present:
            self._found(
                path,
                "Unable to submit request because it must have a text parameter. Add a text "
                "parameter and try again. " + _LEARN_MORE,
            )
            return
        if len(present) > 1:
            self._found(
                path,
                f"Invalid value at '{path}' (oneof), oneof field 'data' is already set. "
                f"Cannot set '{_PROTO_NAME[present[1]]}'",
            )
            return
        kind = present[0]
        # An empty text is refused ("... it has an empty text parameter", Portkey-AI/gateway#462
        # on Vertex), except where the model itself sends one: beside a functionCall in the
        # same turn, or carrying a thoughtSignature (Gemini puts signatures on empty text parts
        # and wants them echoed back: earendil-works/pi#7362 for google and google-vertex,
        # vercel/ai#12410). Replaying a model turn verbatim is valid.
        if (
            kind == "text"
            and part["text"] == ""
            and not beside_call
            and not part.get("thoughtSignature")
        ):
            self._found(f"{path}.text", _empty_parameter("text"))
        elif kind == "inlineData":
            self._blob(part["inlineData"], f"{path}.inline_data")
        elif kind == "fileData":
            self._file_data(part["fileData"], f"{path}.file_data")
        elif kind == "functionResponse" and not part["functionResponse"].get("name"):
            self._found(f"{path}.function_response.name", _empty_parameter("name"))
        elif kind == "functionCall" and not part["functionCall"].get("name"):
            self._found(f"{path}.function_call.name", _empty_parameter("name"))

    def _mime(self, mime: str, path: str, *, inline: bool) -> None:
        if mime.lower() not in self.profile.mime_types:
            self._found(path, _unsupported_mime(mime))
        else:
            self.media.add(mime.lower(), path, inline=inline)

    def _blob(self, blob: Mapping[str, Any], path: str) -> None:
        mime = blob.get("mimeType", "")
        if not mime:
            self._found(f"{path}.mime_type", _empty_parameter("mimeType"))
        else:
            self._mime(mime, f"{path}.mime_type", inline=True)
        data = blob.get("data", "")
        if not data:
            self._found(f"{path}.data", _empty_parameter("data"))
        elif _base64_size(data) > self.profile.inline_data_max_bytes:
            self._found(
                f"{path}.data",
                f"Unable to submit request because the inline data is {_base64_size(data)} "
                f"bytes but the maximum size is {_size(self.profile.inline_data_max_bytes)}. "
                "Use fileData with a Cloud Storage URI for larger files. " + _LEARN_MORE,
            )

    def _file_data(self, data: Mapping[str, Any], path: str) -> None:
        if not data.get("fileUri"):
            self._found(f"{path}.file_uri", _empty_parameter("fileUri"))
        mime = data.get("mimeType", "")
        if not mime:
            self._found(f"{path}.mime_type", _empty_parameter("mimeType"))
        else:
            self._mime(mime, f"{path}.mime_type", inline=False)

    def _media_counts(self) -> None:
        limits = (
            ("images", self.profile.max_images, "images"),
            ("inline_images", self.profile.max_inline_images, "inline images (use fileData)"),
            ("videos", self.profile.max_videos, "video files"),
            ("audio", self.profile.max_audio, "audio files"),
            ("pdfs", self.profile.max_pdfs, "PDF files"),
        )
        for kind, limit, noun in limits:
            count = getattr(self.media, kind)
            if limit is not None and count > limit:
                self._found(
                    self.media.first_path.get(kind, "contents"),
                    f"Unable to submit request because it has {count} {noun} but the model "
                    f"{self.profile.family} supports at most {limit}. Remove some and try "
                    "again. " + _LEARN_MORE,
                )
        if self.profile.media_exclusive and self.media.images and self.media.videos:
            self._found(
                self.media.first_path["videos"],
                f"Unable to submit request because the model {self.profile.family} accepts "
                "either images or a video in one request, not both. " + _LEARN_MORE,
            )

    # -- tools
    def _tool(self, tool: Mapping[str, Any], path: str) -> None:
        if tool.get("functionDeclarations") and not self.profile.function_calling:
            self._found(
                f"{path}.function_declarations",
                f"Unable to submit request because the model {self.profile.family} does not "
                "support function calling. Remove functionDeclarations and try again. "
                + _LEARN_MORE,
            )
            return
        for d, decl in enumerate(tool.get("functionDeclarations", ())):
            dpath = f"{path}.function_declarations[{d}]"
            name = decl.get("name", "")
            if not _FUNCTION_NAME.fullmatch(name):
                # The frame is Vertex's (cloudflare/agents#406: "The GenerateContentRequest
                # proto is invalid:\n  * tools[0].function_declarations[5].name:
                # [FIELD_INVALID] Invalid function name. ..."), and it quotes the path, not the
                # name. The rule sentence is the discovery document's FunctionDeclaration.name
                # (revision 20261106: colons allowed, up to 128); the live answers found, from
                # 2025, still said "... underscores, dots and dashes, with a maximum length of
                # 64." (kaitranntt/ccs#25 of 2025-11 already listed colons).
                field = f"{dpath}.name"
                self._found(
                    field,
                    _proto_invalid(
                        self.root,
                        field,
                        "Invalid function name. Must start with a letter or an underscore. "
                        "Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and "
                        "dashes, with a maximum length of 128.",
                    ),
                )
            params = decl.get("parameters")
            if params:
                ptype = str(params.get("type", "")).upper()
                if ptype != "OBJECT":
                    self._found(
                        f"{dpath}.parameters",
                        "Unable to submit request because function parameters schema should be "
                        "of type OBJECT. " + _LEARN_MORE,
                    )
                for p, pname in enumerate(params.get("properties", ())):
                    if not _PARAMETER_NAME.fullmatch(pname):
                        self._found(
                            f"{dpath}.parameters.properties[{p}].key",
                            f"Invalid function parameter name {pname!r}. Must start with a "
                            "letter or an underscore. Must be a-z, A-Z, 0-9, or underscores "
                            "with a maximum length of 64.",
                        )
                self._schema_enum(name, params, "parameters", f"{dpath}.parameters")
                self._schema_children(name, params, "parameters", f"{dpath}.parameters")

    # A declaration's parameter schemas, in Vertex's words, which name the function and the
    # parameter by its dotted path from "parameters" ("... because `create-field`
    # functionDeclaration `parameters.data.meta.width` schema didn't specify the schema type
    # field. Learn more: .../multimodal/function-calling", google-gemini/gemini-cli#2282;
    # awslabs/mcp#922, oOo0oOo/lean-lsp-mcp#185). Array items are named ".items" there
    # (inferred: no message about an items schema seen). A schema with anyOf or ref needs no
    # type of its own and its alternatives are not checked here.
    def _schema_children(
        self, function: str, schema: Mapping[str, Any], where: str, path: str
    ) -> None:
        for p, (pname, prop) in enumerate(schema.get("properties", {}).items()):
            self._schema(function, prop, f"{where}.{pname}", f"{path}.properties[{p}].value")
        items = schema.get("items")
        if isinstance(items, Mapping):
            self._schema(function, items, f"{where}.items", f"{path}.items")

    def _schema(self, function: str, schema: Mapping[str, Any], where: str, path: str) -> None:
        kind = schema.get("type")
        if kind in (None, "TYPE_UNSPECIFIED") and not schema.get("anyOf") and not schema.get("ref"):
            self._found(
                path,
                f"Unable to submit request because `{function}` functionDeclaration `{where}` "
                "schema didn't specify the schema type field. " + _FUNCTION_CALLING_MORE,
            )
        else:
            self._schema_enum(function, schema, where, path)
        self._schema_children(function, schema, where, path)

    def _schema_enum(self, function: str, schema: Mapping[str, Any], where: str, path: str) -> None:
        # reportportal/reportportal-mcp-server#25 quotes it with the backticks lost to Markdown
        # ("... because run_auto_analysis functionDeclaration parameters.analyzer_item_modes
        # schema specified incorrect schema type field. ..."); they are put back here as in
        # the message about a missing type (inferred).
        if schema.get("enum") and schema.get("type") in ("OBJECT", "ARRAY"):
            self._found(
                path,
                f"Unable to submit request because `{function}` functionDeclaration `{where}` "
                "schema specified incorrect schema type field. For schema with enum values, "
                "schema type should not be OBJECT or ARRAY. " + _FUNCTION_CALLING_MORE,
            )

    # -- generation config
    def _generation_config(self, gc: Mapping[str, Any]) -> None:
        p = self.profile
        ranges: list[tuple[str, str, Range | None]] = [
            ("temperature", "temperature", p.temperature),
            ("topP", "top_p", p.top_p),
            ("topK", "top_k", p.top_k),
            ("maxOutputTokens", "max_output_tokens", p.max_output_tokens),
        ]
        for name, proto, rng in ranges:
            value = gc.get(name)
            if value is not None and rng is not None and not rng.contains(value):
                self._found(f"generation_config.{proto}", _range_message(name, value, rng))
        count = gc.get("candidateCount")
        if count is not None and not p.candidate_count.contains(count):
            if p.candidate_count.max <= 2:
                message = (
                    "Unable to submit request because candidateCount must be 1 but the entered "
                    f"value was {count}. Update the candidateCount value and try again."
                )
            else:
                message = _range_message("candidateCount", count, p.candidate_count)
            self._found("generation_config.candidate_count", message)
        stops = gc.get("stopSequences", ())
        if len(stops) > p.max_stop_sequences:
            self._found(
                "generation_config.stop_sequences",
                f"Unable to submit request because it has {len(stops)} stopSequences but the "
                f"maximum is {p.max_stop_sequences}. Update the value and try again.",
            )
        mime = gc.get("responseMimeType")
        if mime and mime not in p.response_mime_types:
            self._found(
                "generation_config.response_mime_type",
                _unsupported_mime(mime, "responseMimeType"),
            )
        self._thinking(gc.get("thinkingConfig", _NO_FIELDS))
        if ("responseSchema" in gc or "responseJsonSchema" in gc) and not p.response_schema:
            self._found(
                "generation_config.response_schema",
                f"Unable to submit request because the model {p.family} does not support "
                "responseSchema. Remove responseSchema and try again. " + _LEARN_MORE,
            )

    def _thinking(self, thinking: Mapping[str, Any]) -> None:
        """thinkingConfig against the model's thinking limits (models.json), in Vertex's words,
        which differ by case. A budget of -1 asks for dynamic thinking, 0 for none."""
        p = self.profile
        budget = thinking.get("thinkingBudget")
        wants_thoughts = bool(thinking.get("includeThoughts"))
        where = "generation_config.thinking_config"
        if not p.thinking and budget not in (None, 0):
            # googleapis/js-genai#681: gemini-2.0-flash on Vertex, thinkingBudget 500 (and
            # includeThoughts) -> "Unable to submit request because thinking is not supported
            # by this model. Learn more: ...". That -1 is refused the same way is inferred.
            self._found(
                where,
                "Unable to submit request because thinking is not supported by this model. "
                + _LEARN_MORE,
            )
        elif budget == 0 and p.thinking and not p.thinking_off:
            # gemini-2.5-pro: "Unable to submit request because The model does not support
            # setting thinking_budget to 0" (earendil-works/pi#3460, through Code Assist; the
            # Gemini API says "The model does not support setting thinking_budget to 0.").
            # The closing ". Learn more" after that full stop is inferred from the messages
            # below, which wrap a sentence ending in "." the same way.
            self._found(
                f"{where}.thinking_budget",
                "Unable to submit request because The model does not support setting "
                "thinking_budget to 0.. " + _LEARN_MORE,
            )
        elif (
            budget not in (None, 0, -1)
            and p.thinking_budget is not None
            and not p.thinking_budget.contains(budget)
        ):
            # "Unable to submit request because thinking_budget is out of range; supported
            # values are integers from 1 to 24576. Learn more: ..." (lbjlaq/Antigravity-
            # Manager#1384; su-kaka/gcli2api#108 for gemini-2.5-flash given 32768). Each
            # model's bounds, with their sources, are in models.json.
            rng = p.thinking_budget
            self._found(
                f"{where}.thinking_budget",
                "Unable to submit request because thinking_budget is out of range; supported "
                f"values are integers from {_number(rng.min)} to {_number(rng.max - 1)}. "
                + _LEARN_MORE,
            )
        elif wants_thoughts and (not p.thinking or (budget == 0 and p.thinking_off)):
            # includeThoughts where nothing will think: Vertex gemini-2.0-flash
            # (lobehub/lobehub#7985) and gemini-2.5-flash with thinkingBudget 0
            # (deepset-ai/haystack-core-integrations#2845), the doubled full stop included.
            self._found(
                f"{where}.include_thoughts",
                "Unable to submit request because Thinking_config.include_thoughts is only "
                "enabled when thinking is enabled.. " + _LEARN_MORE,
            )

"""Request validation: the same verdict, status and wording as Vertex, for Python, CLI and server.

``validate_request`` runs the two stages the real service runs:

1. the front end's proto3 JSON parse (``protojson``): syntax, unknown names, types, enums;
2. the model's own checks: contents and parts present, roles, one data field per part, media
   types and sizes, function declarations, generation parameter ranges per model, features
   the model lacks, the input token limit.

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
_ROLES = frozenset({"user", "model"})
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
        raise InvalidArgument(violations=semantic)
    return request


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


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
        if check_role and role and role.lower() not in _ROLES:
            self._found(f"{path}.role", "Please use a valid role: user, model.")
        parts = content.get("parts", ())
        if not parts:
            self._found(
                f"{path}.parts",
                "Unable to submit request because it must include at least one parts field, "
                "which describes the prompt input. " + _LEARN_MORE,
            )
        for j, part in enumerate(parts):
            self._part(part, f"{path}.parts[{j}]")

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

    def _part(self, part: Mapping[str, Any], path: str) -> None:
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
        if kind == "text" and part["text"] == "":
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
                self._found(
                    f"{dpath}.name",
                    f"Invalid function name {name!r}. Must start with a letter or an "
                    "underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons "
                    "and dashes, with a maximum length of 128.",
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
        thinking = gc.get("thinkingConfig", _NO_FIELDS)
        wants_thoughts = thinking.get("includeThoughts") or thinking.get("thinkingBudget", 0) > 0
        if wants_thoughts and not p.thinking:
            self._found(
                "generation_config.thinking_config",
                f"Unable to submit request because the model {p.family} does not support "
                "thinking. Remove thinkingConfig and try again. " + _LEARN_MORE,
            )
        if ("responseSchema" in gc or "responseJsonSchema" in gc) and not p.response_schema:
            self._found(
                "generation_config.response_schema",
                f"Unable to submit request because the model {p.family} does not support "
                "responseSchema. Remove responseSchema and try again. " + _LEARN_MORE,
            )

"""Valid request bodies for the conformance strategies: drawn canonical, then encoded.

A body is drawn as the *canonical* request (camelCase keys, lists, enum names: what
``validate_request`` returns for it) by ``Builder``, within one model's profile, and sent in a
``Form`` by ``encode``: names in camelCase, snake_case or a mix; a one-element list as the bare
element; enums as numbers. Both walk the compiled message types of
``mockvertex.contract.protojson``, so a field the API version lacks is never drawn.

Kept to what real Vertex accepts as far as the evidence goes, so the same bodies can run
against it: user turns lead with text; turns alternate user and model and end with a user turn;
a function call turn is followed by a response turn with one response per call; media parts
are images encoded here, text, or Google's public sample files; safety settings use the four
long-standing categories and no restricted threshold.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

from hypothesis import strategies as st

from mockvertex.contract import protojson
from mockvertex.contract.profiles import ModelProfile, ProfileRegistry, Range

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy

    from mockvertex.contract.protojson import _Field

__all__ = [
    "FUNCTION_NAME",
    "IDENT",
    "SAMPLE_FILES",
    "SCALAR_TYPES",
    "STOP",
    "TEXT",
    "Builder",
    "Casing",
    "Context",
    "Form",
    "Types",
    "b64",
    "context",
    "drawn_requests",
    "encode",
    "form_of",
    "message_of",
    "name_for",
    "number_text",
    "word",
]

Casing = Literal["camel", "snake", "mixed"]
_CASINGS = ("camel", "snake", "mixed")
_METHODS = ("generateContent", "countTokens")
_API_VERSIONS = ("v1", "v1beta1")


# ------------------------------------------------------------------------------------- context

# Public sample files in Google's own bucket, as the Vertex samples use them
# (GoogleCloudPlatform/python-docs-samples genai/text_generation/: textgen_with_multi_img.py,
# textgen_with_pdf.py, textgen_with_gcs_audio.py, textgen_with_mute_video.py), so a fileData
# part a live target must fetch exists and is readable.
SAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("image/jpeg", "gs://cloud-samples-data/generative-ai/image/scones.jpg"),
    ("image/jpeg", "gs://cloud-samples-data/generative-ai/image/latte.jpg"),
    ("application/pdf", "gs://cloud-samples-data/generative-ai/pdf/1706.03762v7.pdf"),
    ("audio/mpeg", "gs://cloud-samples-data/generative-ai/audio/pixel.mp3"),
    ("video/mp4", "gs://cloud-samples-data/generative-ai/video/ad_copy_from_video.mp4"),
)
# The families whose Vertex model cards list code execution (Gemini 2.0 Flash and the 2.5
# models). models.json has no such limit yet; this belongs there.
_CODE_EXECUTION = frozenset(
    {"gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"}
)
# Safety settings a live request may carry: the four categories every Gemini model has
# filtered since 1.0 (the image, jailbreak and deprecated civic-integrity ones are newer or
# model-specific), and thresholds short of BLOCK_NONE, which Vertex restricts per account
# ("User has requested a restricted HarmBlockThreshold setting BLOCK_NONE", wire.md §3), and
# OFF, which older models refuse.
_SAFE_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)
_SAFE_THRESHOLDS = ("BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH")


@cache
def _builtin_profiles() -> ProfileRegistry:
    return ProfileRegistry.builtin()


@dataclass(frozen=True)
class Types:
    """The message types a request is built from, looked up once per root."""

    root: protojson.MessageType
    content: protojson.MessageType
    part: protojson.MessageType
    generation_config: protojson.MessageType

    @classmethod
    def of(cls, root: protojson.MessageType) -> Types:
        content = message_of(root, "contents")
        return cls(
            root=root,
            content=content,
            part=message_of(content, "parts"),
            generation_config=message_of(root, "generationConfig"),
        )


def message_of(msg: protojson.MessageType, name: str) -> protojson.MessageType:
    sub = msg.fields[name].message
    assert sub is not None, f"{msg.full_name}.{name} is not a message"
    return sub


@dataclass(frozen=True)
class Context:
    model: str
    api_version: str
    method: str
    profile: ModelProfile
    types: Types
    code_execution: bool
    max_turns: int
    max_parts: int

    @property
    def root(self) -> protojson.MessageType:
        return self.types.root

    @property
    def root_name(self) -> str:
        return "CountTokensRequest" if self.method == "countTokens" else "GenerateContentRequest"

    def has(self, name: str) -> bool:
        return name in self.root.fields


@dataclass(frozen=True)
class Form:
    casing: Casing
    single_objects: bool
    int_enums: bool


def context(
    model: str,
    api_version: str,
    method: str,
    profiles: ProfileRegistry | None,
    max_turns: int,
    max_parts: int,
) -> Context:
    if api_version not in _API_VERSIONS:
        raise ValueError(f"api_version must be one of {', '.join(_API_VERSIONS)}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, not {method!r}")
    if max_turns < 0 or max_parts < 1:
        raise ValueError("max_turns must be at least 0 and max_parts at least 1")
    profile = (profiles or _builtin_profiles()).resolve(model)
    root_name = "CountTokensRequest" if method == "countTokens" else "GenerateContentRequest"
    types = Types.of(protojson.message_type(f"{api_version}/{root_name}"))
    return Context(
        model=model,
        api_version=api_version,
        method=method,
        profile=profile,
        types=types,
        code_execution=profile.family in _CODE_EXECUTION and not profile.text_only,
        max_turns=max_turns,
        max_parts=max_parts,
    )


def form_of(casing: str, *, single_objects: bool, int_enums: bool) -> Form:
    if casing not in _CASINGS:
        raise ValueError(f"casing must be one of {', '.join(_CASINGS)}, not {casing!r}")
    return Form(casing=cast(Casing, casing), single_objects=single_objects, int_enums=int_enums)


# ------------------------------------------------------------------------------ small values

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n"),
    min_size=1,
    max_size=24,
).filter(lambda s: s.strip() != "")
STOP = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


def word(first: str, rest: str, most: int, least: int = 0) -> SearchStrategy[str]:
    """Words of one character of ``first`` (none if it is empty) and up to ``most`` of
    ``rest``: a regex as a strategy, several times faster to draw and shrink than
    ``st.from_regex``."""
    tail = st.text(rest, min_size=least, max_size=most)
    if not first:
        return tail
    return st.builds(str.__add__, st.sampled_from(first), tail)


IDENT = word(_LOWER + "_", _LOWER + _DIGITS + "_", 9)  # [a-z_][a-z0-9_]{0,9}
# [A-Za-z_][A-Za-z0-9_.:-]{0,15}: what FunctionDeclaration.name allows, shorter
FUNCTION_NAME = word(_UPPER + _LOWER + "_", _UPPER + _LOWER + _DIGITS + "_.:-", 15)
_LABEL_KEY = word(_LOWER, _LOWER + _DIGITS + "_-", 9)
_LABEL_VALUE = word("", _LOWER + _DIGITS + "_-", 9)
SCALAR_TYPES = ("STRING", "INTEGER", "NUMBER", "BOOLEAN")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour: a live target decodes it as the image it says it is."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _inclusive_top(rng: Range) -> float:
    """The largest value the docs allow: the profiles store ``max`` exclusive, as the server
    words it ("to 2.0001 (exclusive)" for a documented 2.0)."""
    top = float(rng.max)
    return top - 1 if top.is_integer() else round(top - 0.0001, 4)


def number_text(x: float) -> str:
    """A number as the range messages print it: ``3``, ``2.5``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# ----------------------------------------------------------------------------- media budget


@dataclass
class _Media:
    """What media a request may still add within the model's per-request limits."""

    profile: ModelProfile
    images: int = 0
    inline_images: int = 0
    videos: int = 0
    audio: int = 0
    pdfs: int = 0

    def _room(self, count: int, limit: int | None) -> bool:
        return limit is None or count < limit

    def kinds(self) -> list[str]:
        p = self.profile
        if p.text_only:
            return []
        mimes = p.mime_types
        exclusive_video = p.media_exclusive and self.images > 0
        exclusive_image = p.media_exclusive and self.videos > 0
        image_room = self._room(self.images, p.max_images) and not exclusive_image
        out = []
        if "text/plain" in mimes:
            out.append("inline_text")
        if (
            "image/png" in mimes
            and image_room
            and self._room(self.inline_images, p.max_inline_images)
        ):
            out.append("inline_png")
        if "image/jpeg" in mimes and image_room:
            out.append("file_image")
        if "application/pdf" in mimes and self._room(self.pdfs, p.max_pdfs):
            out.append("file_pdf")
        if "audio/mpeg" in mimes and self._room(self.audio, p.max_audio):
            out.append("file_audio")
        if "video/mp4" in mimes and self._room(self.videos, p.max_videos) and not exclusive_video:
            out.append("video")
        return out

    def take(self, kind: str) -> None:
        if kind == "inline_png":
            self.images += 1
            self.inline_images += 1
        elif kind == "file_image":
            self.images += 1
        elif kind == "file_pdf":
            self.pdfs += 1
        elif kind == "file_audio":
            self.audio += 1
        elif kind == "video":
            self.videos += 1


# ---------------------------------------------------------------------------- valid requests


class Builder:
    """Draws one canonical request. ``need`` names features the request must have (for a
    mutation that needs a site); everything else is optional and shrinks away."""

    def __init__(self, draw: DrawFn, ctx: Context, need: frozenset[str] = frozenset()) -> None:
        self.draw = draw
        self.ctx = ctx
        self.p = ctx.profile
        self.need = need
        self.media = _Media(ctx.profile)

    def flag(self, feature: str = "") -> bool:
        if feature and feature in self.need:
            return True
        return self.draw(st.booleans())

    # -- the request
    def request(self) -> dict[str, Any]:
        ctx, p = self.ctx, self.p
        wants_calls = bool(self.need & {"declarations", "call"})
        decls: list[dict[str, Any]] = []
        if ctx.has("tools") and p.function_calling and (wants_calls or self.flag()):
            decls = self.declarations()
        code = not decls and ctx.code_execution and ctx.has("tools") and self.flag()
        body: dict[str, Any] = {"contents": self.conversation(decls, code=code)}
        if ctx.has("systemInstruction") and p.system_instruction and self.flag("system"):
            body["systemInstruction"] = {"parts": self.text_parts(2)}
        tools: list[dict[str, Any]] = []
        if decls:
            tools.append({"functionDeclarations": decls})
        if code:
            tools.append({"codeExecution": {}})
        if tools:
            body["tools"] = tools
        if decls and ctx.has("toolConfig") and self.flag():
            body["toolConfig"] = self.tool_config(decls)
        wants_enum = "enum" in self.need
        if ctx.has("safetySettings") and self.flag("enum" if wants_enum else ""):
            body["safetySettings"] = self.safety_settings()
        enum_in_config = wants_enum and not ctx.has("safetySettings")
        if ctx.has("generationConfig") and (enum_in_config or self.flag("generation_config")):
            body["generationConfig"] = self.generation_config(modalities=enum_in_config)
        if ctx.has("labels") and self.flag():
            body["labels"] = self.draw(
                st.dictionaries(_LABEL_KEY, _LABEL_VALUE, min_size=1, max_size=3)
            )
        return body

    # -- turns
    def conversation(self, decls: list[dict[str, Any]], *, code: bool) -> list[dict[str, Any]]:
        exchanges = self.draw(st.integers(0, self.ctx.max_turns))
        if "call" in self.need:
            exchanges = max(exchanges, 1)
        contents = [self.user_turn(first=True)]
        for k in range(exchanges):
            forced = "call" in self.need and k == 0
            if decls and (forced or self.draw(st.booleans())):
                call = self.call_turn(decls)
                contents += [call, self.response_turn(call)]
            else:
                contents += [self.model_turn(code=code), self.user_turn()]
        return contents

    def text_parts(self, most: int) -> list[dict[str, Any]]:
        texts = self.draw(st.lists(TEXT, min_size=1, max_size=most))
        return [{"text": t} for t in texts]

    def user_turn(self, *, first: bool = False) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": self.draw(TEXT)}]
        extra = self.draw(st.integers(0, self.ctx.max_parts - 1))
        if first and "media" in self.need and self.media.kinds():
            extra = max(extra, 1)
        for _ in range(extra):
            kinds = ["text", *self.media.kinds()]
            if first and "media" in self.need and len(parts) == 1:
                kinds = kinds[1:]
            kind = self.draw(st.sampled_from(kinds))
            parts.append(self.part(kind))
        return {"role": "user", "parts": parts}

    def part(self, kind: str) -> dict[str, Any]:
        self.media.take(kind)
        if kind == "text":
            return {"text": self.draw(TEXT)}
        if kind == "inline_text":
            data = self.draw(TEXT).encode()
            return {"inlineData": {"mimeType": "text/plain", "data": b64(data)}}
        if kind == "inline_png":
            size = st.integers(1, 8)
            rgb = self.draw(
                st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
            )
            image = _png(self.draw(size), self.draw(size), rgb)
            return {"inlineData": {"mimeType": "image/png", "data": b64(image)}}
        mime = {
            "file_image": "image/jpeg",
            "file_pdf": "application/pdf",
            "file_audio": "audio/mpeg",
            "video": "video/mp4",
        }[kind]
        uri = self.draw(st.sampled_from([u for m, u in SAMPLE_FILES if m == mime]))
        part: dict[str, Any] = {"fileData": {"mimeType": mime, "fileUri": uri}}
        if kind == "video" and self.flag():
            start = self.draw(st.integers(0, 4))
            end = start + self.draw(st.integers(1, 5))
            half = self.draw(st.sampled_from(["", ".5"]))
            part["videoMetadata"] = {"startOffset": f"{start}s", "endOffset": f"{end}{half}s"}
        return part

    def model_turn(self, *, code: bool) -> dict[str, Any]:
        if code and self.flag():
            a, b = self.draw(st.integers(0, 99)), self.draw(st.integers(0, 99))
            parts: list[dict[str, Any]] = [
                {"executableCode": {"language": "PYTHON", "code": f"print({a} + {b})"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": f"{a + b}\n"}},
            ]
            if self.flag():
                parts.append({"text": self.draw(TEXT)})
            return {"role": "model", "parts": parts}
        return {"role": "model", "parts": self.text_parts(2)}

    def call_turn(self, decls: list[dict[str, Any]]) -> dict[str, Any]:
        chosen = self.draw(
            st.lists(st.sampled_from(range(len(decls))), min_size=1, max_size=min(3, len(decls)))
        )
        parts: list[dict[str, Any]] = []
        if self.flag():
            parts.append({"text": self.draw(TEXT)})
        for i in chosen:
            decl = decls[i]
            args = self.value(decl["parameters"]) if "parameters" in decl else {}
            parts.append({"functionCall": {"name": decl["name"], "args": args}})
        return {"role": "model", "parts": parts}

    def response_turn(self, call: dict[str, Any]) -> dict[str, Any]:
        parts = []
        for part in call["parts"]:
            if "functionCall" in part:
                result = self.draw(st.one_of(TEXT, st.integers(-99, 99), st.booleans()))
                name = part["functionCall"]["name"]
                parts.append({"functionResponse": {"name": name, "response": {"result": result}}})
        return {"role": "user", "parts": parts}

    # -- function declarations and their schemas
    def declarations(self) -> list[dict[str, Any]]:
        names = self.draw(
            st.lists(FUNCTION_NAME, min_size=1, max_size=3, unique_by=lambda n: n.lower())
        )
        decls = []
        for d, name in enumerate(names):
            decl: dict[str, Any] = {"name": name}
            if self.flag():
                decl["description"] = self.draw(TEXT)
            if self.flag("declarations" if d == 0 else ""):
                decl["parameters"] = self.object_schema(depth=1)
            decls.append(decl)
        return decls

    def object_schema(self, depth: int) -> dict[str, Any]:
        names = self.draw(st.lists(IDENT, min_size=1, max_size=3, unique=True))
        schema: dict[str, Any] = {
            "type": "OBJECT",
            "properties": {name: self.schema(depth + 1) for name in names},
        }
        required = [n for n in names if self.draw(st.booleans())]
        if required:
            schema["required"] = required
        return schema

    def schema(self, depth: int) -> dict[str, Any]:
        kinds = [*SCALAR_TYPES, "ARRAY", *(["OBJECT"] if depth < 3 else [])]
        kind = self.draw(st.sampled_from(kinds))
        if kind == "OBJECT":
            return self.object_schema(depth)
        if kind == "ARRAY":
            return {"type": "ARRAY", "items": {"type": self.draw(st.sampled_from(SCALAR_TYPES))}}
        schema: dict[str, Any] = {"type": kind}
        if self.flag():
            schema["description"] = self.draw(TEXT)
        if kind == "STRING" and self.flag():
            schema["enum"] = self.draw(st.lists(IDENT, min_size=1, max_size=3, unique=True))
        return schema

    def value(self, schema: Mapping[str, Any]) -> Any:
        """A JSON value that fits ``schema`` (function call arguments)."""
        kind = schema["type"]
        if kind == "OBJECT":
            required = set(schema.get("required", ()))
            return {
                name: self.value(sub)
                for name, sub in schema["properties"].items()
                if name in required or self.draw(st.booleans())
            }
        if kind == "ARRAY":
            count = self.draw(st.integers(0, 2))
            return [self.value(schema["items"]) for _ in range(count)]
        if kind == "STRING":
            if "enum" in schema:
                return self.draw(st.sampled_from(schema["enum"]))
            return self.draw(TEXT)
        if kind == "INTEGER":
            return self.draw(st.integers(-1000, 1000))
        if kind == "NUMBER":
            return self.draw(st.integers(-1000, 1000)) / 4
        return self.draw(st.booleans())

    def tool_config(self, decls: list[dict[str, Any]]) -> dict[str, Any]:
        mode = self.draw(st.sampled_from(["AUTO", "ANY", "NONE"]))
        config: dict[str, Any] = {"mode": mode}
        if mode == "ANY" and self.flag():
            names = [d["name"] for d in decls]
            config["allowedFunctionNames"] = self.draw(
                st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)
            )
        return {"functionCallingConfig": config}

    # -- settings
    def safety_settings(self) -> list[dict[str, Any]]:
        known = self.ctx.root.fields["safetySettings"].message
        assert known is not None
        category = known.fields["category"].enum
        assert category is not None
        categories = [c for c in _SAFE_CATEGORIES if c in category.number_of]
        chosen = self.draw(st.lists(st.sampled_from(categories), min_size=1, unique=True))
        return [
            {"category": c, "threshold": self.draw(st.sampled_from(_SAFE_THRESHOLDS))}
            for c in chosen
        ]

    def real(self, rng: Range) -> float:
        """A value in ``rng`` on a grid of hundredths (exact in float32 for a live target)."""
        low, top = float(rng.min), _inclusive_top(rng)
        steps = round((top - low) / 0.05)
        return round(low + 0.05 * self.draw(st.integers(0, steps)), 2)

    def whole(self, rng: Range) -> int:
        return self.draw(st.integers(int(rng.min), int(_inclusive_top(rng))))

    def generation_config(self, *, modalities: bool = False) -> dict[str, Any]:
        p = self.p
        gc: dict[str, Any] = {}
        if self.flag():
            gc["temperature"] = self.real(p.temperature)
        if self.flag():
            gc["topP"] = self.real(p.top_p)
        if p.top_k is not None and self.flag():
            gc["topK"] = self.whole(p.top_k)
        if self.flag():
            gc["candidateCount"] = self.whole(p.candidate_count)
        if self.flag():
            gc["maxOutputTokens"] = self.whole(p.max_output_tokens)
        if p.max_stop_sequences and self.flag():
            gc["stopSequences"] = self.draw(
                st.lists(STOP, min_size=1, max_size=p.max_stop_sequences, unique=True)
            )
        if self.flag():
            gc["seed"] = self.draw(st.integers(-(2**31), 2**31 - 1))
        mimes = sorted(
            p.response_mime_types - ({"text/x.enum"} if not p.response_schema else set())
        )
        if mimes and self.flag():
            mime = self.draw(st.sampled_from(mimes))
            gc["responseMimeType"] = mime
            if mime == "text/x.enum":
                values = self.draw(st.lists(IDENT, min_size=1, max_size=3, unique=True))
                gc["responseSchema"] = {"type": "STRING", "enum": values}
            elif mime == "application/json" and p.response_schema and self.flag():
                gc["responseSchema"] = self.object_schema(depth=2)
        if p.thinking and self.flag():
            gc["thinkingConfig"] = self.thinking()
        if modalities:
            gc["responseModalities"] = ["TEXT"]
        return gc

    def thinking(self) -> dict[str, Any]:
        p = self.p
        config: dict[str, Any] = {}
        if self.flag():
            fixed = [-1, *([0] if p.thinking_off else [])]
            budgets: list[SearchStrategy[int]] = [st.sampled_from(fixed)]
            if p.thinking_budget is not None:
                budgets.insert(
                    0, st.integers(int(p.thinking_budget.min), int(p.thinking_budget.max) - 1)
                )
            config["thinkingBudget"] = self.draw(st.one_of(budgets))
        if config.get("thinkingBudget") != 0 and self.flag():
            config["includeThoughts"] = self.draw(st.booleans())
        return config


# ---------------------------------------------------------------------------------- encoding


def name_for(draw: DrawFn, f: _Field, casing: Casing) -> str:
    if casing == "camel" or f.json_name == f.proto_name:
        return f.json_name
    if casing == "snake":
        return f.proto_name
    return f.proto_name if draw(st.booleans()) else f.json_name


def encode(
    draw: DrawFn, obj: Mapping[str, Any], msg: protojson.MessageType, form: Form
) -> dict[str, Any]:
    """A canonical message as sent in ``form``: names cased, lone list items as bare objects,
    enums as numbers. Keys the message lacks (never in a canonical body) pass unchanged."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        f = msg.fields.get(key)
        if f is None:
            out[key] = value
            continue
        out[name_for(draw, f, form.casing)] = _encode_field(draw, f, value, form)
    return out


def _encode_field(draw: DrawFn, f: _Field, value: Any, form: Form) -> Any:
    if f.repeated and isinstance(value, list):
        items = [_encode_single(draw, f, v, form) for v in value]
        if (
            form.single_objects
            and len(items) == 1
            and f.kind != "value"
            and not isinstance(items[0], list)
            and draw(st.booleans())
        ):
            return items[0]
        return items
    return _encode_single(draw, f, value, form)


def _encode_single(draw: DrawFn, f: _Field, value: Any, form: Form) -> Any:
    if f.kind == "message" and f.message is not None and isinstance(value, Mapping):
        return encode(draw, value, f.message, form)
    if f.kind == "enum" and f.enum is not None and form.int_enums and isinstance(value, str):
        return f.enum.number_of.get(value, value)
    if f.kind == "map" and f.map_value is not None and isinstance(value, Mapping):
        return {k: _encode_single(draw, f.map_value, v, form) for k, v in value.items()}
    return value


@st.composite
def drawn_requests(draw: DrawFn, ctx: Context, form: Form, *, canonical: bool = False) -> Any:
    body = Builder(draw, ctx).request()
    sent = encode(draw, body, ctx.root, form)
    return (body, sent) if canonical else sent

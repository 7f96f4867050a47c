"""Model profiles: each Gemini family's limits, loaded from cited JSON, and model-name resolution.

The built-in profiles live in ``mockvertex/schemas/models.json``; user files in the same format
(``model-profiles.schema.json``) are merged over them. Ranges follow the server's wording:
``min`` inclusive, ``max`` exclusive ("from 1 (inclusive) to 41 (exclusive)").
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ValidationError,
    best_match,
)

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError, NotFound

__all__ = ["ModelProfile", "ProfileRegistry", "Range"]

SCHEMA_NAME = "model-profiles.schema.json"
BUILTIN_FILE = "mockvertex/schemas/models.json"
NOT_FOUND_MESSAGE = (
    "Publisher Model `{resource}` was not found or your project does not have access to it. "
    "Please ensure you are using a valid model version. For more information, see: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
)
DEFAULT_RESOURCE = "projects/PROJECT/locations/LOCATION/publishers/google/models/{model}"

# A versioned name is "<family>-<suffix>": a listed three-digit stable version, or a
# preview/experimental/latest tag ("preview-05-20", "exp-03-25", "latest").
_STABLE = re.compile(r"[0-9]{3}")
_TAGGED = re.compile(r"(?:preview|exp)(?:-[a-z0-9][a-z0-9.-]*)?|latest")


@dataclass(frozen=True)
class Range:
    """A numeric range as the server states it: ``min`` inclusive, ``max`` exclusive."""

    min: float
    max: float

    def contains(self, x: float) -> bool:
        return self.min <= x < self.max


@dataclass(frozen=True)
class ModelProfile:
    """The limits of one model as requested (a family, or one of its versions)."""

    family: str
    model_version: str
    input_token_limit: int
    max_output_tokens: Range
    default_max_output_tokens: int
    temperature: Range
    top_p: Range
    top_k: Range | None
    candidate_count: Range
    max_stop_sequences: int
    max_images: int | None
    max_videos: int | None
    max_audio: int | None
    max_pdfs: int | None
    inline_data_max_bytes: int
    mime_types: frozenset[str]
    text_only: bool
    system_instruction: bool
    response_mime_types: frozenset[str]
    response_schema: bool
    function_calling: bool
    thinking: bool
    max_inline_images: int | None = None
    media_exclusive: bool = False
    thinking_budget: Range | None = None
    thinking_off: bool = True
    default_temperature: float | None = None
    default_top_p: float | None = None
    default_top_k: float | None = None
    sources: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )


def _range(value: Any) -> Range:
    return Range(min=value["min"], max=value["max"])


def _optional_range(value: Any) -> Range | None:
    return None if value is None else _range(value)


def _mimes(value: Any) -> frozenset[str]:
    return frozenset(value)


def _same(value: Any) -> Any:
    return value


# JSON limit name -> (ModelProfile attribute, converter). The schema lists the same names.
_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "inputTokenLimit": ("input_token_limit", int),
    "maxOutputTokens": ("max_output_tokens", _range),
    "defaultMaxOutputTokens": ("default_max_output_tokens", int),
    "temperature": ("temperature", _range),
    "defaultTemperature": ("default_temperature", _same),
    "topP": ("top_p", _range),
    "defaultTopP": ("default_top_p", _same),
    "topK": ("top_k", _optional_range),
    "defaultTopK": ("default_top_k", _same),
    "candidateCount": ("candidate_count", _range),
    "maxStopSequences": ("max_stop_sequences", int),
    "maxImages": ("max_images", _same),
    "maxVideos": ("max_videos", _same),
    "maxAudio": ("max_audio", _same),
    "maxPdfs": ("max_pdfs", _same),
    "maxInlineImages": ("max_inline_images", _same),
    "mediaExclusive": ("media_exclusive", bool),
    "inlineDataMaxBytes": ("inline_data_max_bytes", int),
    "mimeTypes": ("mime_types", _mimes),
    "textOnly": ("text_only", bool),
    "systemInstruction": ("system_instruction", bool),
    "responseMimeTypes": ("response_mime_types", _mimes),
    "responseSchema": ("response_schema", bool),
    "functionCalling": ("function_calling", bool),
    "thinking": ("thinking", bool),
    "thinkingBudget": ("thinking_budget", _optional_range),
    "thinkingOff": ("thinking_off", bool),
}
# Limits a profile may leave out (the schema requires every other one): the ModelProfile
# default applies, and a user file written before they existed still loads.
_OPTIONAL = frozenset({"thinkingBudget", "thinkingOff"})
_RANGES = ("maxOutputTokens", "temperature", "topP", "topK", "candidateCount", "thinkingBudget")


@dataclass(frozen=True)
class _Override:
    limits: Mapping[str, Any]
    sources: Mapping[str, str]


@dataclass(frozen=True)
class _Entry:
    """One family as merged from its files: every limit present, each with a source."""

    family: str
    versions: tuple[str, ...]
    model_version: str
    limits: Mapping[str, Any]
    sources: Mapping[str, str]
    overrides: Mapping[str, _Override]

    def profile(self, suffix: str | None, requested: str) -> ModelProfile:
        limits = dict(self.limits)
        sources = dict(self.sources)
        override = self.overrides.get(suffix) if suffix is not None else None
        if override is not None:
            limits.update(override.limits)
            sources.update(override.sources)
        stable = suffix is not None and _STABLE.fullmatch(suffix) is not None
        kwargs = {
            attr: convert(limits[name])
            for name, (attr, convert) in _FIELDS.items()
            if name in limits or name not in _OPTIONAL
        }
        return ModelProfile(
            family=self.family,
            model_version=requested if stable else self.model_version,
            sources=MappingProxyType(sources),
            **kwargs,
        )


_RESOLVED_CACHE_SIZE = 1024


class ProfileRegistry:
    """The known model families; resolves model IDs to profiles. Immutable."""

    def __init__(self, entries: Mapping[str, _Entry]) -> None:
        self._entries = dict(entries)
        # Longest family first, so "gemini-2.0-flash-lite-001" never lands on "gemini-2.0-flash".
        self._by_length = sorted(self._entries, key=lambda f: (-len(f), f))
        # The registry never changes, so a resolved profile can be reused (every request
        # resolves its model); bounded, since tagged names (-preview-...) are open-ended.
        self._resolved: dict[str, ModelProfile] = {}

    @classmethod
    def builtin(cls) -> ProfileRegistry:
        """The profiles shipped with mockvertex (validated like any user file)."""
        data = resources.data("schemas", "models.json")
        return cls({})._merged(data, BUILTIN_FILE)

    def with_files(self, *paths: str | os.PathLike[str]) -> ProfileRegistry:
        """A new registry with each user profile file merged over this one, in order."""
        registry = self
        for path in paths:
            registry = registry._merged(_read_json(path), os.fspath(path))
        return registry

    def _merged(self, data: Any, file: str) -> ProfileRegistry:
        """A new registry with an already-parsed profile document merged over this one."""
        _validate(data, file)
        entries = dict(self._entries)
        for name, raw in data["models"].items():
            entries[name] = _entry(name, raw, entries, file)
        return ProfileRegistry(entries)

    def families(self) -> list[str]:
        return sorted(self._entries)

    def resolve(self, model: str, *, resource: str | None = None) -> ModelProfile:
        """The profile for a model ID (``gemini-1.5-pro``, ``gemini-1.5-pro-002``, ...).

        Raises ``NotFound`` with Vertex's message for an unknown model; ``resource`` is the
        full publisher-model name to quote in it.
        """
        known = self._resolved.get(model)
        if known is not None:
            return known
        profile = self._resolve(model, resource)
        if len(self._resolved) < _RESOLVED_CACHE_SIZE:
            self._resolved[model] = profile
        return profile

    def _resolve(self, model: str, resource: str | None) -> ModelProfile:
        entry = self._entries.get(model)
        if entry is not None:
            return entry.profile(None, model)
        for family in self._by_length:
            if not model.startswith(family + "-"):
                continue
            entry = self._entries[family]
            suffix = model[len(family) + 1 :]
            if (_STABLE.fullmatch(suffix) and suffix in entry.versions) or _TAGGED.fullmatch(
                suffix
            ):
                return entry.profile(suffix, model)
        where = resource if resource is not None else DEFAULT_RESOURCE.format(model=model)
        raise NotFound(NOT_FOUND_MESSAGE.format(resource=where))


# ------------------------------------------------------------------------------------- loading


def _read_json(path: str | os.PathLike[str]) -> Any:
    file = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(file, "", f"cannot read the file: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        rule = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise DataFileError(file, "", rule) from exc


def _entry(name: str, raw: Mapping[str, Any], known: Mapping[str, _Entry], file: str) -> _Entry:
    where = f"models.{name}"
    if raw["family"] != name:
        raise DataFileError(file, f"{where}.family", f"must equal the model's key {name!r}")
    limits: dict[str, Any] = dict(raw["limits"])
    sources = {k: raw.get("sources", {}).get(k, f"user profile file {file}") for k in limits}
    sources.update(raw.get("sources", {}))
    overrides = {
        version: _Override(
            limits=MappingProxyType(dict(o["limits"])),
            sources=MappingProxyType(
                {k: o.get("sources", {}).get(k, f"user profile file {file}") for k in o["limits"]}
            ),
        )
        for version, o in raw.get("versionOverrides", {}).items()
    }
    versions: tuple[str, ...] = tuple(raw.get("versions", ()))
    model_version: str = raw.get("modelVersion", name)
    parent_name = raw.get("extends")
    if parent_name is not None:
        parent = known.get(parent_name)
        if parent is None:
            raise DataFileError(
                file, f"{where}.extends", f"names an unknown family {parent_name!r}"
            )
        limits = {**parent.limits, **limits}
        sources = {**parent.sources, **sources}
        overrides = {**parent.overrides, **overrides}
        if parent_name == name:
            versions = tuple(raw.get("versions", parent.versions))
            model_version = raw.get("modelVersion", parent.model_version)
    _check_limits(limits, f"{where}.limits", file)
    for version, override in overrides.items():
        if version not in versions:
            raise DataFileError(
                file, f"{where}.versionOverrides.{version}", "names a version not in versions"
            )
        _check_limits({**limits, **override.limits}, f"{where}.versionOverrides.{version}", file)
    return _Entry(
        family=name,
        versions=versions,
        model_version=model_version,
        limits=MappingProxyType(limits),
        sources=MappingProxyType(sources),
        overrides=MappingProxyType(overrides),
    )


def _check_limits(limits: Mapping[str, Any], where: str, file: str) -> None:
    """Rules the schema cannot state: non-empty ranges, a default inside its range."""
    for name in _RANGES:
        value = limits.get(name)
        if value is not None and not value["min"] < value["max"]:
            raise DataFileError(file, f"{where}.{name}", "min must be below max (max is exclusive)")
    default = limits.get("defaultMaxOutputTokens")
    allowed = limits.get("maxOutputTokens")
    if default is not None and allowed is not None and not _range(allowed).contains(default):
        raise DataFileError(
            file, f"{where}.defaultMaxOutputTokens", "must lie within maxOutputTokens"
        )


# ---------------------------------------------------------------------------------- validation

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


def _validate(data: Any, file: str) -> None:
    validator = jsonschema.Draft202012Validator(resources.schema(SCHEMA_NAME))
    error = best_match(validator.iter_errors(data))
    if error is not None:
        path, rule = _explain(error)
        raise DataFileError(file, path, rule)


def _explain(error: ValidationError) -> tuple[str, str]:
    """The JSON path of the offending field and the rule it breaks, in plain words."""
    path = list(error.absolute_path)
    kind = error.validator
    if "propertyNames" in error.absolute_schema_path:
        name = str(error.instance)
        return _path([*path, name]), f"is not an allowed name: must be {_describe(error.schema)}"
    if kind == "required":
        missing = re.match(r"'([^']*)'", error.message)
        return _path([*path, missing.group(1) if missing else "?"]), "is required"
    if kind == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extra = sorted(k for k in error.instance if k not in known)
        return _path([*path, extra[0] if extra else "?"]), "is not an allowed field"
    if kind == "uniqueItems":
        return _path(path), "must not repeat items"
    if kind in ("anyOf", "oneOf") and isinstance(error.schema, Mapping):
        options = [_describe(s) for s in error.schema.get(kind, [])]
        return _path(path), "must be " + " or ".join(options)
    if isinstance(error.schema, Mapping) and kind in (
        "type",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "const",
        "enum",
        "pattern",
        "minLength",
    ):
        return _path(path), "must be " + _describe(error.schema)
    return _path(path), error.message


def _describe(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "valid"
    if "title" in schema:
        return str(schema["title"])
    if "$ref" in schema and str(schema["$ref"]).endswith("/range"):
        return "a range {min, max}"
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_WORDS[t] for t in types if t in _TYPE_WORDS]
    bounds = _bounds(schema)
    text = " or ".join(words) if words else "a value"
    if bounds:
        text += " " + " and ".join(bounds)
    if "null" in types:
        text += " or null" if words else ""
        text = text if words else "null"
    return text


def _bounds(schema: Mapping[str, Any]) -> list[str]:
    signs = (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    )
    out = [f"{sign} {schema[key]}" for key, sign in signs if key in schema]
    if "minLength" in schema:
        out.append(f"of at least {schema['minLength']} characters")
    if "pattern" in schema:
        out.append(f"matching {schema['pattern']}")
    return out


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out

"""Cassettes: recorded Vertex exchanges, redacted on write, matched and replayed offline.

A cassette is a versioned JSON document (``mockvertex/schemas/cassette.schema.json``)::

    {"format": 1, "name": "checkout-flow", "entries": [
        {"request": {"apiVersion", "model", "rpc", "framing", "path", "query", "headers",
                     "body"},
         "status": 200, "headers": {"Content-Type": ...}, "framing": "sse",
         "chunks": [{...}, ...], "offsets": [0.21, 0.35, ...], "error": null}]}

``offsets`` are the seconds from the request to each chunk. Every string written passes through
a :class:`Redactor` first: credentials never reach an entry (credential headers and query
parameters are dropped), bearer tokens and API keys found in text are replaced, project ids and
numbers become the stable placeholder ``redacted-project`` (so a replayed request, redacted the
same way, still matches), and user rules rewrite request and response text by regex or by JSON
path. A cassette becomes a scenario document (:func:`to_scenario`): one step per entry in
recording order, each sending its chunks verbatim (``respond.raw``) or its error, paced with
the original, scaled or no timing; the mock's scenario loader validates it as any scenario.

Record modes follow vcrpy's ``record_mode`` (a validating ``str`` enum): ``none`` replays only
and a miss is an error naming the closest entries; ``once`` records into a new cassette and
replays an existing one as ``none`` does; ``new`` replays what matches and records the rest;
``all`` records everything and replays nothing.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError, FailedPrecondition

__all__ = [
    "CASSETTE_FORMAT",
    "PROJECT_PLACEHOLDER",
    "Cassette",
    "CassetteEntry",
    "RecordMode",
    "RedactionRule",
    "Redactor",
    "ReplayMiss",
    "load_cassette",
    "parse_rules",
    "request_key",
    "to_scenario",
]

CASSETTE_FORMAT = 1
PROJECT_PLACEHOLDER = "redacted-project"
_SCHEMA_NAME = "cassette.schema.json"
#: Request and response headers worth keeping; everything else (credentials above all) is
#: dropped on write.
_KEPT_HEADERS = frozenset({"content-type", "retry-after", "content-disposition"})
_SECRET_QUERY = frozenset({"key", "access_token"})
#: Credentials that may hide in text: Google OAuth access tokens (``ya29.``), API keys
#: (``AIza`` and 35 more characters, as Google issues them), any ``Bearer xyz`` value.
_BUILTIN_TEXT = (
    (re.compile(r"ya29\.[A-Za-z0-9_.\-]+"), "redacted-token"),
    (re.compile(r"AIza[0-9A-Za-z_\-]{35}"), "redacted-api-key"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_.\-~+/]+=*"), r"\1redacted-token"),
    (re.compile(r"projects/[0-9]+"), f"projects/{PROJECT_PLACEHOLDER}"),
)
#: Shorter credential values are not searched for in text.
_MIN_SECRET = 6
_PROJECT_IN_PATH = re.compile(r"(/projects/)([^/]+)(/)")


class RecordMode(str, Enum):
    """What a proxy with a cassette does with each request (vcrpy's record modes)."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new"
    ALL = "all"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | RecordMode) -> RecordMode:
        """The mode named ``value``, or a ``ValueError`` listing the modes."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"record mode must be one of {names}, not {value!r}") from None


class ReplayMiss(FailedPrecondition):
    """A request no cassette entry matches while the record mode forbids a live call."""


# ---------------------------------------------------------------------------------------------
# Redaction


@dataclass(frozen=True)
class RedactionRule:
    """A user rule: a regex replaced in every string, or a JSON path whose value is replaced.

    ``on`` is ``request``, ``response`` or ``both``. A path is dotted with ``[n]`` or ``[*]``
    for list items: ``contents[*].parts[*].text``.
    """

    replacement: str = "[redacted]"
    pattern: re.Pattern[str] | None = None
    path: tuple[str | int, ...] | None = None
    on: str = "both"

    def applies(self, side: str) -> bool:
        return self.on in ("both", side)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\*|[0-9]+)\]")


def _parse_path(text: str, where: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    pos = 0
    for m in _PATH_PART.finditer(text):
        gap = text[pos : m.start()]
        if gap not in ("", "."):
            raise DataFileError(where, "path", f"cannot read the JSON path {text!r}")
        name, index = m.groups()
        parts.append(name if name is not None else ("*" if index == "*" else int(index)))
        pos = m.end()
    if not parts or pos != len(text):
        raise DataFileError(where, "path", f"cannot read the JSON path {text!r}")
    return tuple(parts)


def parse_rules(raw: Iterable[Mapping[str, Any]], where: str = "<rules>") -> list[RedactionRule]:
    """Rules from mappings ``{"regex"|"path": ..., "replace"?: str, "on"?: side}``."""
    rules: list[RedactionRule] = []
    for i, item in enumerate(raw):
        at = f"[{i}]"
        if not isinstance(item, Mapping) or ("regex" in item) == ("path" in item):
            raise DataFileError(where, at, "a rule is an object with exactly one of regex, path")
        unknown = set(item) - {"regex", "path", "replace", "on"}
        if unknown:
            raise DataFileError(where, at, f"unknown key {sorted(unknown)[0]!r}")
        on = item.get("on", "both")
        if on not in ("request", "response", "both"):
            raise DataFileError(where, f"{at}.on", "must be request, response or both")
        replacement = item.get("replace", "[redacted]")
        if not isinstance(replacement, str):
            raise DataFileError(where, f"{at}.replace", "must be a string")
        if "regex" in item:
            try:
                pattern = re.compile(str(item["regex"]))
            except re.error as exc:
                raise DataFileError(where, f"{at}.regex", f"does not compile: {exc}") from exc
            rules.append(RedactionRule(replacement, pattern=pattern, on=on))
        else:
            path = _parse_path(str(item["path"]), f"{where}{at}")
            rules.append(RedactionRule(replacement, path=path, on=on))
    return rules


class Redactor:
    """Removes secrets from what a cassette keeps; the same input always gives the same output.

    ``learn_project`` adds a project id seen in a path: from then on it is replaced wherever it
    appears in text (a project id may be echoed in a model path or an error message).
    """

    def __init__(self, rules: Sequence[RedactionRule] = (), projects: Iterable[str] = ()) -> None:
        self.rules = tuple(rules)
        self._projects: set[str] = set()
        self._secrets: set[str] = set()
        for project in projects:
            self.learn_project(project)

    def learn_project(self, project: str) -> None:
        if project and project != PROJECT_PLACEHOLDER:
            self._projects.add(project)

    def learn_credentials(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        query: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> None:
        """Remember the credentials a request presents (bearer token, API key, cookie values):
        from then on they are replaced wherever they appear in text, whatever their form."""
        for name, value in headers.items() if isinstance(headers, Mapping) else headers:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                self._learn_secret(value.partition(" ")[2].strip() or value.strip())
            elif lower == "x-goog-api-key":
                self._learn_secret(value.strip())
            elif lower == "cookie":
                for pair in value.split(";"):
                    self._learn_secret(pair.partition("=")[2].strip())
        for name, value in query.items() if isinstance(query, Mapping) else query:
            if name in _SECRET_QUERY:
                self._learn_secret(value.strip())

    def _learn_secret(self, value: str) -> None:
        if len(value) >= _MIN_SECRET:  # a one-letter "secret" would redact every text
            self._secrets.add(value)

    def path(self, path: str) -> str:
        """The URL path with its project replaced by the placeholder."""
        m = _PROJECT_IN_PATH.search(path)
        if m:
            self.learn_project(m.group(2))
        return _PROJECT_IN_PATH.sub(rf"\g<1>{PROJECT_PLACEHOLDER}\g<3>", self.text(path, "request"))

    def text(self, value: str, side: str) -> str:
        for pattern, replacement in _BUILTIN_TEXT:
            value = pattern.sub(replacement, value)
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, "redacted-secret")
        for project in sorted(self._projects, key=len, reverse=True):
            value = value.replace(project, PROJECT_PLACEHOLDER)
        for rule in self.rules:
            if rule.pattern is not None and rule.applies(side):
                value = rule.pattern.sub(rule.replacement, value)
        return value

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {k: self.text(v, "response") for k, v in items if k.lower() in _KEPT_HEADERS}

    def query(self, query: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = query.items() if isinstance(query, Mapping) else query
        return {k: self.text(v, "request") for k, v in items if k not in _SECRET_QUERY}

    def json(self, value: Any, side: str) -> Any:
        """A copy of ``value`` with every string redacted, then the side's path rules."""
        out = self._strings(value, side)
        for rule in self.rules:
            if rule.path is not None and rule.applies(side):
                out = _replace_at(out, rule.path, rule.replacement)
        return out

    def _strings(self, value: Any, side: str) -> Any:
        if isinstance(value, str):
            return self.text(value, side)
        if isinstance(value, Mapping):
            return {self.text(str(k), side): self._strings(v, side) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._strings(v, side) for v in value]
        return value


def _replace_at(value: Any, path: tuple[str | int, ...], replacement: Any) -> Any:
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(head, str) and head != "*" and head in value:
        return {**value, head: _replace_at(value[head], rest, replacement)}
    if isinstance(value, list):
        if head == "*":
            return [_replace_at(v, rest, replacement) for v in value]
        if isinstance(head, int) and 0 <= head < len(value):
            return [
                _replace_at(v, rest, replacement) if i == head else v for i, v in enumerate(value)
            ]
    return value


def _drop_at(value: Any, path: tuple[str | int, ...]) -> Any:
    """``value`` without what ``path`` names (a volatile field left out of matching)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(head, str) and head in value:
        if not rest:
            return {k: v for k, v in value.items() if k != head}
        return {**value, head: _drop_at(value[head], rest)}
    if isinstance(value, list):
        if head == "*":
            return [_drop_at(v, rest) for v in value]
        if isinstance(head, int) and 0 <= head < len(value) and rest:
            return [_drop_at(v, rest) if i == head else v for i, v in enumerate(value)]
    return value


# ---------------------------------------------------------------------------------------------
# Entries and the cassette


@dataclass(frozen=True)
class CassetteEntry:
    """One recorded exchange, already redacted."""

    request: Mapping[str, Any]
    status: int
    framing: str
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: tuple[Any, ...] = ()
    offsets: tuple[float, ...] = ()
    error: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "request": dict(self.request),
            "status": self.status,
            "framing": self.framing,
            "headers": dict(self.headers),
            "chunks": list(self.chunks),
            "offsets": [round(t, 6) for t in self.offsets],
            "error": None if self.error is None else dict(self.error),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CassetteEntry:
        return cls(
            request=raw["request"],
            status=int(raw["status"]),
            framing=str(raw["framing"]),
            headers=dict(raw.get("headers") or {}),
            chunks=tuple(raw.get("chunks") or ()),
            offsets=tuple(float(t) for t in raw.get("offsets") or ()),
            error=raw.get("error"),
        )

    def summary(self) -> str:
        req = self.request
        text = _last_text(req.get("body") or {})
        shown = f" {text[:40]!r}" if text else ""
        return f"{req.get('rpc')} {req.get('model')} {self.framing}{shown} -> {self.status}"


def _last_text(body: Mapping[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if isinstance(content, Mapping) and content.get("role", "user") in ("user", "USER"):
            return "".join(
                p.get("text", "") for p in content.get("parts") or [] if isinstance(p, Mapping)
            )
    return ""


def request_key(
    request: Mapping[str, Any], volatile: Iterable[tuple[str | int, ...]] = ()
) -> dict[str, Any]:
    """What matching compares: the call's target and framing, and its normalized body without
    the ``volatile`` paths (the project is already a placeholder in a redacted request)."""
    body: Any = request.get("body")
    for path in volatile:
        body = _drop_at(body, path)
    return {
        "apiVersion": request.get("apiVersion"),
        "model": request.get("model"),
        "rpc": request.get("rpc"),
        "framing": request.get("framing"),
        "body": body,
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Cassette:
    """A named, ordered list of entries; ``find`` plays each matching entry once, in order,
    then repeats the last one that matched."""

    name: str
    entries: list[CassetteEntry] = field(default_factory=list)
    volatile: tuple[tuple[str | int, ...], ...] = ()
    _played: set[int] = field(default_factory=set, repr=False)

    def find(self, request: Mapping[str, Any]) -> CassetteEntry | None:
        key = _canonical(request_key(request, self.volatile))
        last: int | None = None
        for i, entry in enumerate(self.entries):
            if _canonical(request_key(entry.request, self.volatile)) != key:
                continue
            if i not in self._played:
                self._played.add(i)
                return entry
            last = i
        return None if last is None else self.entries[last]

    def closest(self, request: Mapping[str, Any], n: int = 3) -> list[tuple[int, float]]:
        """The indexes of the ``n`` entries most like ``request`` and their similarity (0-1)."""
        key = _canonical(request_key(request, self.volatile))
        scored = [
            (
                i,
                difflib.SequenceMatcher(
                    None, key, _canonical(request_key(e.request, self.volatile))
                ).ratio(),
            )
            for i, e in enumerate(self.entries)
        ]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:n]

    def miss(self, request: Mapping[str, Any]) -> ReplayMiss:
        """The error a replay-only proxy answers for an unmatched ``request``."""
        target = f"{request.get('rpc')} {request.get('model')} {request.get('framing')}"
        if not self.entries:
            near = "it has no entries"
        else:
            near = "closest: " + "; ".join(
                f"entry {i} ({self.entries[i].summary()}, similarity {score:.2f})"
                for i, score in self.closest(request)
            )
        return ReplayMiss(
            f"No entry of cassette {self.name!r} matches this request ({target}) and the "
            f"record mode is none, so it was not sent upstream; {near}."
        )

    def add(self, entry: CassetteEntry) -> None:
        self.entries.append(entry)
        self._played.add(len(self.entries) - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CASSETTE_FORMAT,
            "name": self.name,
            "entries": [e.to_json() for e in self.entries],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (a temporary file renamed over the old one)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(self.dumps(), encoding="utf-8")
        tmp.replace(target)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(resources.schema(_SCHEMA_NAME))


def _json_path(parts: Iterable[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def load_cassette(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    volatile: Iterable[str] = (),
) -> Cassette:
    """A cassette from a file or mapping, validated; ``DataFileError`` names file, field, rule.

    ``volatile`` lists JSON paths of the request body that matching ignores.
    """
    file = "<mapping>"
    if isinstance(source, Mapping):
        document: Any = source
    else:
        file = str(source)
        try:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(file, "", f"cannot read the file: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise DataFileError(
                file, "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
    errors = list(_validator().iter_errors(document))
    if errors:
        worst = max(errors, key=jsonschema.exceptions.relevance)
        raise DataFileError(file, _json_path(worst.absolute_path), worst.message[:300])
    for i, raw in enumerate(document["entries"]):
        if len(raw.get("offsets") or ()) != len(raw.get("chunks") or ()):
            raise DataFileError(file, f"entries[{i}].offsets", "needs one offset per chunk")
    paths = tuple(_parse_path(p, file) for p in volatile)
    return Cassette(
        name=document["name"],
        entries=[CassetteEntry.from_json(e) for e in document["entries"]],
        volatile=paths,
    )


# ---------------------------------------------------------------------------------------------
# Cassette -> scenario


def _error_step(entry: CassetteEntry) -> dict[str, Any]:
    envelope = entry.error or {}
    err = envelope.get("error", envelope) if isinstance(envelope, Mapping) else {}
    step: dict[str, Any] = {"code": entry.status}
    if isinstance(err, Mapping):
        if isinstance(err.get("status"), str) and err["status"]:
            step["status"] = err["status"]
        if isinstance(err.get("message"), str):
            step["message"] = err["message"]
        details = [d for d in err.get("details") or () if isinstance(d, Mapping) and "@type" in d]
        if details:
            step["details"] = details
    retry_after = {k.lower(): v for k, v in entry.headers.items()}.get("retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        step["retryAfter"] = int(retry_after)
    return step


def to_scenario(cassette: Cassette, *, timing: float | None = 1.0) -> dict[str, Any]:
    """The scenario document that replays ``cassette`` in recording order.

    ``timing`` scales the recorded pacing (1: original, 0.5: twice as fast); None or 0 sends
    every chunk at once. A step carries the delay before its first chunk and the mean gap
    between its chunks (a scenario paces chunks evenly).
    """
    if not cassette.entries:
        raise ValueError(f"cassette {cassette.name!r} has no entries to replay")
    steps: list[dict[str, Any]] = []
    for i, entry in enumerate(cassette.entries):
        step: dict[str, Any] = {"description": f"entry {i}: {entry.summary()}", "times": 1}
        if entry.status >= 400 or not entry.chunks:
            step["error"] = _error_step(entry) if entry.status >= 400 else {"code": 500}
        else:
            step["respond"] = {"raw": list(entry.chunks)}
            if timing and entry.offsets:
                delay: dict[str, Any] = {"firstChunk": round(entry.offsets[0] * timing, 6)}
                if len(entry.offsets) > 1:
                    gaps = (entry.offsets[-1] - entry.offsets[0]) / (len(entry.offsets) - 1)
                    delay["betweenChunks"] = round(max(gaps, 0.0) * timing, 6)
                step["delay"] = delay
        steps.append(step)
    return {
        "format": 1,
        "name": cassette.name,
        "description": f"Replay of cassette {cassette.name} ({len(steps)} exchanges).",
        "steps": steps,
    }

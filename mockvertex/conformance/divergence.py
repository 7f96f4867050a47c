"""The divergence report: how a target differs from the mock's contract, and which of those
differences are known.

Against a non-mock target every exchange the suite makes is also sent to a reference mock in
this process, and both replies are reduced to *observations*: the status, the error's status and
field paths, the media type, a few headers, the framing's byte layout, and the shape of every
chunk (each JSON path with its value normalised first: ids, timestamps, generated text, scores
and counts become ``<string>`` / ``<number>``; enum names and booleans stay). An observation
that differs is a divergence, counted over all exchanges of the same method and mode.

Known divergences come from ``divergences.json`` (name, reason, evidence, and the pattern they
match); the report lists each one found with them, the ones not seen, every property's outcome,
what was not applicable and why, the bodies a target refused that the validator accepts, and
the time each side took to its first body byte. Nothing is left out silently.
"""

from __future__ import annotations

import fnmatch
import json
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockvertex.contract import protojson, resources, wire

if TYPE_CHECKING:
    from mockvertex.conformance.properties import Example
    from mockvertex.conformance.targets import Call, Mode, Reply

__all__ = [
    "Divergence",
    "KnownDivergence",
    "Recorder",
    "known_divergences",
    "observe",
    "render_table",
]

#: Headers whose presence is compared (values vary: dates, timings, versions).
_WATCHED_HEADERS = (
    "content-disposition",
    "vary",
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "retry-after",
)
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class KnownDivergence:
    """A difference accepted for now: its name, why, the evidence, and what it matches.

    ``match`` holds glob patterns over a divergence's fields (``aspect``, ``path``, ``rpc``,
    ``mode``, ``target``, ``mock``) or, for the clients (``scope`` "client"), over a fault
    result's ``property``, ``case`` and ``mode``.
    """

    name: str
    reason: str
    evidence: tuple[str, ...]
    scope: str
    match: Mapping[str, str]

    def matches(self, fields: Mapping[str, Any]) -> bool:
        return all(
            fnmatch.fnmatchcase(str(fields.get(key, "")), pattern)
            for key, pattern in self.match.items()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@cache
def known_divergences() -> tuple[KnownDivergence, ...]:
    """The entries of ``mockvertex/conformance/divergences.json``."""
    document = resources.data("conformance", "divergences.json")
    return tuple(
        KnownDivergence(
            name=str(d["name"]),
            reason=str(d["reason"]),
            evidence=tuple(str(e) for e in d["evidence"]),
            scope=str(d.get("scope", "target")),
            match={str(k): str(v) for k, v in d.get("match", {}).items()},
        )
        for d in document["divergences"]
    )


def known_for(scope: str, fields: Mapping[str, Any]) -> KnownDivergence | None:
    return next((k for k in known_divergences() if k.scope == scope and k.matches(fields)), None)


# --------------------------------------------------------------------------------------------
# Observations


def _shape(value: Any, msg: protojson.MessageType | None, path: str, out: dict[str, str]) -> None:
    """Each leaf path of a chunk with its normalised value; lists as ``[]`` (their items
    merged), free-form JSON (function args, maps) as one ``<json>`` leaf."""
    if isinstance(value, Mapping):
        if not value:
            out[path or "<root>"] = "{}"
        for key, item in value.items():
            f = None if msg is None else (msg.fields.get(key) or msg.lookup.get(key))
            where = f"{path}.{key}" if path else key
            if f is not None and f.kind in ("struct", "value", "map"):
                out[where] = "<json>"
                continue
            sub = f.message if f is not None and f.kind == "message" else None
            enum = f is not None and f.kind == "enum"
            if isinstance(item, list):
                if not item:
                    out[where + "[]"] = "[]"
                for one in item:
                    _leaf(one, sub, where + "[]", out, enum=enum)
            else:
                _leaf(item, sub, where, out, enum=enum)
        return
    _leaf(value, msg, path, out, enum=False)


def _leaf(
    value: Any, msg: protojson.MessageType | None, path: str, out: dict[str, str], *, enum: bool
) -> None:
    if isinstance(value, Mapping):
        _shape(value, msg, path, out)
        return
    if isinstance(value, bool):
        token = "true" if value else "false"
    elif isinstance(value, int | float):
        token = str(value) if enum else "<number>"
    elif isinstance(value, str):
        token = value if enum else "<string>"
    elif value is None:
        token = "null"
    else:
        token = "<json>"
    previous = out.get(path)
    out[path] = token if previous in (None, token) else "|".join(sorted({previous, token}))


def _framing(reply: Reply, mode: Mode) -> str:
    """The byte layout of a 200 body, in words."""
    body = reply.body
    if mode.framing is wire.Framing.SSE:
        decoder = wire.SSEDecoder()
        try:
            decoder.feed(body)
            decoder.close()
        except wire.FramingError as exc:
            return f"broken: {str(exc)[:60]}"
        separators = "+".join(sorted(repr(s)[2:-1] for s in decoder.separators_seen))
        extra = " with comments" if decoder.comments else ""
        extra += " with fields" if decoder.events_with_fields else ""
        return f"data lines ended by {separators or 'nothing'}{extra}"
    if mode.framing is wire.Framing.ARRAY:
        decoder_a = wire.ArrayDecoder()
        try:
            items = decoder_a.feed(body) + decoder_a.close()
        except wire.FramingError as exc:
            return f"broken: {str(exc)[:60]}"
        separator = "\\n,\\r\\n" if body.count(b"\n,\r\n") == max(len(items) - 1, 0) else "other"
        return (
            f"first byte {body[:1]!r}, separator {separator}, ends {body[-2:]!r}, "
            f"{decoder_a.bytes_after_close} bytes after ']'"
        )
    return "pretty (2-space)" if body.startswith(b"{\n  ") else "other layout"


def _stream_semantics(chunks: list[Any]) -> dict[str, str]:
    """What a stream's chunks mean, in words: how text, finishReason and usage are spread."""
    texts: list[str] = []
    cumulative = False
    for chunk in chunks:
        candidates = chunk.get("candidates") if isinstance(chunk, Mapping) else None
        parts = ((candidates or [{}])[0].get("content") or {}).get("parts") or ()
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))
        before = "".join(texts)
        cumulative = cumulative or bool(before and text.startswith(before))
        texts.append(text)
    *earlier, last = chunks

    def finishes(chunk: Any) -> bool:
        return isinstance(chunk, Mapping) and any(
            "finishReason" in c for c in chunk.get("candidates") or ()
        )

    def counted(chunk: Any) -> bool:
        usage = chunk.get("usageMetadata") if isinstance(chunk, Mapping) else None
        return bool(set(usage or {}) - {"trafficType"})

    finish = "earlier chunks too" if any(map(finishes, earlier)) else "last chunk only"
    usage = "earlier chunks too" if any(map(counted, earlier)) else "last chunk only"
    return {
        "stream.text": "cumulative" if cumulative else "deltas",
        "stream.finishReason": finish if finishes(last) else "missing on the last chunk",
        "stream.usage counts": usage if counted(last) else "missing on the last chunk",
    }


def _response_type(rpc: str, api_version: str) -> protojson.MessageType:
    name = "CountTokensResponse" if rpc == "countTokens" else "GenerateContentResponse"
    return protojson.message_type(f"{api_version}/{name}")


def observe(rpc: str, mode: Mode, reply: Reply, api_version: str = "v1") -> dict[str, str]:
    """A reply reduced to what is compared: ``aspect`` -> normalised value."""
    from mockvertex.conformance.properties import reply_verdict

    out: dict[str, str] = {"status": str(reply.status)}
    media = reply.content_type.split(";", 1)[0].strip().lower()
    out["header.content-type"] = media
    for name in _WATCHED_HEADERS:
        if reply.header(name) is not None:
            out[f"header.{name}"] = "present"
    if reply.status != 200:
        verdict = reply_verdict(reply, mode)
        out["error.status"] = verdict.status
        out["error.fields"] = ", ".join(verdict.fields) or "(none)"
        return out
    out["framing"] = _framing(reply, mode)
    try:
        if mode.framing is wire.Framing.SSE:
            chunks = wire.decode_sse(reply.body)
        elif mode.framing is wire.Framing.ARRAY:
            chunks = wire.decode_array(reply.body)
        else:
            chunks = [wire.decode_unary(reply.body)]
    except wire.FramingError:
        return out
    msg = _response_type(rpc, api_version)
    groups: list[tuple[str, list[Any]]]
    if mode.streaming:
        out.update(_stream_semantics(chunks))
        groups = [("last", chunks[-1:])]
        if len(chunks) > 1:
            groups.append(("earlier", chunks[:-1]))
    else:
        groups = [("unary", chunks)]
    for position, members in groups:
        shape: dict[str, str] = {}
        for chunk in members:
            _shape(chunk, msg, "", shape)
        for path, token in shape.items():
            out[f"shape.{position}:{path}"] = token
    return out


# --------------------------------------------------------------------------------------------
# Divergences


@dataclass
class Divergence:
    """One difference between the target and the mock, over every exchange that showed it."""

    rpc: str
    mode: str
    aspect: str
    path: str
    target: str
    mock: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    known: KnownDivergence | None = None

    def fields(self) -> dict[str, str]:
        return {
            "rpc": self.rpc,
            "mode": self.mode,
            "aspect": self.aspect,
            "path": self.path,
            "target": self.target,
            "mock": self.mock,
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.fields(), "count": self.count, "examples": self.examples}
        out["known"] = None if self.known is None else self.known.to_json()
        return out


def _split(key: str) -> tuple[str, str]:
    """An observation key as (aspect, path): ``shape.last:candidates[].index`` -> both parts."""
    aspect, colon, path = key.partition(":")
    return (aspect, path) if colon else (key, "")


@dataclass
class _Refusal:
    prop: str
    example: str
    rpc: str
    mode: str
    verdict: str


@dataclass
class _Outcome:
    name: str
    outcome: str  # passed | failed | not applicable | known divergence
    detail: str = ""
    nodeid: str = ""


class Recorder:
    """Collects a run's divergences, refusals and property outcomes, and writes the report."""

    def __init__(self, target: Mapping[str, Any], *, profile: str, api_version: str = "v1"):
        self.target = dict(target)
        self.profile = profile
        self.api_version = api_version
        self.started = time.time()
        self.exchanges = 0
        self._divergences: dict[tuple[str, str, str, str], Divergence] = {}
        self._refusals: list[_Refusal] = []
        self._outcomes: list[_Outcome] = []
        self._clients: list[dict[str, Any]] = []
        #: (rpc, mode) -> side -> [(seconds to the first body byte, reads of the body)]
        self._timing: dict[tuple[str, str], dict[str, list[tuple[float, int]]]] = {}

    # -- what the properties report
    def compare(self, example: Example, call: Call, target: Reply, mock: Reply) -> None:
        """Record how the target's reply to ``call`` differs from the reference mock's."""
        self.exchanges += 1
        self._time(call, target, mock)
        seen = observe(call.rpc, call.mode, target, self.api_version)
        expected = observe(call.rpc, call.mode, mock, self.api_version)
        if seen["status"] != expected["status"]:  # compare the errors, not the two bodies
            keep = ("status", "error.status", "error.fields", "header.content-type")
            seen = {k: v for k, v in seen.items() if k in keep}
            expected = {k: v for k, v in expected.items() if k in keep}
        for key in sorted(set(seen) | set(expected)):
            got, want = seen.get(key, "(absent)"), expected.get(key, "(absent)")
            if got == want:
                continue
            aspect, path = _split(key)
            slot = (call.rpc, call.mode.name, aspect, path)
            divergence = self._divergences.get(slot)
            if divergence is None:
                divergence = Divergence(call.rpc, call.mode.name, aspect, path, got, want)
                divergence.known = known_for("target", divergence.fields())
                self._divergences[slot] = divergence
            divergence.count += 1
            if len(divergence.examples) < _MAX_EXAMPLES and example.name not in divergence.examples:
                divergence.examples.append(example.name)

    def _time(self, call: Call, target: Reply, mock: Reply) -> None:
        if target.status != 200 or target.first_byte is None or mock.first_byte is None:
            return
        sides = self._timing.setdefault((call.rpc, call.mode.name), {"target": [], "mock": []})
        if len(sides["target"]) < 1000:
            sides["target"].append((target.first_byte, len(target.reads)))
            sides["mock"].append((mock.first_byte, len(mock.reads)))

    def timing(self) -> list[dict[str, Any]]:
        """Per method and mode: the median time to the first body byte, and of reads per
        body, on the target and on the mock (the mock answers from this machine: a gap is
        the network and the model, not a divergence)."""
        rows = []
        for (rpc, mode), sides in sorted(self._timing.items()):
            row: dict[str, Any] = {"rpc": rpc, "mode": mode, "replies": len(sides["target"])}
            for side, values in sides.items():
                row[side] = {
                    "firstByteMedianSeconds": round(statistics.median(v[0] for v in values), 4),
                    "readsMedian": statistics.median(v[1] for v in values),
                }
            rows.append(row)
        return rows

    def refused(self, prop: str, example: Example, call: Call, reply: Reply) -> None:
        """A body the validator accepts that the target refused (the verdict property fails
        for it; the other properties could not look at its reply)."""
        from mockvertex.conformance.properties import reply_verdict

        verdict = str(reply_verdict(reply, call.mode))
        entry = _Refusal(prop, example.name, call.rpc, call.mode.name, verdict)
        if len(self._refusals) < 200 and entry not in self._refusals:
            self._refusals.append(entry)

    def client_divergence(
        self, prop: str, case: str, mode: str, kit: str, sdk: str
    ) -> KnownDivergence | None:
        """The clients disagreed on a fault: note it; return the known entry it matches."""
        known = known_for("client", {"property": prop, "case": case, "mode": mode})
        self._clients.append(
            {
                "property": prop,
                "case": case,
                "mode": mode,
                "VertexClient": kit,
                "google-genai": sdk,
                "known": None if known is None else known.to_json(),
            }
        )
        return known

    def outcome(self, name: str, outcome: str, detail: str = "", nodeid: str = "") -> None:
        self._outcomes.append(_Outcome(name, outcome, detail, nodeid))

    # -- the report
    def divergences(self) -> list[Divergence]:
        return sorted(
            self._divergences.values(),
            key=lambda d: (d.known is not None, d.rpc, d.mode, d.aspect, d.path),
        )

    def to_json(self) -> dict[str, Any]:
        divergences = self.divergences()
        seen = {d.known.name for d in divergences if d.known is not None}
        seen |= {c["known"]["name"] for c in self._clients if c["known"] is not None}
        return {
            "format": 1,
            "target": self.target,
            "profile": self.profile,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "exchangesCompared": self.exchanges,
            "properties": [
                {"name": o.name, "outcome": o.outcome, "detail": o.detail, "test": o.nodeid}
                for o in self._outcomes
            ],
            "divergences": [d.to_json() for d in divergences],
            "clientDivergences": self._clients,
            "refusedValidBodies": [vars(r) for r in self._refusals],
            "timing": self.timing(),
            "knownDivergences": [
                {**k.to_json(), "observed": k.name in seen} for k in known_divergences()
            ],
        }

    def write(self, path: Path) -> tuple[Path, Path]:
        """The JSON at ``path`` and the table beside it (``.txt``); both paths returned."""
        path.parent.mkdir(parents=True, exist_ok=True)
        document = self.to_json()
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
        table = path.with_suffix(".txt") if path.suffix != ".txt" else path.with_suffix(".table")
        table.write_text(render_table(document) + "\n", "utf-8")
        return path, table


def _rows(headers: Iterable[str], rows: list[list[str]]) -> list[str]:
    head = list(headers)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    widths = [min(w, 48) for w in widths]

    def line(cells: list[str]) -> str:
        shown = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(cells, widths, strict=True)]
        return "  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render_table(document: Mapping[str, Any]) -> str:
    """The report as text: the properties, then each divergence, new ones first."""
    target = document["target"]
    name, base = str(target.get("name")), str(target.get("baseUrl"))
    out = [
        f"mockvertex conformance: {name}{'' if name == base else f' ({base})'}, profile "
        f"{document['profile']}, {document['exchangesCompared']} exchanges compared with the mock",
        "",
    ]
    properties = document["properties"]
    if properties:
        out += _rows(
            ("property", "outcome", "detail"),
            [
                [p["name"], p["outcome"], p["detail"].splitlines()[0] if p["detail"] else ""]
                for p in properties
            ],
        )
        out.append("")
    divergences = document["divergences"]
    new = [d for d in divergences if d["known"] is None]
    out.append(
        f"{len(divergences)} divergences from the mock's contract ({len(new)} new, "
        f"{len(divergences) - len(new)} known)"
    )
    if divergences:
        out += _rows(
            ("where", "aspect", "path", "target", "mock", "seen", "known as"),
            [
                [
                    f"{d['rpc']} {d['mode']}",
                    d["aspect"],
                    d["path"],
                    d["target"],
                    d["mock"],
                    str(d["count"]),
                    d["known"]["name"] if d["known"] else "NEW",
                ]
                for d in divergences
            ],
        )
    clients = document["clientDivergences"]
    if clients:
        out += ["", "where the clients disagree on a fault:"]
        out += _rows(
            ("case", "mode", "VertexClient", "google-genai", "known as"),
            [
                [
                    c["case"],
                    c["mode"],
                    c["VertexClient"],
                    c["google-genai"],
                    c["known"]["name"] if c["known"] else "NEW",
                ]
                for c in clients
            ],
        )
    refused = document["refusedValidBodies"]
    if refused:
        out += ["", f"{len(refused)} bodies the validator accepts were refused by the target:"]
        out += _rows(
            ("example", "call", "answer"),
            [[r["example"], f"{r['rpc']} {r['mode']}", r["verdict"]] for r in refused],
        )
    timing = document.get("timing") or []
    if timing:
        out += ["", "time to the first body byte (median), and reads per body:"]
        out += _rows(
            ("where", "replies", "target", "mock"),
            [
                [
                    f"{t['rpc']} {t['mode']}",
                    str(t["replies"]),
                    f"{t['target']['firstByteMedianSeconds']:.3f}s, {t['target']['readsMedian']:g}",
                    f"{t['mock']['firstByteMedianSeconds']:.3f}s, {t['mock']['readsMedian']:g}",
                ]
                for t in timing
            ],
        )
    known = document["knownDivergences"]
    if known:
        out += ["", "known divergences (divergences.json):"]
        for k in known:
            seen = "seen" if k["observed"] else "not seen"
            out.append(f"  {k['name']} [{k['scope']}, {seen}]: {k['reason']}")
            out += [f"      evidence: {e}" for e in k["evidence"]]
    return "\n".join(out)

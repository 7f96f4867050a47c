"""What a validating proxy found wrong with one exchange: one :class:`Finding` per problem.

Requests are checked by the caller with ``validate_request`` (each field violation becomes a
finding, :func:`request_findings`); responses chunk by chunk against the shipped response
schemas (``GenerateContentStreamChunk`` for a stream, ``GenerateContentResponse`` or
``CountTokensResponse`` for a unary body: the schemas the conformance kit's
``chunks-match-schema`` property checks against), and their framing with the contract's
incremental decoders. Findings are data for the journal and the control plane, never headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from mockvertex.contract import resources, wire
from mockvertex.contract.errors import StatusError

__all__ = ["Finding", "chunk_findings", "framing_finding", "request_findings"]

#: At most this many schema findings per chunk (a wholly wrong chunk would list hundreds).
_MAX_PER_CHUNK = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``side`` is ``request`` or ``response``; ``field`` a JSON path."""

    exchange: int
    side: str
    rule: str
    field: str
    message: str
    chunk: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "side": self.side,
            "rule": self.rule,
            "field": self.field,
            "message": self.message,
            "chunk": self.chunk,
        }


def request_findings(exchange: int, error: StatusError) -> list[Finding]:
    """One finding per field violation of a refused request (one for the whole if none)."""
    rule = f"request-{error.status.lower().replace('_', '-')}"
    if not error.violations:
        return [Finding(exchange, "request", rule, "", error.message)]
    return [Finding(exchange, "request", rule, v.field, v.description) for v in error.violations]


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(resources.schema(name))


def _schema_for(api_version: str, rpc: str, framing: str) -> str:
    if rpc == "countTokens":
        return f"{api_version}/CountTokensResponse.schema.json"
    if framing == wire.Framing.UNARY.value:
        return f"{api_version}/GenerateContentResponse.schema.json"
    return f"{api_version}/GenerateContentStreamChunk.schema.json"


def _where(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def chunk_findings(
    exchange: int, index: int, chunk: Any, *, api_version: str, rpc: str, framing: str
) -> list[Finding]:
    """The response-contract problems of chunk ``index`` (an error object in a 200 stream is
    one finding; it is the upstream's mid-stream error, not checked against the schema)."""
    if wire.is_error_chunk(chunk):
        err = chunk.get("error") if isinstance(chunk, Mapping) else None
        code = err.get("code") if isinstance(err, Mapping) else None
        return [
            Finding(
                exchange,
                "response",
                "mid-stream-error",
                "error",
                f"error {code} in the stream",
                index,
            )
        ]
    if api_version not in ("v1", "v1beta1"):
        return []
    schema = _schema_for(api_version, rpc, framing)
    found: list[Finding] = []
    for error in _validator(schema).iter_errors(chunk):
        found.append(
            Finding(
                exchange,
                "response",
                "response-schema",
                _where(error.absolute_path),
                f"breaks {schema.split('/')[-1].removesuffix('.schema.json')}: "
                f"{error.message[:200]}",
                index,
            )
        )
        if len(found) == _MAX_PER_CHUNK:
            break
    return found


def framing_finding(exchange: int, error: Exception, chunks: int) -> Finding:
    """A body the framing's decoder refused, after ``chunks`` good chunks."""
    return Finding(exchange, "response", "framing", "", str(error)[:300], chunks)

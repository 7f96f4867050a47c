"""The two clients the suite holds to one contract, driven alike: ``VertexClient`` (the kit's
own, ``mockvertex.client``) and google-genai.

* reading: both read the same bytes (a target's reply, replayed on 127.0.0.1) and say what
  they made of them, as a :class:`Reading` (text, function calls, finish reason, usage);
* faults: both call a target whose control plane injects a fault, and how each call ended is
  an :class:`Outcome` (HTTP status and google.rpc status). ``FAULT_CASES`` has one case per
  kind of the mock's fault registry and one per HTTP error, each with the outcome it means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mockvertex.conformance.targets import Target
from mockvertex.contract import wire
from mockvertex.contract.errors import StatusError, error_class_for

__all__ = [
    "FAULT_CASES",
    "HTTP_CASES",
    "FaultCase",
    "Outcome",
    "Reading",
    "fault_cases",
    "genai_outcome",
    "outcome_with_genai",
    "outcome_with_kit",
    "read_with_genai",
    "read_with_kit",
]

#: The prompt of every fault call (any valid body would do: the fault answers it).
_PROMPT = "conformance fault"


# --------------------------------------------------------------------------------------------
# Reading the same bytes


@dataclass(frozen=True)
class Reading:
    """What a client made of a stream."""

    text: str
    calls: tuple[tuple[str, str], ...]
    finish_reason: str | None
    usage: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"text {self.text[:60]!r}, calls {list(self.calls)}, finishReason "
            f"{self.finish_reason}, usage {dict(self.usage)}"
        )


def _args(value: Any) -> str:
    return json.dumps(value or {}, sort_keys=True)


def read_with_kit(base_url: str, model: str) -> Reading:
    """``VertexClient`` streaming SSE from ``base_url``, one attempt."""
    from mockvertex.client.retry import RetryPolicy
    from mockvertex.client.sync import VertexClient

    with VertexClient(
        base_url=base_url, project="replay", token="replay", retry=RetryPolicy.none()
    ) as client:
        stream = client.stream_generate_content(model, "replay", framing=wire.Framing.SSE)
        for _ in stream:
            pass
        merged = stream.response()
    calls = tuple((str(c.get("name")), _args(c.get("args"))) for c in merged.function_calls)
    return Reading(merged.text or "", calls, merged.finish_reason, merged.usage)


def _genai_client(
    base_url: str, *, token: str, project: str, location: str, api_version: str, timeout: float
) -> Any:
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    credentials = google.oauth2.credentials.Credentials(token=token)  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True,
        project=project,
        location=location,
        credentials=credentials,
        http_options=types.HttpOptions(
            base_url=base_url, api_version=api_version, timeout=int(timeout * 1000)
        ),
    )


def read_with_genai(base_url: str, model: str) -> Reading:
    """google-genai's ``generate_content_stream`` on ``base_url`` (it always asks for SSE)."""
    client = _genai_client(
        base_url,
        token="replay",
        project="replay",
        location="us-central1",
        api_version="v1",
        timeout=30.0,
    )
    try:
        chunks = list(client.models.generate_content_stream(model=model, contents="replay"))
    finally:
        client.close()
    text: list[str] = []
    calls: list[tuple[str, str]] = []
    finish: str | None = None
    usage: dict[str, Any] = {}
    for chunk in chunks:
        candidate = chunk.candidates[0] if chunk.candidates else None
        parts = candidate.content.parts if candidate and candidate.content else None
        for part in parts or ():
            if part.text is not None and not part.thought:
                text.append(part.text)
            if part.function_call is not None:
                calls.append((str(part.function_call.name), _args(part.function_call.args)))
        if candidate is not None and candidate.finish_reason is not None:
            reason = candidate.finish_reason
            finish = str(getattr(reason, "value", reason))
        if chunk.usage_metadata is not None:
            usage = chunk.usage_metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Reading("".join(text), tuple(calls), finish, usage)


# --------------------------------------------------------------------------------------------
# Faults: what each client raises


@dataclass(frozen=True)
class Outcome:
    """How a call ended, as (HTTP status, google.rpc status): (200, "OK") when it did not fail.

    Transport failures take the codes gRPC gives them and ``mockvertex.client`` raises:
    a broken or refused connection is 503 UNAVAILABLE, a read that timed out 504
    DEADLINE_EXCEEDED, bytes that are not the framing 500 INTERNAL.
    """

    http: int
    status: str
    raised: str = ""

    def same(self, other: Outcome) -> bool:
        return (self.http, self.status) == (other.http, other.status)

    def __str__(self) -> str:
        return f"{self.http} {self.status}" + (f" ({self.raised})" if self.raised else "")


@dataclass(frozen=True)
class FaultCase:
    """One fault to inject (a scenario step) and the error both clients must raise for it."""

    name: str
    step: Mapping[str, Any]
    expected: Outcome
    kind: str


_CHUNKS = ["one ", "two ", "three"]


def _fault_step(fault: Mapping[str, Any]) -> dict[str, Any]:
    return {"times": "forever", "respond": {"chunks": _CHUNKS}, "fault": dict(fault)}


def _http_case(code: int) -> FaultCase:
    status = error_class_for(code).status
    return FaultCase(
        f"http-{code}", {"times": "forever", "error": {"code": code}}, Outcome(code, status), "http"
    )


def _fault_cases() -> dict[str, FaultCase]:
    from mockvertex.engine.faults import REGISTRY

    unavailable = Outcome(503, "UNAVAILABLE")
    # Each kind of the fault registry, with the parameters that make it bite in both
    # framings, and what a client must make of it.
    plan: dict[str, tuple[dict[str, Any], Outcome]] = {
        "error": (
            {"kind": "error", "after": 1, "error": {"code": 429}},
            Outcome(429, "RESOURCE_EXHAUSTED"),
        ),
        "disconnect": ({"kind": "disconnect", "after": 1}, unavailable),
        "truncate": ({"kind": "truncate", "after": 1}, unavailable),
        "malformed": ({"kind": "malformed", "after": 1}, Outcome(500, "INTERNAL")),
        "garbage": ({"kind": "garbage"}, unavailable),
        "empty": ({"kind": "empty"}, unavailable),
        "stall": ({"kind": "stall", "after": 1, "seconds": 3}, Outcome(504, "DEADLINE_EXCEEDED")),
    }
    missing = sorted(set(REGISTRY) - set(plan))
    if missing:  # a new kind in the registry: the suite must learn what clients make of it
        raise RuntimeError(f"no conformance case for the fault kinds {missing}")
    cases = {k: FaultCase(k, _fault_step(f), o, k) for k, (f, o) in plan.items()}
    for code in (400, 429, 500, 503, 504):
        case = _http_case(code)
        cases[case.name] = case
    return cases


@cache
def fault_cases() -> Mapping[str, FaultCase]:
    return _fault_cases()


#: The case names, for parametrizing (every registry kind and the HTTP errors).
FAULT_CASES = (
    "error",
    "disconnect",
    "truncate",
    "malformed",
    "garbage",
    "empty",
    "stall",
    "http-400",
    "http-429",
    "http-500",
    "http-503",
    "http-504",
)


#: The HTTP errors among the cases (the envelope property injects them too).
HTTP_CASES = tuple(name for name in FAULT_CASES if name.startswith("http-"))


def outcome_with_kit(target: Target, model: str, *, streaming: bool, timeout: float) -> Outcome:
    """One ``VertexClient`` call on ``target`` (one attempt, ``timeout`` per read)."""
    from mockvertex.client.retry import RetryPolicy
    from mockvertex.client.sync import VertexClient

    try:
        with VertexClient(
            base_url=target.base_url,
            project=target.project,
            location=target.location,
            api_version=target.api_version,
            credentials=target.credentials,
            token=None if target.credentials is not None else "none",
            retry=RetryPolicy.none(),
            read_timeout=timeout,
        ) as client:
            if streaming:
                for _ in client.stream_generate_content(model, _PROMPT):
                    pass
            else:
                client.generate_content(model, _PROMPT)
    except StatusError as exc:
        return Outcome(exc.http_status, exc.status, type(exc).__name__)
    return Outcome(200, "OK")


def genai_outcome(exc: BaseException | None) -> Outcome:
    """google-genai's exception as an outcome: its ``APIError`` code and status, and for what
    it lets through from httpx (a timeout, a broken connection) or from parsing (bytes that
    are not JSON) the codes gRPC gives them."""
    if exc is None:
        return Outcome(200, "OK")
    import httpx
    from google.genai import errors

    name = type(exc).__name__
    if isinstance(exc, errors.APIError):
        return Outcome(int(exc.code), str(exc.status), name)
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(504, "DEADLINE_EXCEEDED", name)
    if isinstance(exc, httpx.TransportError):
        return Outcome(503, "UNAVAILABLE", name)
    if isinstance(exc, ValueError):  # UnknownApiResponseError, json.JSONDecodeError
        return Outcome(500, "INTERNAL", name)
    return Outcome(500, "UNKNOWN", name)


def outcome_with_genai(target: Target, model: str, *, streaming: bool, timeout: float) -> Outcome:
    """One google-genai call on ``target`` (it does not retry unless told to)."""
    client = _genai_client(
        target.base_url,
        token=target.token() or "none",
        project=target.project or "none",
        location=target.location,
        api_version=target.api_version,
        timeout=timeout,
    )
    raised: BaseException | None = None
    try:
        if streaming:
            for _ in client.models.generate_content_stream(model=model, contents=_PROMPT):
                pass
        else:
            client.models.generate_content(model=model, contents=_PROMPT)
    except Exception as exc:  # classified by genai_outcome: whatever it raises is the finding
        raised = exc
    finally:
        client.close()
    return genai_outcome(raised)

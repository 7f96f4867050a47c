"""The real-API client: a sans-IO core and two transports; imports only mockvertex.contract.

``VertexClient`` (on requests) and ``AsyncVertexClient`` (on aiohttp's client side) share
one request builder, one set of wire decoders (``contract.wire``, the ones the mock's framing
is checked against), one validator (``contract.validation``) and one retry policy
(``client.retry``). Names load on first use (PEP 562): importing this package pulls in
neither requests nor aiohttp, and never the mock's server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockvertex.client.aio import AsyncResponseStream, AsyncVertexClient
    from mockvertex.client.core import Endpoint, text_request
    from mockvertex.client.credentials import (
        CLOUD_PLATFORM_SCOPE,
        GoogleCredentials,
        StaticToken,
        TokenSource,
        application_default,
    )
    from mockvertex.client.response import CountTokensResponse, GenerateContentResponse
    from mockvertex.client.retry import (
        DEFAULT_RETRY_STATUSES,
        Decision,
        Failure,
        FailureKind,
        RetryBudget,
        RetryPolicy,
    )
    from mockvertex.client.sync import ResponseStream, VertexClient
    from mockvertex.contract.wire import Framing

_HOMES = {
    "AsyncResponseStream": "mockvertex.client.aio",
    "AsyncVertexClient": "mockvertex.client.aio",
    "Endpoint": "mockvertex.client.core",
    "text_request": "mockvertex.client.core",
    "CLOUD_PLATFORM_SCOPE": "mockvertex.client.credentials",
    "GoogleCredentials": "mockvertex.client.credentials",
    "StaticToken": "mockvertex.client.credentials",
    "TokenSource": "mockvertex.client.credentials",
    "application_default": "mockvertex.client.credentials",
    "CountTokensResponse": "mockvertex.client.response",
    "GenerateContentResponse": "mockvertex.client.response",
    "DEFAULT_RETRY_STATUSES": "mockvertex.client.retry",
    "Decision": "mockvertex.client.retry",
    "Failure": "mockvertex.client.retry",
    "FailureKind": "mockvertex.client.retry",
    "RetryBudget": "mockvertex.client.retry",
    "RetryPolicy": "mockvertex.client.retry",
    "ResponseStream": "mockvertex.client.sync",
    "VertexClient": "mockvertex.client.sync",
    "Framing": "mockvertex.contract.wire",
}

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_RETRY_STATUSES",
    "AsyncResponseStream",
    "AsyncVertexClient",
    "CountTokensResponse",
    "Decision",
    "Endpoint",
    "Failure",
    "FailureKind",
    "Framing",
    "GenerateContentResponse",
    "GoogleCredentials",
    "ResponseStream",
    "RetryBudget",
    "RetryPolicy",
    "StaticToken",
    "TokenSource",
    "VertexClient",
    "application_default",
    "text_request",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mockvertex.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

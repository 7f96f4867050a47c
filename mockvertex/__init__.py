"""mockvertex: a contract-testing mock server and conformance kit for the Vertex AI Gemini API.

The public API is exactly what ``__all__`` lists. Names are imported on first use (PEP 562),
so ``import mockvertex`` loads neither aiohttp nor the server: a client or a validator that
only needs the contract stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockvertex.client.aio import AsyncVertexClient
    from mockvertex.client.response import GenerateContentResponse
    from mockvertex.client.retry import RetryBudget, RetryPolicy
    from mockvertex.client.sync import VertexClient
    from mockvertex.config import ServerConfig
    from mockvertex.contract.errors import (
        DataFileError,
        DeadlineExceeded,
        FieldViolation,
        Internal,
        InvalidArgument,
        NotFound,
        PermissionDenied,
        ResourceExhausted,
        StatusError,
        Unauthenticated,
        Unavailable,
    )
    from mockvertex.contract.profiles import ModelProfile, ProfileRegistry
    from mockvertex.contract.validation import validate_request
    from mockvertex.engine.cassette import RecordMode, load_cassette, to_scenario
    from mockvertex.engine.journal import Exchange, Outcome
    from mockvertex.engine.report import RetryReport, assert_retries, retry_report
    from mockvertex.engine.scenario import Scenario, load_scenario
    from mockvertex.server.proxy import ProxyConfig, ProxyServer
    from mockvertex.server.runner import MockVertexServer

#: Where each public name lives.
_HOMES = {
    "AsyncVertexClient": "mockvertex.client.aio",
    "GenerateContentResponse": "mockvertex.client.response",
    "RetryBudget": "mockvertex.client.retry",
    "RetryPolicy": "mockvertex.client.retry",
    "VertexClient": "mockvertex.client.sync",
    "ServerConfig": "mockvertex.config",
    "DataFileError": "mockvertex.contract.errors",
    "DeadlineExceeded": "mockvertex.contract.errors",
    "FieldViolation": "mockvertex.contract.errors",
    "Internal": "mockvertex.contract.errors",
    "InvalidArgument": "mockvertex.contract.errors",
    "NotFound": "mockvertex.contract.errors",
    "PermissionDenied": "mockvertex.contract.errors",
    "ResourceExhausted": "mockvertex.contract.errors",
    "StatusError": "mockvertex.contract.errors",
    "Unauthenticated": "mockvertex.contract.errors",
    "Unavailable": "mockvertex.contract.errors",
    "ModelProfile": "mockvertex.contract.profiles",
    "ProfileRegistry": "mockvertex.contract.profiles",
    "validate_request": "mockvertex.contract.validation",
    "RecordMode": "mockvertex.engine.cassette",
    "load_cassette": "mockvertex.engine.cassette",
    "to_scenario": "mockvertex.engine.cassette",
    "Exchange": "mockvertex.engine.journal",
    "Outcome": "mockvertex.engine.journal",
    "RetryReport": "mockvertex.engine.report",
    "assert_retries": "mockvertex.engine.report",
    "retry_report": "mockvertex.engine.report",
    "Scenario": "mockvertex.engine.scenario",
    "load_scenario": "mockvertex.engine.scenario",
    "MockVertexServer": "mockvertex.server.runner",
    "ProxyConfig": "mockvertex.server.proxy",
    "ProxyServer": "mockvertex.server.proxy",
}

__all__ = [
    "AsyncVertexClient",
    "DataFileError",
    "DeadlineExceeded",
    "Exchange",
    "FieldViolation",
    "GenerateContentResponse",
    "Internal",
    "InvalidArgument",
    "MockVertexServer",
    "ModelProfile",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "ProfileRegistry",
    "ProxyConfig",
    "ProxyServer",
    "RecordMode",
    "ResourceExhausted",
    "RetryBudget",
    "RetryPolicy",
    "RetryReport",
    "Scenario",
    "ServerConfig",
    "StatusError",
    "Unauthenticated",
    "Unavailable",
    "VertexClient",
    "assert_retries",
    "load_cassette",
    "load_scenario",
    "retry_report",
    "to_scenario",
    "validate_request",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mockvertex' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

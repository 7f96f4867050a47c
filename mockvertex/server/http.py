"""HTTP vocabulary shared by the server's modules: Google's headers, the error envelope as a
response, the typed app and request keys, and what the journal may keep of a request."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from mockvertex.contract import wire
from mockvertex.contract.errors import StatusError, Unauthenticated, Unimplemented
from mockvertex.engine.journal import Recorder
from mockvertex.engine.session import MockState

__all__ = [
    "EXCHANGE",
    "GFE_HEADERS",
    "JSON_HEADERS",
    "JSON_TYPE",
    "SECRET_QUERY",
    "STATE",
    "STREAM_HEADERS",
    "MethodNotAllowed",
    "client_fault_reason",
    "envelope_response",
    "log",
    "method_not_allowed",
    "safe_headers",
]

log = logging.getLogger("mockvertex")

SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "cookie", "proxy-authorization"})
SECRET_QUERY = frozenset({"key", "access_token"})  # API keys / tokens sent in the URL
GFE_HEADERS = {
    "Vary": "Origin, X-Origin, Referer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "0",
}
JSON_TYPE = "application/json; charset=UTF-8"
# Response headers that never change. aiohttp copies them into each response's own
# multidict, which is faster from a multidict than from a dict (0.6 us per response).
JSON_HEADERS = CIMultiDictProxy(CIMultiDict({**GFE_HEADERS, "Content-Type": JSON_TYPE}))
STREAM_HEADERS = {
    wire.Framing.SSE: CIMultiDictProxy(
        CIMultiDict(
            {
                **GFE_HEADERS,
                "Content-Type": wire.Framing.SSE.content_type,
                "Content-Disposition": "attachment",
            }
        )
    ),
    wire.Framing.ARRAY: CIMultiDictProxy(
        CIMultiDict({**GFE_HEADERS, "Content-Type": wire.Framing.ARRAY.content_type})
    ),
}

STATE: web.AppKey[MockState] = web.AppKey("mockvertex_state", MockState)
# aiohttp >= 3.14 warns (NotAppKeyWarning) on plain string request keys; under ``-W error`` that
# warning turned every answer into a 500. Older aiohttp has no RequestKey.
EXCHANGE: Any = (
    web.RequestKey("mockvertex_exchange", Recorder)
    if hasattr(web, "RequestKey")
    else "mockvertex_exchange"
)


def envelope_response(error: StatusError, fmt: wire.Framing) -> web.Response:
    headers = {**GFE_HEADERS, **error.headers}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return web.Response(
        status=error.http_status,
        body=wire.encode_error(error, fmt),
        content_type=None,
        headers={**headers, "Content-Type": JSON_TYPE},
    )


def safe_headers(request: web.Request) -> dict[str, str]:
    """The request's headers without credentials (the journal never keeps a secret)."""
    return {k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS}


class MethodNotAllowed(Unimplemented):
    """A model method called with a verb other than POST (google.rpc has no 405 of its own)."""

    http_status = 405


def method_not_allowed(method: str) -> StatusError:
    return MethodNotAllowed(f"HTTP method {method} is not supported by this URL; use POST.")


# Where aiohttp's text starts quoting the request: after a colon, or at a repr of bytes or str.
_QUOTED = re.compile(r""":|\s(?:b|bytearray\()?['"]""")


def client_fault_reason(exc: BaseException) -> str:
    """What aiohttp found wrong with a request (``Invalid header value char``), without the
    request bytes it quotes after that: a header line or the request line may hold a token."""
    cause = exc.__cause__ if isinstance(exc.__cause__, HttpProcessingError) else exc
    text = cause.message if isinstance(cause, HttpProcessingError) else str(cause)
    return _QUOTED.split(str(text).split("\n", 1)[0], 1)[0].strip() or type(cause).__name__

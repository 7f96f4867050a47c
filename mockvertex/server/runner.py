"""MockVertexServer: the mock on a real localhost socket, in a thread or inside a running loop.

with MockVertexServer() as mock:
    client = genai.Client(vertexai=True, project="p", location="us-central1",
                          credentials=Credentials(token="x"),
                          http_options=HttpOptions(base_url=mock.url))
    ...
    assert mock.journal()[-1].request["contents"][0]["parts"][0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from mockvertex.config import ServerConfig
from mockvertex.engine.journal import Exchange
from mockvertex.engine.quota import QuotaSpec
from mockvertex.engine.report import RetryReport
from mockvertex.engine.scenario import Scenario
from mockvertex.engine.session import MockSession, MockState
from mockvertex.server.app import create_app
from mockvertex.server.http import client_fault_reason
from mockvertex.server.thread import LoopThread

__all__ = ["MockVertexServer"]

# Where aiohttp's connection handlers report (its ``logger`` argument, passed per runner).
_PROTOCOL_LOGGER = "mockvertex.http"
# What a client does wrong, not the mock: HTTP aiohttp cannot parse (answered with its plain
# 400), a body it cannot read (bad chunked framing, an encoding that does not decode) and a
# hang-up. aiohttp logs each with a full traceback at ERROR, once per request.
_CLIENT_FAULTS = (HttpProcessingError, web.RequestPayloadError, ConnectionError)


class MockVertexServer:
    """A running mock: ``start()``/``stop()`` (own thread) or ``async with`` (current loop)."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        scenarios: tuple[str | Path | Mapping[str, Any] | Scenario, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        **overrides: Any,
    ) -> None:
        config = config or ServerConfig()
        if overrides:
            if "auth" in overrides and isinstance(overrides["auth"], str):
                config = config.with_auth(overrides.pop("auth"))
            config = replace(config, **overrides)
        self.config = config
        #: ``clock`` (monotonic seconds) drives quota buckets and scenario windows: a test
        #: passes a fake one to move time by hand.
        self.state = MockState.from_config(config, scenarios=scenarios, clock=clock)
        self._runner: web.AppRunner | None = None
        self._thread = LoopThread(self.start_async, self.stop_async, name="mockvertex")
        self._port: int | None = None

    # -- addresses
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL for SDKs, e.g. ``http://127.0.0.1:8080`` (no trailing slash)."""
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def url_for(
        self,
        model: str,
        method: str = "generateContent",
        *,
        api_version: str = "v1",
        project: str | None = None,
        location: str | None = None,
    ) -> str:
        """Full URL of a model method on this mock."""
        project = project or self.config.project
        location = location or self.config.location
        return (
            f"{self.url}/{api_version}/projects/{project}/locations/{location}"
            f"/publishers/google/models/{model}:{method}"
        )

    # -- state: the global scope and the sessions
    def session(self, name: str) -> MockSession:
        """The handle of session ``name``: a located path's project id, ``key-<digest>`` of an
        express-mode API key, or an ``x-mockvertex-session`` header (made on first use)."""
        return self.state.session(name)

    def sessions(self) -> list[str]:
        """The sessions in use, in the order first seen."""
        return self.state.sessions.names()

    def add_scenario(self, scenario: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
        """Add a global scenario (file path, built-in name, mapping or Scenario); returns it.
        A session's own scenarios are consulted before the global ones."""
        return self.state.global_scope().add_scenario(scenario)

    def set_quota(self, spec: QuotaSpec | str | Mapping[str, Any] | None) -> None:
        """Set the global budget (``"rpm=60,tpm=100000"``, ``{"rpm": 60}`` or a QuotaSpec) for
        its model glob, applied to every session's own buckets; None lifts every global one."""
        self.state.global_scope().set_quota(spec)

    def journal(self, session: str | None = None) -> list[Exchange]:
        """The exchanges of one session, or of every session (None), oldest first (tokens and
        API keys are never kept)."""
        if session is None:
            return self.state.journal.entries()
        return self.state.journal.entries(session=session)

    def report(self, session: str | None = None, **thresholds: Any) -> RetryReport:
        """The retry report of one session's journal, or of every session's (None);
        ``thresholds`` are ``mockvertex.engine.report.Thresholds`` fields."""
        scope = self.state.global_scope() if session is None else self.state.session(session)
        return scope.report(**thresholds)

    def reset(
        self,
        session: str | None = None,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset one session's resources, or the whole server's (None): global scenarios back
        to those configured and given at construction, configured quotas only, buckets full."""
        if session is None:
            self.state.reset(scenarios=scenarios, journal=journal, quota=quota, errors=errors)
        else:
            self.state.reset_session(
                session, scenarios=scenarios, journal=journal, quota=quota, errors=errors
            )

    def check(self) -> None:
        """Re-raise the first exception that escaped a handler (a bug in the mock)."""
        if self.state.errors:
            raise self.state.errors[0]

    # -- lifecycle inside a running loop
    async def start_async(self) -> None:
        app = create_app(self.config, state=self.state)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            logger=_protocol_logger(),
        )
        await self._runner.setup()
        # A deep accept queue: bursts of hundreds of connections (streaming load tests)
        # overflow the default 128 and each dropped SYN is retried a second later.
        site = web.TCPSite(self._runner, self.config.host, self.config.port, backlog=4096)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockVertexServer:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    # -- lifecycle in a thread of its own
    def start(self) -> MockVertexServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()
        self._port = None

    def __enter__(self) -> MockVertexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (what ``mockvertex serve`` does)."""

        async def main() -> None:
            await self.start_async()
            try:
                await asyncio.Event().wait()
            finally:
                await self.stop_async()

        asyncio.run(main())


class _ClientFaultInOneLine(logging.Filter):
    """A client's malformed request as one INFO line: no traceback, no request bytes.

    aiohttp's message leads (``Error handling request from 127.0.0.1``), then the exception's
    class and the first words of its text; the bytes it quotes after them (a header line, the
    request line) are left out, since they may hold a token or an API key.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, _CLIENT_FAULTS):
            return True  # anything else is a bug and keeps its traceback
        line = f"{record.getMessage()}: {type(exc).__name__} ({client_fault_reason(exc)})"
        record.msg, record.args = line, ()
        record.exc_info = record.exc_text = record.stack_info = None
        record.levelno = min(record.levelno, logging.INFO)
        record.levelname = logging.getLevelName(record.levelno)
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


def _protocol_logger() -> logging.Logger:
    logger = logging.getLogger(_PROTOCOL_LOGGER)
    if not any(isinstance(f, _ClientFaultInOneLine) for f in logger.filters):
        logger.addFilter(_ClientFaultInOneLine())
    return logger

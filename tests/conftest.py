"""Fixtures shared by the SDK tests: a threaded mock that must end clean and keep no secret."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from mockvertex.server.runner import MockVertexServer

# The repo's own plugin, loaded here rather than by its entry point (addopts: -p no:mockvertex).
pytest_plugins = ["mockvertex.pytest_plugin"]

# Developers and CI run on two shared cores: Hypothesis' generation-speed health check and its
# per-example deadline measure the machine's load there, not the code (speed is measured in
# bench/), so neither may fail a test. Every other health check stays on.
settings.register_profile("mockvertex", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mockvertex")

_SECRET_HEADERS = ("authorization", "x-goog-api-key")
_SECRET_QUERY = "key"


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    """Credentials a module's clients send; override it so no journal entry may hold them."""
    return ()


@pytest.fixture
def no_secrets(journal_secrets: tuple[str, ...]) -> Callable[[MockVertexServer], None]:
    """Assert that a mock's journal kept no credential: no auth header, no key, no token."""

    def check(server: MockVertexServer) -> None:
        for exchange in server.journal():
            names = {name.lower() for name in exchange.headers}
            for header in _SECRET_HEADERS:
                assert header not in names
            assert _SECRET_QUERY not in exchange.query
            kept = json.dumps(exchange.to_json(), default=str)
            for secret in journal_secrets:
                assert secret not in kept

    return check


@pytest.fixture
def mock(no_secrets: Callable[[MockVertexServer], None]) -> Iterator[MockVertexServer]:
    """A threaded mock; afterwards no handler may have raised and the journal holds no secret."""
    with MockVertexServer() as server:
        yield server
        server.check()
        no_secrets(server)

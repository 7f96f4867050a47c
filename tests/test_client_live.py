"""VertexClient against the real Vertex AI API: marked ``live``, skipped without credentials.

Run them with Application Default Credentials and a project that has Vertex AI enabled:

    gcloud auth application-default login
    MOCKVERTEX_LIVE=1 GOOGLE_CLOUD_PROJECT=my-project .venv/bin/python -m pytest -m live \\
        tests/test_client_live.py

``GOOGLE_CLOUD_LOCATION`` (default ``us-central1``) and ``MOCKVERTEX_LIVE_MODEL`` (default
``gemini-2.0-flash``) choose where and what. Each test makes at most a few small calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mockvertex.client.retry import RetryPolicy
from mockvertex.client.sync import VertexClient
from mockvertex.contract.errors import InvalidArgument, StatusError
from mockvertex.contract.wire import Framing

pytestmark = pytest.mark.live


def _live_client() -> VertexClient:
    if os.environ.get("MOCKVERTEX_LIVE") != "1":
        pytest.skip("live Vertex tests run only with MOCKVERTEX_LIVE=1 (and ADC)")
    try:
        client = VertexClient(
            project=os.environ.get("GOOGLE_CLOUD_PROJECT"),
            location=os.environ.get("GOOGLE_CLOUD_LOCATION", "us-central1"),
            retry=RetryPolicy(attempts=3, deadline=120.0),
        )
    except StatusError as exc:  # google.auth.default found no credentials
        pytest.skip(f"no Application Default Credentials: {exc.message}")
    if client.endpoint.project is None:
        client.close()
        pytest.skip("no project: set GOOGLE_CLOUD_PROJECT or an ADC quota project")
    return client


@pytest.fixture(scope="module")
def live() -> Iterator[VertexClient]:
    client = _live_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def model() -> str:
    return os.environ.get("MOCKVERTEX_LIVE_MODEL", "gemini-2.0-flash")


def test_generate_content(live: VertexClient, model: str) -> None:
    response = live.generate_content(model, "Reply with the single word: pong")

    assert response.text, response.why_no_text()
    assert response.finish_reason == "STOP"
    assert response.usage.get("totalTokenCount", 0) > 0


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_stream_generate_content(live: VertexClient, model: str, framing: Framing) -> None:
    stream = live.stream_generate_content(
        model, "Count from 1 to 20, comma separated.", framing=framing
    )

    chunks = list(stream)

    assert chunks
    assert stream.response().finish_reason is not None
    assert "20" in stream.text


def test_count_tokens(live: VertexClient, model: str) -> None:
    assert live.count_tokens(model, "How many tokens is this sentence?").total_tokens > 0


def test_the_local_verdict_is_vertexs(model: str) -> None:
    """The local validator and Vertex refuse the same body with the same envelope."""
    bad = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "bogusField": 1}
    with _live_client() as client, pytest.raises(InvalidArgument) as local:
        client.generate_content(model, bad)
    with _live_client() as client:
        client.validate = False
        with pytest.raises(InvalidArgument) as remote:
            client.generate_content(model, bad)

    assert local.value.message == remote.value.message
    assert remote.value.attempts == 1

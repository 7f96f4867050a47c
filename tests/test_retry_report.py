"""The retry report on real clients: what the seed's sample client and google-genai do about
429s, in numbers read from the mock's journal.

The seed client (``fixtures/seed/sample_client.py``, verbatim from the seed reference) runs in a
subprocess with ``google.auth.default`` stubbed and its ENDPOINT pointed at the mock with
``?alt=sse``. google-genai runs in process with ``HttpRetryOptions``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from google.genai import Client, errors, types
from google.oauth2.credentials import Credentials

from mockvertex.engine.report import (
    RETRY_AFTER_IGNORED,
    RETRY_STORM,
    assert_retries,
    retry_report,
)
from mockvertex.server.runner import MockVertexServer

SEED_CLIENT = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "sample_client.py"
# The seed client names gemini-pro, which Vertex has retired (the mock answers 404 for it, as
# Vertex does); its ENDPOINT is rewritten anyway, so it is pointed at a current model.
SEED_MODEL = "gemini-2.0-flash"

# Replaces ADC (no credentials here) with a token that needs no refresh, then runs the seed
# client with its ENDPOINT rewritten: nothing else of it changes.
_PRELUDE = """
import re, sys
import google.auth

class _Static:
    token = "seed-client-token"
    def refresh(self, request):
        pass

google.auth.default = lambda *args, **kwargs: (_Static(), "seed-project")
source = open(sys.argv[1], encoding="utf-8").read()
source, found = re.subn(r'^ENDPOINT = .*$', 'ENDPOINT = ' + repr(sys.argv[2]), source, flags=re.M)
assert found == 1, "the seed client's ENDPOINT line moved"
exec(compile(source, sys.argv[1], "exec"), {"__name__": "__main__"})
"""


def _scenario(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"format": 1, "name": name, "steps": list(steps)}


def _seed_endpoint(mock: MockVertexServer) -> str:
    return mock.url_for(SEED_MODEL, "streamGenerateContent", project="seed-project") + "?alt=sse"


def _run_seed_client(mock: MockVertexServer, *, limit: float) -> subprocess.CompletedProcess[str]:
    """Run the seed client to its end, or stop it after ``limit`` seconds."""
    args = [sys.executable, "-c", textwrap.dedent(_PRELUDE), str(SEED_CLIENT), _seed_endpoint(mock)]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            out, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return subprocess.CompletedProcess(args, process.returncode, out, err)


def test_the_seed_client_waits_for_retry_after_and_the_report_shows_the_gap() -> None:
    rate_limited = _scenario(
        "rate_limited_once",
        {"error": {"code": 429, "retryAfter": 1}},
        {"times": "forever", "respond": {"text": "Machine learning finds patterns in data."}},
    )
    with MockVertexServer(scenarios=(rate_limited,)) as mock:
        run = _run_seed_client(mock, limit=30)
        mock.check()
        entries = mock.journal()
    assert run.returncode == 0, run.stderr
    assert "429 Too Many Requests: 1" in run.stdout  # its own print before it sleeps
    assert [e.status for e in entries] == [429, 200]
    assert [e.outcome for e in entries] == ["error", "ok"]
    report = assert_retries(entries, calls=1, attempts=2, honours_retry_after=True, gave_up=False)
    first, second = report.calls[0].attempts
    assert first.asked == 1.0
    assert second.gap is not None
    assert second.gap >= 1.0
    assert second.waited is True
    table = report.table()
    assert "429" in table
    assert "200" in table
    # The token it sent is in no entry: only the journal's keyed digest of it.
    assert all("seed-client-token" not in e.to_jsonl() for e in entries)


def test_the_seed_client_retries_a_429_that_never_ends_without_limit() -> None:
    # Retry-After: 0 keeps the run short; the client's 429 branch has no retry counter at all.
    forever = _scenario(
        "rate_limited_forever", {"times": "forever", "error": {"code": 429, "retryAfter": 0}}
    )
    with MockVertexServer(scenarios=(forever,)) as mock:
        _run_seed_client(mock, limit=2.0)
        mock.check()
        entries = mock.journal()
    assert len(entries) > 20
    assert {e.status for e in entries} == {429}
    report = retry_report(entries)
    assert len(report.calls) == 1
    call = report.calls[0]
    assert call.storm is True
    assert call.succeeded is False
    assert RETRY_STORM in call.codes()
    with pytest.raises(AssertionError, match="retry_storm") as failed:
        assert_retries(report, no_storm=True)
    assert "attempt" in str(failed.value)  # the table comes with the failure


def test_google_genai_retry_options_do_not_wait_for_retry_after() -> None:
    """googleapis/python-genai#1875: HttpRetryOptions' backoff ignores Retry-After."""
    asked = 5
    limited = _scenario(
        "rate_limited_asks_five_seconds",
        {"times": "forever", "error": {"code": 429, "retryAfter": asked}},
    )
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.2, jitter=0.05)
    with MockVertexServer(scenarios=(limited,)) as mock:
        client = Client(
            vertexai=True,
            project="genai-project",
            location="us-central1",
            credentials=Credentials(token="genai-token"),
            http_options=types.HttpOptions(base_url=mock.url, retry_options=retry),
        )
        started = time.monotonic()
        with pytest.raises(errors.ClientError) as raised:
            client.models.generate_content(model="gemini-2.0-flash", contents="hi")
        elapsed = time.monotonic() - started
        mock.check()
        entries = mock.journal()
    assert raised.value.code == 429
    assert elapsed < asked  # it gave up before the first asked delay was over
    report = retry_report(entries)
    (call,) = report.calls
    assert len(call.attempts) == 3
    assert call.honours_retry_after is False
    assert call.gave_up is True
    ignored = [f for f in call.findings if f.code == RETRY_AFTER_IGNORED]
    assert len(ignored) == 2
    for attempt in call.attempts[1:]:
        assert attempt.waited is False
        assert attempt.gap is not None
        assert attempt.gap < 1.0
        assert attempt.short_by is not None
        assert attempt.short_by > asked - 1.0
    with pytest.raises(AssertionError, match=re.escape("honours_retry_after=True")):
        assert_retries(report, honours_retry_after=True)

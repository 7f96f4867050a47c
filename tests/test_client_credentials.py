"""Tests for mockvertex.client.credentials: static tokens, google-auth refreshes, ADC, redaction."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.oauth2.credentials
import pytest

from mockvertex.client.credentials import (
    CLOUD_PLATFORM_SCOPE,
    GoogleCredentials,
    StaticToken,
    TokenSource,
    application_default,
    as_token_source,
)
from mockvertex.contract.errors import Unauthenticated
from mockvertex.server.adc import write_adc_file
from mockvertex.server.runner import MockVertexServer

SECRET = "ya29.very-secret-token"


class CountingCredentials(google.oauth2.credentials.Credentials):
    """OAuth credentials whose refresh hands out numbered tokens, without any network."""

    def __init__(self, token: str | None, expiry: datetime.datetime | None = None) -> None:
        super().__init__(token=token)  # type: ignore[no-untyped-call]
        self.expiry = expiry
        self.refresh_calls = 0

    def refresh(self, request: Any) -> None:
        self.refresh_calls += 1
        self.token = f"token-{self.refresh_calls}"
        self.expiry = _utcnow() + datetime.timedelta(hours=1)


def _utcnow() -> datetime.datetime:
    # google-auth compares naive UTC datetimes
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def test_a_static_token_is_kept_out_of_its_repr() -> None:
    source = StaticToken(SECRET)

    assert source.token() == SECRET
    assert SECRET not in repr(source)
    assert not source.refreshable
    assert not source.stale()
    assert source.quota_project is None
    with pytest.raises(Unauthenticated, match="cannot be refreshed"):
        source.refresh()


@pytest.mark.parametrize("bad", ["", " x", "x\n"])
def test_a_static_token_must_be_a_plain_string(bad: str) -> None:
    with pytest.raises(ValueError, match="static token") as caught:
        StaticToken(bad)
    assert bad.strip() == "" or bad.strip() not in str(caught.value)


def test_a_valid_token_is_used_as_it_is() -> None:
    creds = CountingCredentials("fresh", _utcnow() + datetime.timedelta(hours=1))
    source = GoogleCredentials(creds, request=lambda: None)

    assert source.token() == "fresh"
    assert creds.refresh_calls == 0


def test_a_missing_token_is_fetched_first() -> None:
    creds = CountingCredentials(None)
    source = GoogleCredentials(creds, request=lambda: None)

    assert source.stale()
    assert source.token() == "token-1"
    assert not source.stale()


def test_a_token_about_to_expire_is_refreshed_before_it_is_sent() -> None:
    # google-auth counts a token as stale 3 min 45 s before it expires
    creds = CountingCredentials("old", _utcnow() + datetime.timedelta(minutes=2))
    source = GoogleCredentials(creds, request=lambda: None)

    assert source.token() == "token-1"
    assert source.token() == "token-1"
    assert creds.refresh_calls == source.refreshes == 1


def test_refresh_forces_a_new_token() -> None:
    creds = CountingCredentials("fine", _utcnow() + datetime.timedelta(hours=1))
    source = GoogleCredentials(creds, request=lambda: None)

    source.refresh()

    assert source.token() == "token-1"
    assert source.refreshable


def test_a_failed_refresh_is_unauthenticated_without_the_token() -> None:
    creds = google.oauth2.credentials.Credentials(token=SECRET)  # type: ignore[no-untyped-call]
    source = GoogleCredentials(creds, request=lambda: None)

    with pytest.raises(Unauthenticated, match="could not be refreshed") as caught:
        source.refresh()

    assert isinstance(caught.value.__cause__, google.auth.exceptions.RefreshError)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(source)


def test_a_credentials_object_without_a_token_is_refused_clearly() -> None:
    class NoToken(CountingCredentials):
        def refresh(self, request: Any) -> None:
            self.token = None

    with pytest.raises(Unauthenticated, match="no access token"):
        GoogleCredentials(NoToken(None), request=lambda: None).token()


def test_the_quota_project_is_passed_on() -> None:
    creds = google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
        token="x", quota_project_id="billing-project"
    )

    assert GoogleCredentials(creds).quota_project == "billing-project"


def test_as_token_source() -> None:
    static = StaticToken("x")
    creds = CountingCredentials("x")

    assert as_token_source(static) is static
    assert isinstance(as_token_source("x"), StaticToken)
    wrapped = as_token_source(creds)
    assert isinstance(wrapped, GoogleCredentials)
    assert wrapped.credentials is creds
    assert isinstance(wrapped, TokenSource)
    with pytest.raises(TypeError, match="credentials must be"):
        as_token_source(42)


def test_adc_with_the_cloud_platform_scope_from_a_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mock's credentials file names its own token endpoint, so ADC works offline.
    with MockVertexServer(auth="token=adc-issued") as mock:
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(write_adc_file(mock.url, tmp_path / "c.json"))
        )
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "adc-project")

        source, project = application_default()
        token = source.token()

    assert token == "adc-issued"
    assert project == "adc-project"
    assert CLOUD_PLATFORM_SCOPE == "https://www.googleapis.com/auth/cloud-platform"
    assert repr(source) == "GoogleCredentials(Credentials)"


def test_no_adc_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))

    with pytest.raises(Unauthenticated, match="gcloud auth application-default login"):
        application_default()

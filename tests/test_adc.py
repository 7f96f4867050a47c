"""Local Application Default Credentials: a file google-auth accepts, refreshed by the mock."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import google.auth
import google.auth.transport.requests
import pytest
from google.auth import external_account_authorized_user

from mockvertex.server.adc import adc_info, write_adc_file
from mockvertex.server.runner import MockVertexServer


def test_adc_info_points_at_the_mock_and_holds_no_real_secret() -> None:
    info = adc_info("http://127.0.0.1:8123")
    assert info["type"] == "external_account_authorized_user"
    assert info["token_url"] == "http://127.0.0.1:8123/token"
    for key in ("client_id", "client_secret", "refresh_token"):
        assert info[key].startswith("mockvertex")


def test_write_adc_file_to_a_given_path(tmp_path: Path) -> None:
    target = tmp_path / "creds.json"
    written = write_adc_file("http://127.0.0.1:9", str(target))
    assert written == target
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == adc_info("http://127.0.0.1:9")


def test_write_adc_file_default_path_is_named_after_the_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written = write_adc_file("http://127.0.0.1:4567")
    assert written == tmp_path / "mockvertex-4567-credentials.json"
    assert json.loads(written.read_text(encoding="utf-8"))["token_url"].endswith(":4567/token")


@pytest.mark.parametrize(
    ("auth", "token"), [("vertex", "mockvertex-token"), ("token=t-77", "t-77")]
)
def test_credentials_refresh_against_the_mock(tmp_path: Path, auth: str, token: str) -> None:
    with MockVertexServer(auth=auth) as server:
        path = write_adc_file(server.url, tmp_path / "adc.json")
        credentials, project = google.auth.load_credentials_from_file(str(path))  # type: ignore[no-untyped-call]
        assert isinstance(credentials, external_account_authorized_user.Credentials)
        assert project is None
        assert not credentials.valid
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
        assert credentials.token == token
        assert credentials.valid
        # the token the mock issued opens its model methods
        session = google.auth.transport.requests.AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        resp = session.post(
            server.url_for("gemini-2.0-flash", "countTokens"),
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert resp.status_code == 200
        assert resp.json()["totalTokens"] > 0


def test_google_auth_default_finds_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockVertexServer() as server:
        path = write_adc_file(server.url, tmp_path / "adc.json")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
        assert credentials.token == "mockvertex-token"


def test_a_session_adc_file_routes_a_hard_coded_project_to_its_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google import genai

    with MockVertexServer() as mock:
        path = write_adc_file(mock.url, tmp_path / "team.json", session="team-a")
        assert json.loads(path.read_text("utf-8"))["refresh_token"] == "mockvertex-session:team-a"
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        credentials, _ = google.auth.default()
        credentials.refresh(google.auth.transport.requests.Request())
        assert credentials.token == "mockvertex-session.team-a"
        client = genai.Client(
            vertexai=True,
            project="their-own-project",
            location="us-central1",
            http_options={"base_url": mock.url, "timeout": 5000},
        )
        assert client.models.generate_content(model="gemini-2.0-flash", contents="hi").text
        mock.check()
        (entry,) = mock.journal()
        assert entry.path.startswith("/v1beta1/projects/their-own-project/")
        assert entry.session == "team-a"
        assert [e.session for e in mock.session("team-a").journal()] == ["team-a"]
        assert mock.session("their-own-project").journal() == []


def test_a_plain_adc_file_still_gets_the_plain_token() -> None:
    with MockVertexServer() as mock:
        import requests

        form = {"grant_type": "refresh_token", "refresh_token": "mockvertex-refresh-token"}
        answer = requests.post(f"{mock.url}/token", data=form, timeout=5).json()
        assert answer["access_token"] == "mockvertex-token"
        empty = requests.post(f"{mock.url}/token", timeout=5).json()
        assert empty["access_token"] == "mockvertex-token"
        odd = {"refresh_token": "mockvertex-session:"}  # no name: no session token
        assert (
            requests.post(f"{mock.url}/token", data=odd, timeout=5).json()["access_token"]
            == "mockvertex-token"
        )

"""The pytest plugin, run as users run it: inner test files in a pytester directory, loaded
through the ``pytest11`` entry point (as respx's tests/test_plugin.py does).

Each inner test asserts what it sees through the fixtures; the outer test asserts the inner
outcomes and, where it matters, the inner output.
"""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import google.genai  # noqa: F401  (imported once here; in-process runs reuse it)
import pytest

from mockvertex.server.runner import MockVertexServer

pytest_plugins = ["pytester"]

MODEL = "gemini-2.0-flash"
#: What every inner run is given: a pytest-asyncio setting (its warning would be an error
#: here) and no cache directory in the pytester folder.
_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider
"""
#: Imports and helpers of the inner test files.
_PRELUDE = """
import json
import os
from pathlib import Path

import google.auth
import pytest
from google import genai
from google.genai import errors

MODEL = "gemini-2.0-flash"


def ask(client=None, text="hi"):
    client = client or genai.Client(http_options={"timeout": 5000})
    return client.models.generate_content(model=MODEL, contents=text)
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(_INI)
    monkeypatch.delenv("MOCKVERTEX_URL", raising=False)  # a developer's shell may set it
    return pytester


def _write(pytester: pytest.Pytester, body: str, name: str = "test_inner") -> Path:
    source = _PRELUDE + textwrap.dedent(body)
    return pytester.makepyfile(**{name: source})


def test_the_entry_point_names_the_plugin_module() -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "mockvertex"]
    assert entry.value == "mockvertex.pytest_plugin"


def test_fixtures_have_the_documented_scopes(inner: pytest.Pytester) -> None:
    _write(
        inner,
        """
        from mockvertex.config import ServerConfig
        from mockvertex.server.runner import MockVertexServer

        seen = {}

        def test_first(mockvertex_server, mockvertex_config, mockvertex):
            assert isinstance(mockvertex_server, MockVertexServer)
            assert isinstance(mockvertex_config, ServerConfig)
            assert mockvertex_server.config == mockvertex_config
            seen.update(server=mockvertex_server, config=mockvertex_config, name=mockvertex.name)

        def test_second(mockvertex_server, mockvertex_config, mockvertex):
            assert mockvertex_server is seen["server"]  # started once per run
            assert mockvertex_config is seen["config"]
            assert mockvertex.name != seen["name"]  # a session of its own per test
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)
    listing = inner.runpytest_inprocess("--fixtures").stdout.str()
    for fixture, scope in [
        ("mockvertex_config", "session"),
        ("mockvertex_server", "session"),
        ("mockvertex", "function"),
        ("mockvertex_client", "function"),
    ]:
        shown = f"{fixture} [{scope} scope]" if scope != "function" else f"{fixture} -- "
        assert any(line.startswith(shown) for line in listing.splitlines()), fixture


def test_genai_client_without_arguments_lands_in_the_tests_session(
    inner: pytest.Pytester,
) -> None:
    _write(
        inner,
        """
        def test_plain_client(mockvertex, mockvertex_server):
            reply = ask(text="hello, first test")
            assert reply.text
            (exchange,) = mockvertex.journal()
            assert exchange.path.startswith("/v1beta1/publishers/google/models/")
            assert exchange.session == mockvertex.name
            assert exchange.request["contents"][0]["parts"][0]["text"] == "hello, first test"
            assert os.environ["GOOGLE_VERTEX_BASE_URL"] == mockvertex_server.url

        def test_next_session_is_empty(mockvertex, mockvertex_server):
            assert mockvertex.journal() == []
            ask(text="second")
            # the first test's session was reset when it ended
            everyone = mockvertex_server.journal()
            assert [e.request["contents"][0]["parts"][0]["text"] for e in everyone] == ["second"]
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


def test_vertex_client_with_project_and_location_uses_the_adc_file(
    inner: pytest.Pytester,
) -> None:
    _write(
        inner,
        """
        from google.auth import external_account_authorized_user

        def test_adc(mockvertex, mockvertex_server):
            credentials, project = google.auth.default()
            assert isinstance(credentials, external_account_authorized_user.Credentials)
            assert credentials.token_url == mockvertex_server.url + "/token"
            assert project == mockvertex.name
            client = genai.Client(
                vertexai=True,
                project=mockvertex.name,
                location="us-central1",
                http_options={"timeout": 5000},
            )
            assert ask(client).text
            (exchange,) = mockvertex.journal()
            assert exchange.path.startswith(
                f"/v1beta1/projects/{mockvertex.name}/locations/us-central1/"
            )
        """,
    )
    # The user's conftest overrides the configuration: the mock now wants one exact token,
    # which only its own token endpoint (named by the ADC file) hands out.
    inner.makeconftest(
        """
        import pytest
        from mockvertex.config import ServerConfig

        @pytest.fixture(scope="session")
        def mockvertex_config():
            return ServerConfig(auth="token", token="only-from-the-token-endpoint")
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_a_client_with_its_own_hard_coded_project_still_lands_in_the_tests_session(
    inner: pytest.Pytester,
) -> None:
    _write(
        inner,
        """
        def test_hard_coded(mockvertex, mockvertex_server):
            client = genai.Client(
                vertexai=True,
                project="the-apps-own-project",
                location="us-central1",
                http_options={"timeout": 5000},
            )
            assert ask(client).text
            (exchange,) = mockvertex.journal()
            assert exchange.path.startswith("/v1beta1/projects/the-apps-own-project/")
            assert mockvertex_server.session("the-apps-own-project").journal() == []

        def test_next_test_has_its_own(mockvertex):
            assert mockvertex.journal() == []
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


def test_marker_scripts_scenarios_by_name_path_and_mapping(inner: pytest.Pytester) -> None:
    scenario = {
        "format": 1,
        "name": "from_a_file",
        "match": {"lastUserText": {"contains": "file"}},
        "steps": [{"times": "forever", "respond": {"text": "Read from a file."}}],
    }
    (inner.path / "scenarios").mkdir()
    (inner.path / "scenarios" / "canned.json").write_text(json.dumps(scenario), "utf-8")
    _write(
        inner,
        """
        @pytest.mark.mockvertex(scenario="rate_limited_then_ok")
        def test_builtin(mockvertex):
            for _ in range(2):
                with pytest.raises(errors.ClientError) as caught:
                    ask()
                assert caught.value.code == 429
            assert ask().text
            assert [e.status for e in mockvertex.journal()] == [429, 429, 200]

        @pytest.mark.mockvertex(scenario="scenarios/canned.json")
        def test_path_relative_to_rootdir(mockvertex):
            assert ask(text="from the file please").text == "Read from a file."

        INLINE = {
            "format": 1,
            "name": "inline",
            "steps": [{"times": "forever", "respond": {"text": "Inline answer."}}],
        }

        @pytest.mark.mockvertex(scenario=[INLINE, "scenarios/canned.json"])
        def test_mapping_and_list(mockvertex):
            assert ask(text="file").text == "Inline answer."  # the first added wins
            assert [e.scenario for e in mockvertex.journal()] == ["inline"]
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=3)


def test_marker_faults_and_quota(inner: pytest.Pytester) -> None:
    _write(
        inner,
        """
        @pytest.mark.mockvertex(
            faults=[{"error": {"code": 503}, "times": 1}, {"error": {"code": 500}, "times": 1}]
        )
        def test_faults_in_order_then_default(mockvertex):
            codes = []
            for _ in range(2):
                with pytest.raises(errors.ServerError) as caught:
                    ask()
                codes.append(caught.value.code)
            assert codes == [503, 500]
            assert ask().text
            assert [e.status for e in mockvertex.journal()] == [503, 500, 200]

        @pytest.mark.mockvertex(quota="rpm=1")
        def test_quota(mockvertex):
            assert ask().text
            with pytest.raises(errors.ClientError) as caught:
                ask()
            assert caught.value.code == 429
            assert "Quota exceeded for" in caught.value.message
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


def test_bad_marker_use_fails_that_test_with_the_reason(inner: pytest.Pytester) -> None:
    _write(
        inner,
        """
        @pytest.mark.mockvertex(scenarios="rate_limited_then_ok")
        def test_unknown_keyword(mockvertex):
            pass

        @pytest.mark.mockvertex(faults="503")
        def test_faults_not_steps(mockvertex):
            pass

        @pytest.mark.mockvertex(scenario="no_such_builtin")
        def test_unknown_scenario(mockvertex):
            pass

        @pytest.mark.mockvertex(quota="rpm=lots")
        def test_bad_quota(mockvertex):
            pass

        @pytest.mark.mockvertex(scenario="rate_limited_then_ok")
        def test_marker_without_the_fixture():
            pass

        def test_fine(mockvertex):
            assert ask().text
        """,
    )
    result = inner.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=5)
    result.stdout.fnmatch_lines_random(
        [
            "*takes only the keywords scenario, faults, quota; got scenarios",
            "*(faults=...) takes a list of steps",
            "*(scenario=...): no_such_builtin: <root>: unknown built-in scenario*",
            "*(quota=...): *",
            "*which test_marker_without_the_fixture does not use*",
        ]
    )


def test_server_bug_fails_the_test_that_caused_it_and_not_the_next(
    inner: pytest.Pytester,
) -> None:
    _write(
        inner,
        """
        from mockvertex.server import app as server_app

        def explode(*args, **kwargs):
            raise RuntimeError("boom in the responder")

        def test_hits_the_bug(mockvertex, monkeypatch):
            monkeypatch.setattr(server_app, "render", explode)
            with pytest.raises(errors.ServerError) as caught:
                ask()
            assert caught.value.code == 500  # the client saw a 500; the test body passes

        def test_next_is_clean(mockvertex):
            assert ask().text
            assert mockvertex.errors() == []
        """,
    )
    result = inner.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*boom in the responder*", "FAILED *test_hits_the_bug*"])
    assert "test_next_is_clean FAILED" not in result.stdout.str()


def test_faults_do_not_leak_into_the_next_test(inner: pytest.Pytester) -> None:
    _write(
        inner,
        """
        @pytest.mark.mockvertex(faults=[{"error": {"code": 429}, "times": "forever"}])
        def test_always_limited(mockvertex):
            steps = [{"times": 5, "respond": {"text": "x"}}]
            mockvertex.add_scenario({"format": 1, "name": "left_behind", "steps": steps})
            with pytest.raises(errors.ClientError):
                ask()

        def test_after(mockvertex):
            assert ask().text != "x"
            (exchange,) = mockvertex.journal()
            assert (exchange.status, exchange.scenario) == (200, None)
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


_REMOTE_TEST = """
from mockvertex.remote import RemoteMock

@pytest.mark.mockvertex(faults=[{"error": {"code": 503}, "times": 1}])
def test_remote(mockvertex, mockvertex_server):
    assert isinstance(mockvertex_server, RemoteMock)
    assert mockvertex_server.url == os.environ["EXPECTED_URL"]
    with pytest.raises(errors.ServerError):
        ask()
    assert ask().text == "Answered by the server already running."
    assert [e.status for e in mockvertex.journal()] == [503, 200]
"""


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_running_server_is_used_by_url(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _write(inner, _REMOTE_TEST)
    steps = [{"times": "forever", "respond": {"text": "Answered by the server already running."}}]
    with MockVertexServer(scenarios=({"format": 1, "name": "running", "steps": steps},)) as running:
        monkeypatch.setenv("EXPECTED_URL", running.url)
        if how == "option":
            result = inner.runpytest_inprocess(f"--mockvertex-url={running.url}")
        else:
            monkeypatch.setenv("MOCKVERTEX_URL", running.url)
            result = inner.runpytest_inprocess()
        result.assert_outcomes(passed=1)
        # the inner test's session was reset when it ended: nothing of it is left
        assert (running.sessions(), running.journal()) == ([], [])


def test_under_xdist_each_worker_has_its_own_server(inner: pytest.Pytester) -> None:
    body = """
        CODES = {CODES}

        @pytest.mark.parametrize("code", CODES)
        def test_own_fault(mockvertex, mockvertex_server, worker_id, code):
            mockvertex.add_fault({{"error": {{"code": code}}, "times": 1}})
            with pytest.raises(errors.APIError) as caught:
                ask(text=str(code))
            assert caught.value.code == code
            assert ask(text=str(code)).text
            assert [e.status for e in mockvertex.journal()] == [code, 200]
            with open("{RECORD}", "a") as record:
                record.write(f"{{worker_id}} {{mockvertex_server.port}} {{code}}\\n")
        """
    record = inner.path / "record.txt"
    _write(inner, body.format(CODES=[429, 500, 503], RECORD=record), "test_worker_a")
    _write(inner, body.format(CODES=[400, 404, 504], RECORD=record), "test_worker_b")
    result = inner.runpytest_inprocess("-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=6)
    rows = [line.split() for line in record.read_text().splitlines()]
    assert sorted(int(code) for _, _, code in rows) == [400, 404, 429, 500, 503, 504]
    ports = {worker: port for worker, port, _ in rows}
    assert sorted(ports) == ["gw0", "gw1"]
    assert len(set(ports.values())) == 2  # two servers, one per worker


def test_mockvertex_client_reaches_the_tests_session(inner: pytest.Pytester) -> None:
    _write(
        inner,
        """
        from mockvertex.client import VertexClient

        def test_client(mockvertex, mockvertex_client):
            assert isinstance(mockvertex_client, VertexClient)
            assert mockvertex_client.generate_content(MODEL, "hi")
            (exchange,) = mockvertex.journal()
            assert f"/projects/{mockvertex.name}/" in exchange.path
        """,
    )
    inner.runpytest_inprocess().assert_outcomes(passed=1)

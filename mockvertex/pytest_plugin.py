"""The pytest plugin (entry point ``pytest11`` ``mockvertex``): one mock per test run, one mock
session per test.

- ``mockvertex_config`` (session scope): the ``ServerConfig`` the run's mock starts with;
  override it in a conftest.
- ``mockvertex_server`` (session scope): that mock, a ``MockVertexServer`` started once on
  ``127.0.0.1:0``; or, with ``--mockvertex-url URL`` (or ``MOCKVERTEX_URL``), a ``RemoteMock``
  of a server already running. Under pytest-xdist each worker starts its own.
- ``mockvertex`` (function scope): this test's own session on that server, reset before and
  after, scripted by the ``@pytest.mark.mockvertex(scenario=..., faults=..., quota=...)``
  marker. It points google-genai at the mock through the environment, so ``genai.Client()``
  lands in this session, and so does ``genai.Client(vertexai=True, project=mockvertex.name,
  location=...)`` (the credentials come from a local ADC file whose token endpoint is the
  mock). A bug the server hit while handling this session's requests fails this test.
- ``mockvertex_client``: a ``mockvertex.client.VertexClient`` on this test's session.

Thin on purpose, like pytest-httpserver's plugin: the server, its sessions and the scenario
format live in the package; this module wires them to pytest. It imports no server code until
a fixture asks for it, so having mockvertex installed costs a test run nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mockvertex.config import ServerConfig, remote_url

if TYPE_CHECKING:
    from mockvertex.client import VertexClient
    from mockvertex.engine.session import MockSession
    from mockvertex.remote import RemoteMock, RemoteSession
    from mockvertex.server.runner import MockVertexServer

    _Server = MockVertexServer | RemoteMock
    _Session = MockSession | RemoteSession

__all__ = ["LOCATION", "MARKER"]

MARKER = "mockvertex"
#: The location the environment names; any location reaches the mock.
LOCATION = "us-central1"
_MARKER_KEYS = ("scenario", "faults", "quota")
_MARKER_HELP = (
    "mockvertex(scenario=None, faults=None, quota=None): script this test's mock session: "
    "scenario is a built-in name, a path (relative to the rootdir), a scenario mapping or a "
    "list of them; faults a list of scenario steps; quota a spec such as 'rpm=2,tpm=1000'."
)
#: google-genai's variables (``google/genai/_api_client.py``, ``_base_url.py``, 2.34) that the
#: fixture sets, and those it removes because any of them would send ``genai.Client()`` away
#: from the session: with a base URL, a project or location from the environment turns Vertex
#: mode into "gateway" mode, which posts to the bare base URL; GEMINI_API_KEY and
#: GOOGLE_GENAI_USE_ENTERPRISE would override the ones set here.
_GENAI_UNSET = (
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_ENTERPRISE",
)


_SESSION = pytest.StashKey["_Session"]()
_REPORTED = pytest.StashKey[int]()
_SALT = pytest.StashKey[str]()


# ---------------------------------------------------------------------------------------------
# Hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockvertex")
    group.addoption(
        "--mockvertex-url",
        dest="mockvertex_url",
        metavar="URL",
        default=None,
        help="use the mockvertex server already running at URL (e.g. a CI container) instead "
        "of starting one; default: $MOCKVERTEX_URL, else a server on 127.0.0.1:0",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    # A per-run salt in the session names keeps two runs against one shared server apart.
    config.stash[_SALT] = secrets.token_hex(4)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is None:
        return
    if MARKER not in getattr(item, "fixturenames", ()):
        pytest.fail(
            f"@pytest.mark.{MARKER} scripts the '{MARKER}' fixture, which {item.name} does not "
            f"use: add the fixture to its arguments",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test that caused it with a bug the server hit on its session's requests."""
    __tracebackhide__ = True
    try:
        result = yield
    except (Exception, pytest.fail.Exception):
        _raise_server_bug(item)  # chained to the test's own failure, which it likely explains
        raise
    _raise_server_bug(item)
    return result


def _raise_server_bug(item: pytest.Item) -> None:
    __tracebackhide__ = True
    session = item.stash.get(_SESSION, None)
    if session is None:
        return
    count = len(session.errors())
    if count > item.stash.get(_REPORTED, 0):
        item.stash[_REPORTED] = count
        session.check()


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def mockvertex_config() -> ServerConfig:
    """The configuration of the run's mock server; override this fixture to change it."""
    return ServerConfig()


@pytest.fixture(scope="session")
def mockvertex_server(
    request: pytest.FixtureRequest, mockvertex_config: ServerConfig
) -> Iterator[_Server]:
    """The run's mock: started once (per xdist worker), or a running one by ``--mockvertex-url``."""
    url = request.config.getoption("mockvertex_url") or remote_url()
    if url:
        from mockvertex.remote import RemoteMock

        with RemoteMock(url) as remote:
            remote.health()  # nothing listening there fails every test at once, with the reason
            yield remote
        return
    from mockvertex.server.runner import MockVertexServer

    server = MockVertexServer(mockvertex_config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _mockvertex_credentials(
    mockvertex_server: _Server, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An ADC file whose token endpoint is the mock (it holds no secret)."""
    from mockvertex.server.adc import write_adc_file

    folder = tmp_path_factory.mktemp("mockvertex")
    return write_adc_file(mockvertex_server.url, folder / "credentials.json")


@pytest.fixture
def mockvertex(
    request: pytest.FixtureRequest,
    mockvertex_server: _Server,
    _mockvertex_credentials: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[_Session]:
    """This test's own session on the run's mock, scripted by the ``mockvertex`` marker."""
    from mockvertex.engine.session import key_session
    from mockvertex.server.adc import write_adc_file

    salt = request.config.stash[_SALT]
    digest = hashlib.sha256(f"{salt} {request.node.nodeid}".encode()).hexdigest()[:16]
    api_key = f"mockvertex-{digest}"
    session: _Session = mockvertex_server.session(key_session(api_key))
    session.reset()
    # The test's own ADC file: its token routes every request to this session, also from
    # code that hard-codes a project of its own.
    credentials = write_adc_file(
        mockvertex_server.url,
        _mockvertex_credentials.with_name(f"credentials-{digest}.json"),
        session=session.name,
    )
    _point_genai_at(monkeypatch, mockvertex_server.url, session.name, api_key, credentials)
    node = request.node
    try:
        marker = node.get_closest_marker(MARKER)
        if marker is not None:
            _apply(session, marker, request.config.rootpath)
        node.stash[_SESSION] = session
        yield session
        if len(session.errors()) > node.stash.get(_REPORTED, 0):
            raise AssertionError(
                f"mockvertex session {session.name!r}: the server hit a bug after the test "
                "body ended:\n" + "\n".join(session.errors()[node.stash.get(_REPORTED, 0) :])
            )
    finally:
        if _SESSION in node.stash:
            del node.stash[_SESSION]
        session.reset()


@pytest.fixture
def mockvertex_client(mockvertex: _Session, mockvertex_server: _Server) -> Iterator[VertexClient]:
    """A ``VertexClient`` on this test's session (located paths, project = the session name)."""
    from mockvertex.client import VertexClient

    client = VertexClient(
        project=mockvertex.name,
        location=LOCATION,
        base_url=mockvertex_server.url,
        token="mockvertex-token",
    )
    try:
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# Helpers


def _point_genai_at(
    monkeypatch: pytest.MonkeyPatch, url: str, project: str, api_key: str, adc: Path
) -> None:
    """google-genai's environment for this session (see ``_GENAI_UNSET`` for why each).

    ``genai.Client()`` resolves to Vertex express mode with the API key, whose requests the
    mock files under ``key_session(api_key)``; a client built with a project and location
    uses those instead of the key, and Application Default Credentials from ``adc``.
    ``GOOGLE_GEMINI_BASE_URL`` is the URL google-genai uses when Vertex mode comes from the
    environment rather than ``vertexai=True``. ``GCLOUD_PROJECT``, which google-auth reads and
    google-genai does not, makes ``google.auth.default()`` name the session as the project.
    """
    for name in _GENAI_UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_API_KEY", api_key)
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", url)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("GCLOUD_PROJECT", project)


def _apply(session: _Session, marker: pytest.Mark, rootdir: Path) -> None:
    """Add the marker's scenarios, faults and quota to the session, or fail with why not."""
    unknown = sorted(set(marker.kwargs) - set(_MARKER_KEYS))
    if marker.args or unknown:
        given = [*(repr(a) for a in marker.args), *unknown]
        pytest.fail(
            f"@pytest.mark.{MARKER} takes only the keywords {', '.join(_MARKER_KEYS)}; "
            f"got {', '.join(given)}",
            pytrace=False,
        )
    steps = _as_list(marker.kwargs.get("faults"), "faults")
    for step in steps:
        if not isinstance(step, Mapping):
            pytest.fail(
                f"@pytest.mark.{MARKER}(faults=...) takes scenario steps (mappings such as "
                f'{{"error": {{"code": 429}}, "times": 2}}), not {step!r}',
                pytrace=False,
            )
    with _bad_marker_value("scenario"):
        for scenario in _as_list(marker.kwargs.get("scenario"), "scenario"):
            session.add_scenario(_scenario_source(scenario, rootdir))
    with _bad_marker_value("faults"):
        for step in steps:
            session.add_fault(step)
    if "quota" in marker.kwargs:
        with _bad_marker_value("quota"):
            session.set_quota(marker.kwargs["quota"])


@contextmanager
def _bad_marker_value(keyword: str) -> Iterator[None]:
    """A value the mock refuses (a DataFileError, a bad quota text, a remote's 400) fails the
    test's setup with the mock's own explanation, without a traceback through the plugin."""
    from mockvertex.contract.errors import InvalidArgument

    try:
        yield
    except (ValueError, InvalidArgument) as exc:
        reason = str(exc)
    else:
        return
    pytest.fail(f"@pytest.mark.{MARKER}({keyword}=...): {reason}", pytrace=False)


def _as_list(value: object, keyword: str) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return value
    if keyword == "faults" and not isinstance(value, Mapping):
        pytest.fail(f"@pytest.mark.{MARKER}(faults=...) takes a list of steps", pytrace=False)
    return (value,)


def _scenario_source(value: Any, rootdir: Path) -> Any:
    """A built-in name stays a name; a path (``.json``, or with a slash) is made absolute."""
    if isinstance(value, Path) or (
        isinstance(value, str) and (value.endswith(".json") or "/" in value or "\\" in value)
    ):
        path = Path(value)
        return path if path.is_absolute() else rootdir / path
    return value

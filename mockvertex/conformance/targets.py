"""Where the conformance suite sends its requests, and what comes back, byte for byte.

A :class:`Target` is one server that speaks the Vertex AI REST API:

* ``mock``: a :class:`~mockvertex.server.runner.MockVertexServer` started in this process;
* ``vertex``: the real API for ``--project`` and ``--location``, with Application Default
  Credentials;
* any ``http(s)://`` URL: another mock, a gateway or proxy in front of Vertex, an emulator, with
  a static token, ADC, or no credentials.

``Target.send`` returns a :class:`Reply`: the status, the headers and the body as it arrived,
each read of the socket with its time. A target whose ``GET {url}/_mockvertex/v1/health``
answers has the mock's control plane (``Target.control``, a session that takes faults); the
properties that inject faults run only there. :class:`ReplayServer` serves recorded replies on
127.0.0.1, so two clients can read the very same bytes.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol

import requests

from mockvertex.client.credentials import StaticToken, TokenSource, application_default
from mockvertex.contract import api
from mockvertex.contract.errors import StatusError
from mockvertex.contract.wire import Framing

__all__ = [
    "ARRAY",
    "ARRAY_INT",
    "DEFAULT_MODEL",
    "SSE",
    "UNARY",
    "UNARY_INT",
    "Call",
    "Control",
    "Mode",
    "Read",
    "ReplayServer",
    "Reply",
    "Target",
    "TargetError",
    "TargetSpec",
    "TransportFailure",
    "open_reference",
    "open_target",
]

DEFAULT_MODEL = "gemini-2.0-flash"
#: The bearer token sent to a mock (``auth=vertex`` takes any).
MOCK_TOKEN = "mockvertex-conformance-token"
#: The project of the mock's paths, which is also the control-plane session faults go to.
MOCK_PROJECT = "mockvertex-conformance"
_HEALTH = "/_mockvertex/v1/health"
_READ_SIZE = 64 * 1024
#: Statuses a live target answers now and then whatever the request (quota, overload).
_TRANSIENT = frozenset({429, 503})


class TargetError(Exception):
    """A target that cannot be used: bad options, no credentials, nothing listening. One line."""


class TransportFailure(Exception):
    """A request that got no HTTP reply (refused, reset, timed out)."""


@dataclass(frozen=True)
class Mode:
    """How a call asks to be answered: the framing, and whether enums come as integers."""

    framing: Framing
    int_enums: bool = False

    @property
    def name(self) -> str:
        return self.framing.value + ("+int" if self.int_enums else "")

    @property
    def streaming(self) -> bool:
        return self.framing is not Framing.UNARY

    def query(self) -> dict[str, str]:
        """The query string that asks for this mode (``contract.api``'s spelling)."""
        if self.streaming:
            return api.stream_query(self.framing, int_enums=self.int_enums)
        return {"$alt": "json;enum-encoding=int"} if self.int_enums else {}

    def rpc(self, unary: str = "generateContent") -> str:
        return "streamGenerateContent" if self.streaming else unary

    def __repr__(self) -> str:
        return self.name


UNARY = Mode(Framing.UNARY)
UNARY_INT = Mode(Framing.UNARY, int_enums=True)
SSE = Mode(Framing.SSE)
ARRAY = Mode(Framing.ARRAY)
ARRAY_INT = Mode(Framing.ARRAY, int_enums=True)


@dataclass(frozen=True)
class Read:
    """One read of the body: ``at`` seconds after the request went out, and its bytes."""

    at: float
    data: bytes


@dataclass(frozen=True)
class Call:
    """One request as sent (its credentials aside): enough to send it again with curl."""

    rpc: str
    mode: Mode
    url: str
    body: bytes
    model: str

    def curl(self, body_file: str, *, auth: str | None) -> str:
        """The curl command that repeats the call; ``auth`` is a shell expression, never a
        token (``$(gcloud auth print-access-token)``)."""
        parts = ["curl", "-sS", "-X", "POST", shlex.quote(self.url)]
        parts += ["-H", shlex.quote("Content-Type: application/json")]
        if auth is not None:
            parts += ["-H", f'"Authorization: Bearer {auth}"']
        if self.mode.streaming:
            parts.append("-N")
        parts += ["--data-binary", shlex.quote("@" + body_file)]
        return " ".join(parts)


@dataclass(frozen=True)
class Reply:
    """What came back: status, headers (as sent, in order), the body and each read of it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    reads: tuple[Read, ...] = ()
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""

    @property
    def first_byte(self) -> float | None:
        """Seconds from the request to the first body byte (None for an empty body)."""
        return self.reads[0].at if self.reads else None


class Control(Protocol):
    """The part of a mock session (``MockSession`` or ``RemoteSession``) the faults need."""

    def add_fault(
        self,
        step: Mapping[str, Any],
        *,
        match: Mapping[str, Any] | None = ...,
        name: str | None = ...,
    ) -> Any: ...

    def remove_scenario(self, name: str) -> None: ...


@dataclass(frozen=True)
class TargetSpec:
    """What the options asked for. ``token``: a static token, ``"adc"``, ``"none"`` or None
    (the target's default: the mock's token for a mock, ADC for Vertex, none for a URL that is
    not a mockvertex)."""

    target: str = "mock"
    project: str | None = None
    location: str = "us-central1"
    token: str | None = None
    model: str = DEFAULT_MODEL
    api_version: str = "v1"
    #: Seconds at least between two requests (the live profile spares quota with it).
    min_interval: float = 0.0
    #: How often a 429 or 503 is tried again on a live target (with a pause that doubles).
    transient_retries: int = 0
    timeout: float = 60.0


class Target:
    """One server the suite talks to over HTTP. Use ``open_target``; close it afterwards."""

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        base_url: str,
        project: str | None,
        location: str,
        model: str,
        api_version: str = "v1",
        credentials: TokenSource | None = None,
        auth_hint: str | None = None,
        control: Control | None = None,
        min_interval: float = 0.0,
        transient_retries: int = 0,
        timeout: float = 60.0,
        owned: Any = None,
    ) -> None:
        self.name = name
        #: "mock", "vertex" or "url".
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.location = location
        self.model = model
        self.api_version = api_version
        self.credentials = credentials
        #: What a reproduction puts in its curl command instead of the token.
        self.auth_hint = auth_hint
        self.control = control
        self.min_interval = min_interval
        self.transient_retries = transient_retries
        self.timeout = timeout
        self.requests_sent = 0
        self._owned = owned
        self._http = requests.Session()
        self._last = 0.0
        self._lock = threading.Lock()

    # -- what it is
    @property
    def is_mock(self) -> bool:
        return self.kind == "mock"

    @property
    def deterministic(self) -> bool:
        """Whether the same request gets the same reply (a mockvertex's default responder)."""
        return self.kind == "mock" or self.control is not None

    def describe(self) -> dict[str, Any]:
        """The target for a report: no credentials, only how they were obtained."""
        return {
            "name": self.name,
            "kind": self.kind,
            "baseUrl": self.base_url,
            "project": self.project,
            "location": self.location,
            "model": self.model,
            "apiVersion": self.api_version,
            "controlPlane": self.control is not None,
            "credentials": type(self.credentials).__name__ if self.credentials else None,
        }

    # -- requests
    def url(self, rpc: str, mode: Mode = UNARY, *, model: str | None = None) -> str:
        path = api.model_path(
            model or self.model,
            rpc,
            project=self.project,
            location=self.location,
            api_version=self.api_version,
        )
        query = mode.query()
        if query:
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return self.base_url + path

    def call(self, rpc: str, body: bytes, mode: Mode = UNARY, *, model: str | None = None) -> Call:
        return Call(rpc, mode, self.url(rpc, mode, model=model), body, model or self.model)

    def token(self) -> str | None:
        return None if self.credentials is None else self.credentials.token()

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "mockvertex-conformance"}
        token = self.token()
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return headers

    def send(self, call: Call) -> Reply:
        """Send one call and read its reply whole, noting each read; 429/503 are tried again
        ``transient_retries`` times (a live target's quota), pausing 2, 4, ... seconds."""
        pause = 2.0
        for attempt in range(self.transient_retries + 1):
            reply = self._send_once(call)
            if reply.status not in _TRANSIENT or attempt == self.transient_retries:
                return reply
            time.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _pace(self) -> None:
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def _send_once(self, call: Call) -> Reply:
        self._pace()
        self.requests_sent += 1
        start = time.monotonic()
        try:
            response = self._http.post(
                call.url,
                data=call.body,
                headers=self.headers(),
                timeout=(10.0, self.timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportFailure(f"{call.url}: no reply ({type(exc).__name__})") from exc
        reads: list[Read] = []
        try:
            raw = response.raw
            while True:
                piece = raw.read1(_READ_SIZE, decode_content=True)
                if not piece:
                    break
                reads.append(Read(time.monotonic() - start, piece))
        except Exception as exc:  # urllib3's ProtocolError, a reset, a timeout mid-body
            raise TransportFailure(f"{call.url}: the body broke ({type(exc).__name__})") from exc
        finally:
            response.close()
        return Reply(
            status=response.status_code,
            headers=tuple(response.raw.headers.items()),
            body=b"".join(r.data for r in reads),
            reads=tuple(reads),
            elapsed=time.monotonic() - start,
        )

    # -- lifecycle
    def close(self) -> None:
        self._http.close()
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.stop()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Target({self.name!r}, {self.base_url!r})"


def open_target(spec: TargetSpec) -> Target:
    """The target the spec names, ready to send to; ``TargetError`` (one line) when it cannot be."""
    if spec.target == "mock":
        return _open_mock(spec)
    if spec.target == "vertex":
        return _open_vertex(spec)
    if spec.target.startswith(("http://", "https://")):
        return _open_url(spec)
    raise TargetError(f"--target must be mock, vertex or an http(s):// URL, not {spec.target!r}")


def open_reference(model: str = DEFAULT_MODEL, api_version: str = "v1") -> Target:
    """A fresh in-process mock: the contract a non-mock target is compared with."""
    return _open_mock(TargetSpec(model=model, api_version=api_version))


def _open_mock(spec: TargetSpec) -> Target:
    from mockvertex.config import ServerConfig
    from mockvertex.server.runner import MockVertexServer

    project = spec.project or MOCK_PROJECT
    server = MockVertexServer(ServerConfig(host="127.0.0.1", port=0)).start()
    return Target(
        name="mock",
        kind="mock",
        base_url=server.url,
        project=project,
        location=spec.location,
        model=spec.model,
        api_version=spec.api_version,
        credentials=StaticToken(MOCK_TOKEN),
        auth_hint=MOCK_TOKEN,
        control=server.session(project),
        min_interval=spec.min_interval,
        timeout=spec.timeout,
        owned=server,
    )


def _credentials(spec: TargetSpec, default: str) -> tuple[TokenSource | None, str | None]:
    """The token source and the curl hint for ``spec.token`` (or ``default`` when None)."""
    choice = spec.token if spec.token is not None else default
    if choice == "none":
        return None, None
    if choice == "adc":
        try:
            source, _ = application_default()
            source.token()  # fail here, in one line, rather than in every test
        except StatusError as exc:
            raise TargetError(f"--target {spec.target}: {exc.message}") from None
        return source, "$(gcloud auth application-default print-access-token)"
    try:
        return StaticToken(choice), "$TOKEN"
    except ValueError as exc:
        raise TargetError(f"--token: {exc}") from None


def _open_vertex(spec: TargetSpec) -> Target:
    if not spec.project:
        raise TargetError(
            "--target vertex needs --project PROJECT (and --location, default us-central1)"
        )
    try:
        base_url = api.vertex_base_url(spec.location)
    except ValueError as exc:
        raise TargetError(f"--location: {exc}") from None
    credentials, hint = _credentials(spec, "adc")
    return Target(
        name="vertex",
        kind="vertex",
        base_url=base_url,
        project=spec.project,
        location=spec.location,
        model=spec.model,
        api_version=spec.api_version,
        credentials=credentials,
        auth_hint=hint,
        min_interval=spec.min_interval,
        transient_retries=spec.transient_retries,
        timeout=spec.timeout,
    )


def _has_control_plane(url: str) -> bool:
    try:
        answer = requests.get(url + _HEALTH, timeout=5.0, allow_redirects=False)
    except requests.RequestException:
        return False
    try:
        return answer.status_code == 200 and answer.json().get("status") == "ok"
    except (ValueError, AttributeError):
        return False


def _open_url(spec: TargetSpec) -> Target:
    url = spec.target.rstrip("/")
    try:
        requests.head(url, timeout=5.0, allow_redirects=False)
    except requests.RequestException as exc:
        raise TargetError(f"--target {url}: nothing answers there ({type(exc).__name__})") from None
    control: Control | None = None
    project = spec.project or MOCK_PROJECT
    if _has_control_plane(url):
        from mockvertex.remote import RemoteMock

        control = RemoteMock(url).session(project)
    credentials, hint = _credentials(spec, MOCK_TOKEN if control is not None else "none")
    return Target(
        name=url,
        kind="url",
        base_url=url,
        project=project,
        location=spec.location,
        model=spec.model,
        api_version=spec.api_version,
        credentials=credentials,
        auth_hint=hint,
        control=control,
        min_interval=spec.min_interval,
        transient_retries=spec.transient_retries,
        timeout=spec.timeout,
    )


# --------------------------------------------------------------------------------------------
# Replaying a reply to clients


@dataclass
class _Script:
    reply: Reply | None = None
    served: int = 0
    paths: list[str] = field(default_factory=list)


class ReplayServer:
    """Serves one recorded :class:`Reply` to whatever asks, on 127.0.0.1, read by read.

    Two clients pointed at it read exactly the bytes a target sent (in the pieces it sent them,
    as HTTP/1.1 chunks), whatever they ask for: what they make of them can then be compared.
    """

    def __init__(self) -> None:
        script = self._script = _Script()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the name http.server dispatches on
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                script.paths.append(self.path)
                reply = script.reply
                if reply is None:
                    self.send_error(503, "nothing to replay")
                    return
                script.served += 1
                self.send_response(reply.status)
                for name, value in reply.headers:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in _pieces(reply):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mockvertex-replay", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, reply: Reply) -> None:
        """Answer every request from now on with ``reply``."""
        self._script.reply = reply

    @property
    def served(self) -> int:
        return self._script.served

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HOP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
)


def _pieces(reply: Reply) -> Iterator[bytes]:
    if reply.reads:
        for read in reply.reads:
            if read.data:
                yield read.data
    elif reply.body:
        yield reply.body

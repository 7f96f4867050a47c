"""Where the bearer token comes from: google-auth credentials (ADC or any object), or a static
token for the mock. No token is ever part of a repr, a log line or an exception message.

google-auth is imported only when google-auth credentials are used: a client for the mock
with a static token needs nothing but the transport.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mockvertex.contract.errors import Unauthenticated

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "GoogleCredentials",
    "StaticToken",
    "TokenSource",
    "application_default",
    "as_token_source",
]

#: The scope Vertex AI calls need (google-genai asks ADC for the same one).
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@runtime_checkable
class TokenSource(Protocol):
    """What a transport needs from credentials."""

    #: Whether ``refresh`` can get a different token (a 401 is then tried once more).
    refreshable: bool

    def token(self) -> str:
        """A token valid now (refreshing first when it is missing or about to expire)."""
        ...

    def stale(self) -> bool:
        """Whether ``token()`` would refresh first (blocking I/O an async caller offloads)."""
        ...

    def refresh(self) -> None:
        """Get a new token now (after a 401)."""
        ...

    @property
    def quota_project(self) -> str | None:
        """The project to bill (``x-goog-user-project``), if the credentials name one."""
        ...


class StaticToken:
    """A fixed bearer token, for the mock (``auth="token=..."``) or a token minted elsewhere."""

    refreshable = False

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token or token != token.strip():
            raise ValueError("a static token must be a non-empty string without spaces around")
        self._token = token

    def token(self) -> str:
        return self._token

    def stale(self) -> bool:
        return False

    def refresh(self) -> None:
        raise Unauthenticated("A static token cannot be refreshed.")

    @property
    def quota_project(self) -> str | None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class GoogleCredentials:
    """Any ``google.auth.credentials.Credentials``: refreshed before expiry, and on demand.

    google-auth reports a token as stale 3 min 45 s before it expires
    (``_helpers.REFRESH_THRESHOLD``); ``token()`` refreshes it then, so a call never leaves
    with a token about to lapse. Refreshes are serialised by a lock: threads sharing a
    client refresh once, not once each.
    """

    refreshable = True

    def __init__(
        self,
        credentials: google.auth.credentials.Credentials,
        *,
        request: Callable[[], Any] | None = None,
    ) -> None:
        self._credentials = credentials
        self._request = request
        self._lock = threading.Lock()
        self.refreshes = 0

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        return self._credentials

    def _transport(self) -> Any:
        if self._request is not None:
            return self._request()
        import google.auth.transport.requests

        return google.auth.transport.requests.Request()

    def stale(self) -> bool:
        creds: Any = self._credentials
        state = getattr(creds, "token_state", None)
        if state is not None:
            return bool(state.name != "FRESH")
        return not bool(creds.valid)

    def token(self) -> str:
        if self.stale():
            with self._lock:
                if self.stale():
                    self._refresh_locked()
        token = self._credentials.token
        if not token:
            raise Unauthenticated("The credentials produced no access token.")
        return str(token)

    def refresh(self) -> None:
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        import google.auth.exceptions

        creds: Any = self._credentials  # google-auth's refresh is untyped
        try:
            creds.refresh(self._transport())
        except google.auth.exceptions.RefreshError as exc:
            # RefreshError carries the token endpoint's answer, never the access token.
            raise Unauthenticated(f"The credentials could not be refreshed: {exc}") from exc
        self.refreshes += 1

    @property
    def quota_project(self) -> str | None:
        project = getattr(self._credentials, "quota_project_id", None)
        return None if project is None else str(project)

    def __repr__(self) -> str:
        return f"GoogleCredentials({type(self._credentials).__name__})"


def application_default(
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,),
) -> tuple[GoogleCredentials, str | None]:
    """Application Default Credentials with the cloud-platform scope, and ADC's project.

    Raises ``Unauthenticated`` with what to do when none are found (``google.auth.default``
    raises ``DefaultCredentialsError``) or google-auth is not installed.
    """
    try:
        import google.auth
        import google.auth.exceptions
    except ImportError as exc:
        raise Unauthenticated(
            "Application Default Credentials need google-auth: pip install google-auth"
        ) from exc
    try:
        credentials, project = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise Unauthenticated(
            "No Application Default Credentials found: run `gcloud auth application-default "
            "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file."
        ) from exc
    return GoogleCredentials(credentials), (None if project is None else str(project))


def as_token_source(credentials: object) -> TokenSource:
    """A ``TokenSource`` from a TokenSource, a google-auth credentials object, or a str token."""
    if isinstance(credentials, str):
        return StaticToken(credentials)
    if isinstance(credentials, TokenSource):
        return credentials
    if hasattr(credentials, "refresh") and hasattr(credentials, "token"):
        return GoogleCredentials(credentials)  # type: ignore[arg-type]
    raise TypeError(
        "credentials must be a google-auth Credentials object, a TokenSource or a token string, "
        f"not {type(credentials).__name__}"
    )

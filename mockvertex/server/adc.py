"""Local Application Default Credentials: a credentials file whose token endpoint is the mock.

``google.auth.default()`` reads ``GOOGLE_APPLICATION_CREDENTIALS``. An
``external_account_authorized_user`` file names its own ``token_url`` (an ``authorized_user``
file cannot: google-auth always sends those to Google), so any Google SDK obtains a (fake)
access token from the mock itself and pointing an SDK at the mock needs environment
variables only. The file holds no secret: its client id, secret and refresh token are fixed
placeholders.

A file written for a session (``session=NAME``) makes the mock's token endpoint hand out a
session token, ``mockvertex-session.NAME``, and every request that carries it belongs to that
session whatever project its path names: code that hard-codes its own project still lands in
the test's session (the pytest plugin writes one such file per test).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["SESSION_REFRESH_PREFIX", "SESSION_TOKEN_PREFIX", "adc_info", "write_adc_file"]

#: A refresh token naming a session, and the access token the mock issues for it.
SESSION_REFRESH_PREFIX = "mockvertex-session:"
SESSION_TOKEN_PREFIX = "mockvertex-session."


def adc_info(base_url: str, *, session: str | None = None) -> dict[str, str]:
    """The credentials document for a mock at ``base_url`` (for ``session``, when given)."""
    refresh = "mockvertex-refresh-token" if session is None else SESSION_REFRESH_PREFIX + session
    return {
        "type": "external_account_authorized_user",
        "audience": "//iam.googleapis.com/locations/global/workforcePools/mockvertex/providers/m",
        "client_id": "mockvertex",
        "client_secret": "mockvertex-client-secret",
        "refresh_token": refresh,
        "token_url": f"{base_url}/token",
    }


def write_adc_file(
    base_url: str, path: str | Path | None = None, *, session: str | None = None
) -> Path:
    """Write the credentials file (default: in the temp dir, named after the port)."""
    if path is None:
        port = base_url.rsplit(":", 1)[-1]
        path = Path(tempfile.gettempdir()) / f"mockvertex-{port}-credentials.json"
    target = Path(path)
    document = adc_info(base_url, session=session)
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return target

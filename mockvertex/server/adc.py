"""Local Application Default Credentials: a credentials file whose token endpoint is the mock.

``google.auth.default()`` reads ``GOOGLE_APPLICATION_CREDENTIALS``. An
``external_account_authorized_user`` file names its own ``token_url`` (an ``authorized_user``
file cannot: google-auth always sends those to Google), so any Google SDK obtains a (fake)
access token from the mock itself and pointing an SDK at the mock needs environment
variables only. The file holds no secret: its client id, secret and refresh token are fixed
placeholders.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["adc_info", "write_adc_file"]


def adc_info(base_url: str) -> dict[str, str]:
    """The credentials document for a mock at ``base_url``."""
    return {
        "type": "external_account_authorized_user",
        "audience": "//iam.googleapis.com/locations/global/workforcePools/mockvertex/providers/m",
        "client_id": "mockvertex",
        "client_secret": "mockvertex-client-secret",
        "refresh_token": "mockvertex-refresh-token",
        "token_url": f"{base_url}/token",
    }


def write_adc_file(base_url: str, path: str | Path | None = None) -> Path:
    """Write the credentials file (default: in the temp dir, named after the port)."""
    if path is None:
        port = base_url.rsplit(":", 1)[-1]
        path = Path(tempfile.gettempdir()) / f"mockvertex-{port}-credentials.json"
    target = Path(path)
    target.write_text(json.dumps(adc_info(base_url), indent=2) + "\n", encoding="utf-8")
    return target

"""Server configuration: a frozen dataclass, and the one place that reads MOCKVERTEX_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "DEFAULT_URL",
    "AuthMode",
    "ServerConfig",
    "client_token",
    "control_url",
    "parse_auth",
    "remote_url",
]

AuthMode = Literal["vertex", "none", "token"]

#: The real front end refuses bodies over this size (inline data is limited to 20 MB decoded,
#: which is about 27 MB of base64, plus the rest of the request).
DEFAULT_MAX_BODY_BYTES = 31_457_280
#: Where the CLI's control subcommands look for a running mock when neither ``--url`` nor
#: ``MOCKVERTEX_URL`` says otherwise (``mockvertex serve``'s default address).
DEFAULT_URL = "http://127.0.0.1:8080"


def parse_auth(text: str) -> tuple[AuthMode, str | None]:
    """``vertex`` (a Bearer token is required), ``none``, or ``token=VALUE``."""
    if text == "vertex":
        return "vertex", None
    if text == "none":
        return "none", None
    if text.startswith("token=") and len(text) > len("token="):
        return "token", text[len("token=") :]
    raise ValueError(f"--auth must be 'vertex', 'none' or 'token=VALUE', not {text!r}")


@dataclass(frozen=True)
class ServerConfig:
    """How a MockVertexServer behaves. Build it directly or with ``from_env``."""

    host: str = "127.0.0.1"
    port: int = 0
    auth: AuthMode = "vertex"
    token: str | None = None
    scenario_files: tuple[str, ...] = ()
    builtin_scenarios: tuple[str, ...] = ()
    profile_files: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: How many exchanges the journal keeps (the oldest are dropped first).
    journal_limit: int = 10_000
    #: What the journal's entries may keep in all, in bytes (estimated): over it the oldest
    #: entries first lose their body text and parsed request, then go whole.
    journal_max_bytes: int = 64 * 1024 * 1024
    #: How much of each request body an entry keeps as text (size and digest cover it all).
    journal_body_cap: int = 64 * 1024
    #: Project and location printed in the environment lines for google-genai.
    project: str = "mock-project"
    location: str = "us-central1"
    #: Per-minute budgets in the CLI form (``rpm=60,tpm=100000``, ``rpm=5,model=gemini-2.5-*``;
    #: ``mockvertex.engine.quota.parse_quota``), applied to every session's own buckets. Later
    #: specs win over earlier ones for the models they match.
    quotas: tuple[str, ...] = ()
    #: Add an HTTP ``Retry-After`` to quota 429s (Vertex sends none; off by default).
    quota_retry_after: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    def with_auth(self, text: str) -> ServerConfig:
        mode, token = parse_auth(text)
        return replace(self, auth=mode, token=token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Defaults overridden by MOCKVERTEX_HOST, _PORT, _AUTH, _SCENARIOS (os.pathsep list)
        and _QUOTA (quota specs separated by ``;``, e.g. ``rpm=60,tpm=100000;rpm=5,model=x``)."""
        env = os.environ if environ is None else environ
        config = cls()
        if "MOCKVERTEX_HOST" in env:
            config = replace(config, host=env["MOCKVERTEX_HOST"])
        if "MOCKVERTEX_PORT" in env:
            config = replace(config, port=int(env["MOCKVERTEX_PORT"]))
        if "MOCKVERTEX_AUTH" in env:
            config = config.with_auth(env["MOCKVERTEX_AUTH"])
        if env.get("MOCKVERTEX_SCENARIOS"):
            files = tuple(p for p in env["MOCKVERTEX_SCENARIOS"].split(os.pathsep) if p)
            config = replace(config, scenario_files=files)
        if env.get("MOCKVERTEX_QUOTA"):
            specs = tuple(s.strip() for s in env["MOCKVERTEX_QUOTA"].split(";") if s.strip())
            config = replace(config, quotas=specs)
        return config


def control_url(environ: Mapping[str, str] | None = None) -> str:
    """The running mock the CLI's control subcommands talk to: ``MOCKVERTEX_URL``, else
    ``DEFAULT_URL`` (a trailing slash is dropped)."""
    env = os.environ if environ is None else environ
    return (env.get("MOCKVERTEX_URL", "").strip() or DEFAULT_URL).rstrip("/")


def remote_url(environ: Mapping[str, str] | None = None) -> str | None:
    """MOCKVERTEX_URL: the base URL of a mock already running (a CI container), or None."""
    env = os.environ if environ is None else environ
    return env.get("MOCKVERTEX_URL") or None


def client_token(environ: Mapping[str, str] | None = None) -> str | None:
    """MOCKVERTEX_TOKEN: the static bearer token ``mockvertex generate`` sends, or None."""
    env = os.environ if environ is None else environ
    return env.get("MOCKVERTEX_TOKEN", "").strip() or None

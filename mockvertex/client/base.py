"""What both clients share above the wire: configuration, request preparation, and the step
after a failed attempt (ask the policy, log, raise or go on). No I/O of its own."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from random import random as _random
from typing import Any

from mockvertex.client import core
from mockvertex.client.credentials import TokenSource, application_default, as_token_source
from mockvertex.client.response import GenerateContentResponse
from mockvertex.client.retry import CallRetry, Decision, RetryBudget, RetryPolicy
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.wire import Framing

__all__ = ["ClientBase", "resolve_credentials"]


def resolve_credentials(
    token: str | None, credentials: Any, project: str | None
) -> tuple[TokenSource, str | None]:
    """A static token, the given credentials, or ADC (whose project fills a missing one)."""
    if token is not None and credentials is not None:
        raise ValueError("give token or credentials, not both")
    if token is not None:
        return as_token_source(token), project
    if credentials is not None:
        return as_token_source(credentials), project
    source, adc_project = application_default()
    return source, project if project is not None else adc_project


class ClientBase:
    """Configuration and the transport-independent steps of a call."""

    def __init__(
        self,
        *,
        project: str | None,
        location: str,
        base_url: str | None,
        api_version: str,
        token: str | None,
        credentials: Any,
        retry: RetryPolicy | None,
        budget: RetryBudget | None,
        validate: bool,
        profiles: ProfileRegistry | None,
        connect_timeout: float,
        read_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = _random,
    ) -> None:
        if not (connect_timeout > 0 and read_timeout > 0):
            raise ValueError("timeouts must be > 0 seconds")
        self._tokens, project = resolve_credentials(token, credentials, project)
        self.endpoint = core.Endpoint.vertex(
            project=project, location=location, api_version=api_version, base_url=base_url
        )
        self.retry = retry or RetryPolicy()
        self.budget = budget or RetryBudget()
        self.validate = validate
        self.profiles = profiles
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._clock, self._wall, self._rng = clock, wall_clock, rng

    @property
    def credentials(self) -> TokenSource:
        return self._tokens

    def _prepare(
        self, model: str, rpc: str, request: str | Mapping[str, Any], framing: Framing
    ) -> core.PreparedRequest:
        return core.prepare(
            self.endpoint,
            model,
            rpc,
            request,
            framing=framing,
            validate=self.validate,
            profiles=self.profiles,
        )

    def _start(self, deadline: float | None) -> CallRetry:
        return self.retry.start(
            budget=self.budget,
            deadline=deadline,
            clock=self._clock,
            wall_clock=self._wall,
            rng=self._rng,
        )

    def _static_headers(self, prepared: core.PreparedRequest, token: str) -> dict[str, str]:
        headers = dict(prepared.headers)
        headers["Authorization"] = "Bearer " + token
        quota = self._tokens.quota_project
        if quota:
            headers["x-goog-user-project"] = quota
        return headers

    def _decide(
        self,
        failed: core.AttemptFailed,
        prepared: core.PreparedRequest,
        run: CallRetry,
        delivered: list[GenerateContentResponse],
    ) -> Decision:
        """Ask the policy about a failed attempt and log it; raise the call's error if it ends."""
        failure = dataclasses.replace(
            failed.failure, delivered=bool(delivered), refreshable=self._tokens.refreshable
        )
        decision = run.failed(failure)
        core.log_attempt(prepared, run, self.retry.attempts, core.outcome_of(failed), decision)
        if not decision.retry:
            raise core.give_up(failed, run, delivered) from failed.__cause__
        return decision

    def _succeeded(self, prepared: core.PreparedRequest, run: CallRetry, outcome: str) -> None:
        run.succeeded()
        core.log_attempt(prepared, run, self.retry.attempts, outcome)

    def __repr__(self) -> str:
        e = self.endpoint
        return (
            f"{type(self).__name__}(base_url={e.base_url!r}, project={e.project!r}, "
            f"location={e.location!r}, api_version={e.api_version!r}, "
            f"credentials={self._tokens!r})"
        )

"""Per-minute quotas: requests and prompt tokens per base model, as continuously refilling buckets.

A session's :class:`Quotas` holds :class:`QuotaSpec` budgets (``rpm``, ``tpm``, an optional model
glob). Each budget is a :class:`TokenBucket` that starts full, holds one minute's worth
(``capacity = limit``) and refills continuously at ``limit / 60`` per second from an injected
clock, so a test drives time by hand. ``admit(model, tokens)`` charges one request and the
request's prompt tokens (``mockvertex.contract.tokens.request_tokens``, the count countTokens'
``totalTokens`` and ``usageMetadata.promptTokenCount`` report) or raises
:class:`QuotaExceeded`, a ``ResourceExhausted`` (429) with Vertex's quota wording.

Vertex counts a quota per *base model*: "The requests per minute (RPM) quota applies to a base
model and all versions, identifiers, and tuned versions of that model ... A request to
gemini-1.0-pro and a request to gemini-1.0-pro-001 are counted as two requests toward the RPM
quota of the base model" (https://firebase.google.com/docs/vertex-ai/quotas-and-pricing). So
``gemini-2.0-flash`` and ``gemini-2.0-flash-001`` draw on the same buckets here too.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from mockvertex.contract.errors import DataFileError, ResourceExhausted

__all__ = [
    "ERROR_DOMAIN",
    "MAX_LIMIT",
    "QUOTA_MESSAGE",
    "REQUESTS_METRIC",
    "TOKENS_METRIC",
    "QuotaExceeded",
    "QuotaSpec",
    "Quotas",
    "TokenBucket",
    "base_model",
    "duration",
    "parse_quota",
]

Clock = Callable[[], float]

#: The per-minute request quota. Verbatim in real Vertex 429s: GoogleCloudPlatform/Open_Data_QnA#61,
#: felixbinder/introspection_self_prediction#66, langchain-ai/langchain-google#283 and #355.
REQUESTS_METRIC = (
    "aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model"
)
#: The per-minute input-token quota. The metric name is Google's: the Vertex rate-limits page
#: (https://cloud.google.com/vertex-ai/generative-ai/docs/quotas) lists "the rate limits ... for
#: the metric, generate_content_input_tokens_per_minute_per_base_model", and Cloud Monitoring
#: exports it under the ``aiplatform.googleapis.com/`` prefix (third-party dashboards and
#: serviceusage scripts query that full name). A Gemini 429 quoting this metric was NOT found in
#: any public issue; the message uses the template Vertex uses for the request metric and,
#: verbatim, for a partner model's token metric ("Quota exceeded for aiplatform.googleapis.com/
#: online_prediction_input_tokens_per_minute_per_base_model with base model:
#: anthropic-claude-opus-4. Please submit a quota increase request. ...",
#: anthropics/claude-code#1440). So this metric's 429 text is [inferred], not seen.
TOKENS_METRIC = "aiplatform.googleapis.com/generate_content_input_tokens_per_minute_per_base_model"
#: Vertex's per-minute quota text (issues above); ``{model}`` is the base model. Its first
#: sentence is the ``QuotaFailure`` violation's description.
QUOTA_MESSAGE = (
    "Quota exceeded for {metric} with base model: {model}. Please submit a quota increase "
    "request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)
_VIOLATION = "Quota exceeded for {metric} with base model: {model}."
#: ``google.rpc.ErrorInfo.domain``. The pasted Vertex 429 bodies carry no details at all, so the
#: three details are the mock's addition in the standard google.rpc shapes; the Developer API's
#: front end puts ``googleapis.com`` here with ``metadata.service`` naming the API
#: (google-gemini/deprecated-generative-ai-python#244). [inferred]
ERROR_DOMAIN = "aiplatform.googleapis.com"
_SERVICE = "aiplatform.googleapis.com"
_REASON = "RATE_LIMIT_EXCEEDED"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"

#: Largest budget accepted: far above any real quota, and small enough for exact float sums.
MAX_LIMIT = 10**12
_KEYS = ("rpm", "tpm", "model")
_DIGITS = re.compile(r"[0-9]+")
# A stable version suffix: "gemini-2.0-flash-001", older "text-unicorn@001". Vertex has also
# reported an internal alias ("base model: gemini-pro" for gemini-1.0-pro-002, felixbinder#66);
# the mock cannot know those and names the family.
_VERSION_SUFFIX = re.compile(r"(?:-|@)[0-9]{3}$")
# How far below ``n`` a level may sit and still count as ``n``: float rounding of the refill,
# a billionth of the bucket.
_SLACK = 1e-9


def base_model(model: str) -> str:
    """The base model a quota is counted on: the model id without a stable version suffix."""
    return _VERSION_SUFFIX.sub("", model)


# ---------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class QuotaSpec:
    """Per-minute budgets for the models ``model`` matches (``None``: every model).

    ``rpm`` caps requests and ``tpm`` prompt tokens per minute; ``None`` leaves that budget
    unlimited, and at least one is set. ``model`` is an fnmatch glob (case-sensitive) tried on the
    model id and on its base model, so ``gemini-2.0-flash`` also covers ``gemini-2.0-flash-001``.
    """

    rpm: int | None = None
    tpm: int | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not _is_limit(value):
                raise ValueError(f"{name} must be an integer from 1 to {MAX_LIMIT}, got {value!r}")
        if self.rpm is None and self.tpm is None:
            raise ValueError("a quota needs rpm, tpm or both")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ValueError(f"model must be a non-empty glob, got {self.model!r}")

    def applies_to(self, model: str) -> bool:
        if self.model is None:
            return True
        return fnmatchcase(model, self.model) or fnmatchcase(base_model(model), self.model)

    def to_json(self) -> dict[str, Any]:
        """The data form ``{"rpm": 60, "tpm": 100000, "model": "gemini-2.0-*"}``, unset keys out."""
        return {k: getattr(self, k) for k in _KEYS if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, data: Any, *, file: str = "<quota>", where: str = "") -> QuotaSpec:
        """Read the data form; ``file`` and ``where`` (the object's path) name it in a
        ``DataFileError`` for a non-object, an unknown key, a limit that is not an integer from
        1 to ``MAX_LIMIT``, an empty or non-string model, or neither limit given."""

        def at(key: str) -> str:
            return f"{where}.{key}" if where else key

        if not isinstance(data, Mapping):
            raise DataFileError(file, where, f"must be an object, got {_kind(data)}")
        for key in data:
            if key not in _KEYS:
                raise DataFileError(file, at(str(key)), "unknown key; the keys are rpm, tpm, model")
        limits: dict[str, int | None] = {}
        for key in ("rpm", "tpm"):
            value = data.get(key)
            if value is not None and not _is_limit(value):
                raise DataFileError(
                    file, at(key), f"must be an integer from 1 to {MAX_LIMIT}, got {value!r}"
                )
            limits[key] = value
        model = data.get("model")
        if model is not None and (not isinstance(model, str) or not model):
            raise DataFileError(file, at("model"), f"must be a non-empty glob, got {model!r}")
        if limits["rpm"] is None and limits["tpm"] is None:
            raise DataFileError(file, where, "a quota needs rpm, tpm or both")
        return cls(rpm=limits["rpm"], tpm=limits["tpm"], model=model)


def _is_limit(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_LIMIT


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def parse_quota(text: str) -> QuotaSpec:
    """The CLI form: ``rpm=60,tpm=100000``, ``rpm=60``, ``tpm=5000,model=gemini-2.0-*``.

    Whitespace around parts, keys and values is ignored. A ``ValueError`` names the bad part
    and the rule: parts are ``key=value``; keys are rpm, tpm, model, each at most once; limits
    are integers from 1 to ``MAX_LIMIT``; the model glob is non-empty; rpm, tpm or both.
    """

    def bad(rule: str) -> ValueError:
        return ValueError(f"quota {text.strip()!r}: {rule}")

    if not text.strip():
        raise bad("expected key=value parts separated by commas, e.g. rpm=60,tpm=100000")
    seen: dict[str, tuple[str, str]] = {}
    for raw in text.split(","):
        part = raw.strip()
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq:
            raise bad(f"part {part!r} is not key=value, e.g. rpm=60")
        if key not in _KEYS:
            raise bad(f"part {part!r}: unknown key {key!r}; the keys are rpm, tpm, model")
        if key in seen:
            raise bad(f"part {part!r}: {key} is given twice")
        seen[key] = (value, part)
    limits: dict[str, int | None] = {"rpm": None, "tpm": None}
    for key in ("rpm", "tpm"):
        if key in seen:
            value, part = seen[key]
            if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
                raise bad(f"part {part!r}: {key} must be an integer from 1 to {MAX_LIMIT}")
            limits[key] = int(value)
    model = seen["model"][0] if "model" in seen else None
    if model == "":
        raise bad(f"part {seen['model'][1]!r}: model must be a non-empty glob")
    if limits["rpm"] is None and limits["tpm"] is None:
        raise bad("give rpm, tpm or both, e.g. rpm=60,tpm=100000")
    return QuotaSpec(rpm=limits["rpm"], tpm=limits["tpm"], model=model)


# -------------------------------------------------------------------------------------- bucket


class TokenBucket:
    """A bucket of ``capacity`` that starts full and refills continuously at ``per_second``.

    Not locked by itself: :class:`Quotas` serialises every use. The clock may stand still;
    if it goes backwards the bucket waits for it to catch up rather than drain.
    """

    def __init__(self, capacity: float, per_second: float, clock: Clock = time.monotonic) -> None:
        if not (capacity > 0 and math.isfinite(capacity)):
            raise ValueError(f"capacity must be a positive number, got {capacity!r}")
        if not (per_second > 0 and math.isfinite(per_second)):
            raise ValueError(f"per_second must be a positive number, got {per_second!r}")
        self.capacity = float(capacity)
        self.per_second = float(per_second)
        self._clock = clock
        self._level = self.capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._at:
            self._level = min(self.capacity, self._level + (now - self._at) * self.per_second)
            self._at = now

    def level(self) -> float:
        """What the bucket holds now, between 0 and ``capacity``."""
        self._refill()
        return self._level

    def seconds_until(self, n: float) -> float:
        """Seconds until ``n`` are available: 0 if they are now, ``inf`` if ``n > capacity``."""
        _check_amount(n)
        self._refill()
        if n > self.capacity:
            return math.inf
        missing = n - self._level
        if missing <= _SLACK * self.capacity:
            return 0.0
        return missing / self.per_second

    def try_take(self, n: float) -> bool:
        """Take ``n`` if the bucket holds them (taking nothing otherwise); say whether it did."""
        if self.seconds_until(n) > 0:
            return False
        self._level = max(0.0, self._level - n)
        return True

    def fill(self) -> None:
        """Back to full, as if unused."""
        self._level = self.capacity
        self._at = max(self._at, self._clock())


def _check_amount(n: float) -> None:
    if not (n >= 0 and math.isfinite(n)):
        raise ValueError(f"an amount must be a finite number >= 0, got {n!r}")


# ---------------------------------------------------------------------------------------- error


class QuotaExceeded(ResourceExhausted):
    """The 429 a spent quota answers: Vertex's message plus QuotaFailure, ErrorInfo, RetryInfo.

    ``retry_delay`` is the seconds until the budget allows the request, ``None`` when it never
    will (a prompt larger than the whole token budget); ``metric`` is the quota named in the
    message and ``base_model`` the model it is counted on.
    """

    def __init__(
        self,
        message: str,
        *,
        details: Iterable[Mapping[str, Any]],
        headers: Mapping[str, str] | None,
        metric: str,
        model: str,
        retry_delay: float | None,
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.metric = metric
        self.base_model = model
        self.retry_delay = retry_delay


def duration(seconds: float) -> str:
    """A ``google.protobuf.Duration`` JSON string rounded up to the millisecond: 7s, 0.5s."""
    millis = math.ceil(round(seconds * 1000, 6))
    whole, frac = divmod(millis, 1000)
    return f"{whole}.{frac:03d}".rstrip("0") + "s" if frac else f"{whole}s"


# --------------------------------------------------------------------------------------- quotas


@dataclass
class _Budget:
    """The buckets one spec keeps for one base model."""

    base: str
    spec: QuotaSpec
    requests: TokenBucket | None
    tokens: TokenBucket | None
    models: set[str] = field(default_factory=set)


class Quotas:
    """One session's quotas: specs, and lazily one bucket pair per (base model, spec).

    **Which spec applies:** of the specs whose model glob matches the model id or its base model,
    the one added *last* wins (a spec without a glob matches every model); specs never combine.
    So a later ``rpm=10`` for every model overrides an earlier ``gemini-*`` spec, and a default
    is given first and exceptions after it. A model no spec matches is not limited.

    Buckets start full when a model is first seen under a spec. Changing the specs keeps the
    buckets of every base model whose winning spec is unchanged; others start afresh.

    ``retry_after_header`` adds an HTTP ``Retry-After`` (whole seconds, rounded up) to the 429.
    Off by default: no Vertex response seen so far carries one (shared notes, wire.md §3).
    """

    def __init__(
        self,
        specs: Iterable[QuotaSpec] = (),
        *,
        clock: Clock = time.monotonic,
        retry_after_header: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._retry_after_header = retry_after_header
        self._specs: list[QuotaSpec] = list(specs)
        self._budgets: dict[tuple[str, QuotaSpec], _Budget] = {}

    # ---------------------------------------------------------------------------- the specs

    @property
    def specs(self) -> tuple[QuotaSpec, ...]:
        with self._lock:
            return tuple(self._specs)

    def add(self, spec: QuotaSpec) -> None:
        """Add a spec; it wins over every earlier one for the models it matches."""
        with self._lock:
            self._specs.append(spec)
            self._prune()

    def replace(self, specs: Iterable[QuotaSpec]) -> None:
        """Replace every spec (``replace(())`` lifts all quotas)."""
        new = list(specs)
        with self._lock:
            self._specs = new
            self._prune()

    def _prune(self) -> None:
        """Drop the models (and then budgets) whose winning spec is no longer the budget's."""
        for key, budget in list(self._budgets.items()):
            budget.models = {m for m in budget.models if self._spec_for(m) == budget.spec}
            if not budget.models:
                del self._budgets[key]

    def spec_for(self, model: str) -> QuotaSpec | None:
        """The spec that applies to a model id, or ``None`` when it is not limited."""
        with self._lock:
            return self._spec_for(model)

    def _spec_for(self, model: str) -> QuotaSpec | None:
        for spec in reversed(self._specs):
            if spec.applies_to(model):
                return spec
        return None

    # ------------------------------------------------------------------------------ admission

    def admit(self, model: str, tokens: int) -> None:
        """Charge one request and ``tokens`` prompt tokens to ``model``'s budgets, or raise.

        Atomic: if either budget is short, nothing is charged and :class:`QuotaExceeded` (a 429
        ``ResourceExhausted``) is raised naming the request metric when the request budget is
        short, else the token metric; its ``QuotaFailure`` lists every short budget and its
        ``RetryInfo.retryDelay`` is the time until both allow the request. A prompt larger
        than the whole token budget (``tokens > tpm``) can never pass: it is still a 429, whose
        ``retry_delay`` is ``None`` and which carries no ``RetryInfo`` (waiting cannot help).
        """
        if type(tokens) is not int or tokens < 0:
            raise ValueError(f"tokens must be an integer >= 0, got {tokens!r}")
        with self._lock:
            budget = self._budget(model)
            if budget is None:
                return
            short: list[tuple[str, int, float]] = []
            if budget.requests is not None:
                wait = budget.requests.seconds_until(1)
                if wait > 0:
                    short.append((REQUESTS_METRIC, _limit(budget.requests), wait))
            if budget.tokens is not None:
                wait = budget.tokens.seconds_until(tokens)
                if wait > 0:
                    short.append((TOKENS_METRIC, _limit(budget.tokens), wait))
            if short:
                raise self._exceeded(base_model(model), short)
            if budget.requests is not None:
                budget.requests.try_take(1)
            if budget.tokens is not None:
                budget.tokens.try_take(tokens)

    def _budget(self, model: str) -> _Budget | None:
        spec = self._spec_for(model)
        if spec is None:
            return None
        key = (base_model(model), spec)
        budget = self._budgets.get(key)
        if budget is None:
            budget = _Budget(
                key[0],
                spec,
                None if spec.rpm is None else TokenBucket(spec.rpm, spec.rpm / 60, self._clock),
                None if spec.tpm is None else TokenBucket(spec.tpm, spec.tpm / 60, self._clock),
            )
            self._budgets[key] = budget
        budget.models.add(model)
        return budget

    def _exceeded(self, model: str, short: list[tuple[str, int, float]]) -> QuotaExceeded:
        metric, limit, _ = short[0]
        message = QUOTA_MESSAGE.format(metric=metric, model=model)
        delay: float | None = max(wait for _, _, wait in short)
        if delay == math.inf:
            delay = None
        details: list[dict[str, Any]] = [
            {
                "@type": _QUOTA_FAILURE,
                "violations": [
                    {
                        "description": _VIOLATION.format(metric=m, model=model),
                        "apiService": _SERVICE,
                        "quotaMetric": m,
                        "quotaDimensions": {"base_model": model},
                        "quotaValue": str(lim),
                    }
                    for m, lim, _ in short
                ],
            },
            {
                "@type": _ERROR_INFO,
                "reason": _REASON,
                "domain": ERROR_DOMAIN,
                "metadata": {
                    "service": _SERVICE,
                    "quota_metric": metric,
                    "quota_limit_value": str(limit),
                    "base_model": model,
                },
            },
        ]
        headers: dict[str, str] = {}
        if delay is not None:
            details.append({"@type": _RETRY_INFO, "retryDelay": duration(delay)})
            if self._retry_after_header:
                headers["Retry-After"] = str(max(1, math.ceil(round(delay, 6))))
        return QuotaExceeded(
            message,
            details=details,
            headers=headers,
            metric=metric,
            model=model,
            retry_delay=delay,
        )

    # ------------------------------------------------------------------------------ the view

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view: the specs in order, and per (base model, spec) in use, in the order
        first seen, the limits, what remains (rounded down) and the seconds until one more and
        until full (rounded up to the millisecond); an unlimited budget is ``null``."""
        with self._lock:
            budgets = list(self._budgets.values())
            return {
                "quotas": [s.to_json() for s in self._specs],
                "models": [
                    {
                        "baseModel": b.base,
                        "models": sorted(b.models),
                        "quota": b.spec.to_json(),
                        "requests": _bucket_view(b.requests),
                        "tokens": _bucket_view(b.tokens),
                    }
                    for b in budgets
                ],
            }

    def reset(self) -> None:
        """Forget all use: every budget is full again. The specs stay."""
        with self._lock:
            self._budgets.clear()


def _limit(bucket: TokenBucket) -> int:
    return int(bucket.capacity)


def _bucket_view(bucket: TokenBucket | None) -> dict[str, Any] | None:
    if bucket is None:
        return None
    level = bucket.level()
    return {
        "limit": _limit(bucket),
        "remaining": math.floor(level + _SLACK * bucket.capacity),
        "secondsUntilNext": _ceil_ms(bucket.seconds_until(1)),
        "secondsUntilFull": _ceil_ms(bucket.seconds_until(bucket.capacity)),
    }


def _ceil_ms(seconds: float) -> float:
    return math.ceil(round(seconds * 1000, 6)) / 1000

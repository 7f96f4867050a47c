"""Quotas: parsing, token buckets on a hand-driven clock, admission and its 429, the snapshot."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from google.api_core import exceptions as core_exceptions
from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped, unused-ignore]
from hypothesis import given, settings
from hypothesis import strategies as st

from mockvertex.contract.errors import DataFileError, ResourceExhausted
from mockvertex.contract.tokens import request_tokens
from mockvertex.engine.quota import (
    ERROR_DOMAIN,
    MAX_LIMIT,
    REQUESTS_METRIC,
    TOKENS_METRIC,
    QuotaExceeded,
    Quotas,
    QuotaSpec,
    TokenBucket,
    base_model,
    duration,
    parse_quota,
)

FLASH = "gemini-2.0-flash"
RPM_MESSAGE = (
    "Quota exceeded for aiplatform.googleapis.com/"
    "generate_content_requests_per_minute_per_project_per_base_model with base model: "
    "gemini-2.0-flash. Please submit a quota increase request. "
    "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)
TPM_MESSAGE = (
    "Quota exceeded for aiplatform.googleapis.com/"
    "generate_content_input_tokens_per_minute_per_base_model with base model: "
    "gemini-2.0-flash. Please submit a quota increase request. "
    "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def quotas(text: str, clock: Clock, **kwargs: Any) -> Quotas:
    return Quotas([parse_quota(text)], clock=clock, **kwargs)


def refused(q: Quotas, model: str, tokens: int) -> QuotaExceeded:
    with pytest.raises(QuotaExceeded) as caught:
        q.admit(model, tokens)
    return caught.value


def attempt(q: Quotas, model: str, tokens: int) -> QuotaExceeded | None:
    """Admit, and return the 429 instead of raising it."""
    try:
        q.admit(model, tokens)
    except QuotaExceeded as error:
        return error
    return None


def detail(error: QuotaExceeded, name: str) -> dict[str, Any] | None:
    found = [d for d in error.details() if d["@type"] == f"type.googleapis.com/google.rpc.{name}"]
    assert len(found) <= 1
    return found[0] if found else None


def retry_delay(error: QuotaExceeded) -> float:
    info = detail(error, "RetryInfo")
    assert info is not None
    text = info["retryDelay"]
    assert text.endswith("s")
    return float(text[:-1])


# ------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("rpm=60,tpm=100000", QuotaSpec(rpm=60, tpm=100000)),
        ("rpm=60", QuotaSpec(rpm=60)),
        ("tpm=5", QuotaSpec(tpm=5)),
        ("  rpm = 60 ,  tpm=100000 ", QuotaSpec(rpm=60, tpm=100000)),
        ("tpm=100,model=gemini-2.0-*", QuotaSpec(tpm=100, model="gemini-2.0-*")),
        (f"rpm={MAX_LIMIT}", QuotaSpec(rpm=MAX_LIMIT)),
    ],
)
def test_parse_quota_reads_the_cli_form(text: str, spec: QuotaSpec) -> None:
    assert parse_quota(text) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quota '': expected key=value parts separated by commas, e.g. rpm=60,tpm=100000"),
        (
            "   ",
            "quota '': expected key=value parts separated by commas, e.g. rpm=60,tpm=100000",
        ),
        ("rpm60", "quota 'rpm60': part 'rpm60' is not key=value, e.g. rpm=60"),
        ("rpm=60,", "quota 'rpm=60,': part '' is not key=value, e.g. rpm=60"),
        (
            "rps=3",
            "quota 'rps=3': part 'rps=3': unknown key 'rps'; the keys are rpm, tpm, model",
        ),
        ("rpm=1,rpm=2", "quota 'rpm=1,rpm=2': part 'rpm=2': rpm is given twice"),
        (
            "rpm=0",
            "quota 'rpm=0': part 'rpm=0': rpm must be an integer from 1 to 1000000000000",
        ),
        (
            "rpm=60,tpm=-5",
            "quota 'rpm=60,tpm=-5': part 'tpm=-5': tpm must be an integer from 1 to 1000000000000",
        ),
        (
            "tpm=1.5",
            "quota 'tpm=1.5': part 'tpm=1.5': tpm must be an integer from 1 to 1000000000000",
        ),
        (
            "rpm=abc",
            "quota 'rpm=abc': part 'rpm=abc': rpm must be an integer from 1 to 1000000000000",
        ),
        (
            "rpm=1_000",
            "quota 'rpm=1_000': part 'rpm=1_000': rpm must be an integer from 1 to 1000000000000",
        ),
        (
            "rpm=1000000000001",
            "quota 'rpm=1000000000001': part 'rpm=1000000000001': "
            "rpm must be an integer from 1 to 1000000000000",
        ),
        ("rpm=", "quota 'rpm=': part 'rpm=': rpm must be an integer from 1 to 1000000000000"),
        ("rpm=5,model=", "quota 'rpm=5,model=': part 'model=': model must be a non-empty glob"),
        ("model=gemini-*", "quota 'model=gemini-*': give rpm, tpm or both, e.g. rpm=60,tpm=100000"),
    ],
)
def test_parse_quota_names_the_bad_part_and_the_rule(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r".") as caught:
        parse_quota(text)
    assert str(caught.value) == message


def test_spec_data_form_round_trips() -> None:
    data = {"rpm": 60, "tpm": 100000, "model": "gemini-2.0-*"}
    spec = QuotaSpec.from_json(data)
    assert spec == QuotaSpec(rpm=60, tpm=100000, model="gemini-2.0-*")
    assert spec.to_json() == data
    assert QuotaSpec.from_json({"tpm": 7}).to_json() == {"tpm": 7}
    assert QuotaSpec.from_json({"rpm": 7, "tpm": None}).to_json() == {"rpm": 7}


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ([], "quotas[2]", "must be an object, got an array"),
        ("rpm=60", "quotas[2]", "must be an object, got a string"),
        ({"rpm": 1, "rps": 2}, "quotas[2].rps", "unknown key; the keys are rpm, tpm, model"),
        ({"rpm": 0}, "quotas[2].rpm", "must be an integer from 1 to 1000000000000, got 0"),
        ({"tpm": -3}, "quotas[2].tpm", "must be an integer from 1 to 1000000000000, got -3"),
        ({"rpm": 1.5}, "quotas[2].rpm", "must be an integer from 1 to 1000000000000, got 1.5"),
        ({"rpm": 60.0}, "quotas[2].rpm", "must be an integer from 1 to 1000000000000, got 60.0"),
        ({"rpm": "60"}, "quotas[2].rpm", "must be an integer from 1 to 1000000000000, got '60'"),
        ({"rpm": True}, "quotas[2].rpm", "must be an integer from 1 to 1000000000000, got True"),
        (
            {"tpm": 10**13},
            "quotas[2].tpm",
            "must be an integer from 1 to 1000000000000, got 10000000000000",
        ),
        ({"rpm": 1, "model": ""}, "quotas[2].model", "must be a non-empty glob, got ''"),
        ({"rpm": 1, "model": 3}, "quotas[2].model", "must be a non-empty glob, got 3"),
        ({"model": "gemini-*"}, "quotas[2]", "a quota needs rpm, tpm or both"),
        ({}, "quotas[2]", "a quota needs rpm, tpm or both"),
    ],
)
def test_spec_data_form_errors_name_file_field_and_rule(data: Any, field: str, rule: str) -> None:
    with pytest.raises(DataFileError) as caught:
        QuotaSpec.from_json(data, file="scenario.json", where="quotas[2]")
    assert (caught.value.file, caught.value.field, caught.value.rule) == (
        "scenario.json",
        field,
        rule,
    )
    assert str(caught.value) == f"scenario.json: {field}: {rule}"


def test_spec_data_form_error_without_a_path_names_the_key() -> None:
    with pytest.raises(DataFileError) as caught:
        QuotaSpec.from_json({"rpm": -1})
    assert (caught.value.file, caught.value.field) == ("<quota>", "rpm")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"rpm": 0}, {"tpm": True}, {"rpm": 1, "model": ""}, {"rpm": MAX_LIMIT + 1}],
)
def test_spec_built_in_code_is_checked_too(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"rpm|tpm|model"):
        QuotaSpec(**kwargs)


def test_base_model_drops_the_stable_version_only() -> None:
    assert base_model("gemini-2.0-flash-001") == "gemini-2.0-flash"
    assert base_model("text-unicorn@001") == "text-unicorn"
    assert base_model("gemini-2.0-flash") == "gemini-2.0-flash"
    assert base_model("gemini-2.5-flash-preview-05-20") == "gemini-2.5-flash-preview-05-20"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(7, "7s"), (0.5, "0.5s"), (1.25, "1.25s"), (0.0001, "0.001s"), (59.9999999999, "60s")],
)
def test_duration_is_a_protobuf_duration_rounded_up_to_the_millisecond(
    seconds: float, text: str
) -> None:
    assert duration(seconds) == text


# ------------------------------------------------------------------------------------- bucket


def test_bucket_starts_full_and_refills_in_proportion() -> None:
    clock = Clock()
    bucket = TokenBucket(60, 1.0, clock)
    assert bucket.level() == 60
    assert bucket.try_take(60)
    assert not bucket.try_take(1)
    assert bucket.seconds_until(15) == 15
    clock.advance(10)
    assert bucket.level() == pytest.approx(10)
    assert not bucket.try_take(11)
    assert bucket.level() == pytest.approx(10)  # a refused take takes nothing
    assert bucket.try_take(10)
    clock.advance(1000)
    assert bucket.level() == 60  # never above capacity


def test_bucket_seconds_until() -> None:
    clock = Clock()
    bucket = TokenBucket(100, 2.0, clock)
    assert bucket.seconds_until(100) == 0
    assert bucket.seconds_until(101) == math.inf
    assert bucket.try_take(100)
    assert bucket.seconds_until(0) == 0
    assert bucket.seconds_until(1) == pytest.approx(0.5)
    clock.advance(bucket.seconds_until(30))
    assert bucket.try_take(30)


def test_bucket_ignores_a_clock_going_backwards() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 1.0, clock)
    assert bucket.try_take(10)
    clock.advance(-50)
    assert bucket.level() == 0
    clock.advance(55)
    assert bucket.level() == pytest.approx(5)


@pytest.mark.parametrize(
    ("capacity", "rate"), [(0, 1), (-1, 1), (1, 0), (math.inf, 1), (1, math.nan)]
)
def test_bucket_rejects_a_bad_shape(capacity: float, rate: float) -> None:
    with pytest.raises(ValueError, match="must be a positive number"):
        TokenBucket(capacity, rate, Clock())


@pytest.mark.parametrize("amount", [-1, math.nan, math.inf])
def test_bucket_rejects_a_bad_amount(amount: float) -> None:
    bucket = TokenBucket(10, 1.0, Clock())
    with pytest.raises(ValueError, match="finite number >= 0"):
        bucket.try_take(amount)


_OPS = st.lists(
    st.tuples(st.floats(0, 120, allow_nan=False), st.floats(0, 150, allow_nan=False)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 10_000), per_minute=st.integers(1, 10_000), ops=_OPS)
def test_bucket_level_stays_between_zero_and_capacity(
    capacity: int, per_minute: int, ops: list[tuple[float, float]]
) -> None:
    clock = Clock()
    bucket = TokenBucket(capacity, per_minute / 60, clock)
    for advance, amount in ops:
        clock.advance(advance)
        before = bucket.level()
        took = bucket.try_take(amount)
        after = bucket.level()
        assert 0 <= after <= capacity
        slack = 1e-6 * capacity
        if took:
            assert amount <= before + slack
            assert after == pytest.approx(max(0.0, before - amount), abs=slack)
        else:
            assert amount > before - slack
            assert after == before


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(1, 100_000),
    per_minute=st.integers(1, 100_000),
    drain=st.floats(0, 1),
    want=st.floats(0, 1),
)
def test_bucket_waiting_seconds_until_is_enough(
    capacity: int, per_minute: int, drain: float, want: float
) -> None:
    clock = Clock()
    bucket = TokenBucket(capacity, per_minute / 60, clock)
    assert bucket.try_take(capacity * drain)
    n = capacity * want
    clock.advance(bucket.seconds_until(n))
    assert bucket.try_take(n)


# ----------------------------------------------------------------------------------- admission


def test_a_burst_past_rpm_gets_429_until_the_window_refills() -> None:
    clock = Clock()
    q = quotas("rpm=3", clock)
    for _ in range(3):
        q.admit(FLASH, 10)
    error = refused(q, FLASH, 10)
    assert isinstance(error, ResourceExhausted)
    assert error.code == 429
    assert error.message == RPM_MESSAGE
    assert error.metric == REQUESTS_METRIC
    assert error.retry_delay == pytest.approx(20)
    assert detail(error, "RetryInfo") == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "20s",
    }
    clock.advance(19.9)
    refused(q, FLASH, 10)
    clock.advance(0.1)
    q.admit(FLASH, 10)
    refused(q, FLASH, 10)
    clock.advance(60)
    for _ in range(3):
        q.admit(FLASH, 10)
    refused(q, FLASH, 10)


def test_tpm_blocks_a_big_prompt_and_refills_in_proportion() -> None:
    clock = Clock()
    q = quotas("tpm=600", clock)  # 10 tokens a second
    q.admit(FLASH, 500)
    error = refused(q, FLASH, 200)
    assert error.message == TPM_MESSAGE
    assert error.metric == TOKENS_METRIC
    assert retry_delay(error) == 10
    clock.advance(5)
    assert retry_delay(refused(q, FLASH, 200)) == 5
    q.admit(FLASH, 150)  # 150 were back: a smaller prompt passes meanwhile
    clock.advance(20)
    q.admit(FLASH, 200)


def test_tpm_is_charged_with_the_count_count_tokens_reports() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "x" * 400}]}]}
    tokens = request_tokens(request)
    assert tokens == 100
    clock = Clock()
    q = quotas(f"tpm={tokens * 2}", clock)
    q.admit(FLASH, request_tokens(request))
    q.admit(FLASH, request_tokens(request))
    refused(q, FLASH, request_tokens(request))


def test_admission_is_atomic() -> None:
    clock = Clock()
    q = quotas("rpm=2,tpm=100", clock)
    q.admit(FLASH, 90)
    error = refused(q, FLASH, 20)  # tokens short: the request is not charged either
    assert error.metric == TOKENS_METRIC
    view = q.snapshot()["models"][0]
    assert (view["requests"]["remaining"], view["tokens"]["remaining"]) == (1, 10)
    q.admit(FLASH, 10)
    error = refused(q, FLASH, 0)  # requests short: no tokens are charged
    assert error.metric == REQUESTS_METRIC
    view = q.snapshot()["models"][0]
    assert (view["requests"]["remaining"], view["tokens"]["remaining"]) == (0, 0)


def test_both_budgets_short_name_the_request_metric_and_list_both() -> None:
    clock = Clock()
    q = quotas("rpm=1,tpm=60", clock)  # 1 request a minute, 1 token a second
    q.admit(FLASH, 60)
    error = refused(q, FLASH, 30)
    assert error.message == RPM_MESSAGE
    failure = detail(error, "QuotaFailure")
    assert failure is not None
    assert [v["quotaMetric"] for v in failure["violations"]] == [REQUESTS_METRIC, TOKENS_METRIC]
    assert [v["quotaValue"] for v in failure["violations"]] == ["1", "60"]
    assert retry_delay(error) == 60  # the later of the two: 60 s for a request, 30 s for tokens


def test_a_prompt_larger_than_the_whole_tpm_never_passes() -> None:
    clock = Clock()
    q = quotas("rpm=10,tpm=100", clock)
    error = refused(q, FLASH, 101)
    assert error.message == TPM_MESSAGE
    assert error.retry_delay is None
    assert detail(error, "RetryInfo") is None
    assert detail(error, "QuotaFailure") is not None
    clock.advance(3600)
    refused(q, FLASH, 101)
    view = q.snapshot()["models"][0]
    assert (view["requests"]["remaining"], view["tokens"]["remaining"]) == (10, 100)
    q.admit(FLASH, 100)


def test_the_429_details_are_google_rpc_messages() -> None:
    clock = Clock()
    q = quotas("rpm=1", clock)
    q.admit("gemini-2.0-flash-001", 1)
    error = refused(q, "gemini-2.0-flash-001", 1)
    envelope = error.to_envelope()["error"]
    assert envelope["status"] == "RESOURCE_EXHAUSTED"
    # Every detail parses, strictly, as the google.rpc message its @type names.
    status = json_format.ParseDict(
        {k: v for k, v in envelope.items() if k != "status"}, status_pb2.Status()
    )
    assert status.code == 429
    assert [d.type_url.rsplit(".", 1)[-1] for d in status.details] == [
        "QuotaFailure",
        "ErrorInfo",
        "RetryInfo",
    ]
    failure = error_details_pb2.QuotaFailure()
    status.details[0].Unpack(failure)
    (violation,) = failure.violations
    assert violation.quota_metric == REQUESTS_METRIC
    assert violation.quota_value == 1
    assert dict(violation.quota_dimensions) == {"base_model": FLASH}
    info = error_details_pb2.ErrorInfo()
    status.details[1].Unpack(info)
    assert (info.reason, info.domain) == ("RATE_LIMIT_EXCEEDED", ERROR_DOMAIN)
    assert info.metadata["quota_metric"] == REQUESTS_METRIC
    assert info.metadata["quota_limit_value"] == "1"
    retry = error_details_pb2.RetryInfo()
    status.details[2].Unpack(retry)
    assert retry.retry_delay.ToTimedelta().total_seconds() == 60


def test_api_core_reads_the_reason_and_the_class() -> None:
    clock = Clock()
    q = quotas("rpm=1", clock)
    q.admit(FLASH, 1)
    error = refused(q, FLASH, 1)

    class Response:
        status_code = 429

    parsed = core_exceptions.format_http_response_error(
        Response(), "POST", "http://127.0.0.1/x", error.to_envelope()
    )
    assert isinstance(parsed, core_exceptions.TooManyRequests)
    assert parsed.reason == "RATE_LIMIT_EXCEEDED"
    assert parsed.domain == ERROR_DOMAIN
    assert parsed.metadata["quota_metric"] == REQUESTS_METRIC


def test_retry_after_header_only_when_asked() -> None:
    clock = Clock()
    plain = quotas("rpm=120", clock)
    with_header = quotas("rpm=120", clock, retry_after_header=True)
    for q in (plain, with_header):
        for _ in range(120):
            q.admit(FLASH, 0)
    assert refused(plain, FLASH, 0).headers == {}
    error = refused(with_header, FLASH, 0)
    assert retry_delay(error) == 0.5
    assert error.headers == {"Retry-After": "1"}
    big = Quotas([QuotaSpec(tpm=5)], clock=clock, retry_after_header=True)
    assert refused(big, FLASH, 6).headers == {}  # waiting cannot help: no hint


@settings(max_examples=100, deadline=None)
@given(
    rpm=st.integers(1, 1000),
    tpm=st.integers(1, 10_000),
    ops=st.lists(
        st.tuples(st.floats(0, 30, allow_nan=False), st.integers(0, 2000)), min_size=1, max_size=40
    ),
)
def test_retry_delay_is_enough_and_not_too_much(
    rpm: int, tpm: int, ops: list[tuple[float, int]]
) -> None:
    clock = Clock()
    q = Quotas([QuotaSpec(rpm=rpm, tpm=tpm)], clock=clock)
    for advance, tokens in ops:
        clock.advance(advance)
        error = attempt(q, FLASH, tokens)
        if error is None:
            continue
        if tokens > tpm:
            assert error.retry_delay is None
            continue
        assert error.retry_delay is not None
        asked = retry_delay(error)
        assert asked == float(duration(error.retry_delay)[:-1])
        # duration() rounds to the nanosecond before rounding up to the millisecond, so float
        # noise (59.99900000000003) does not ask one millisecond more than the budget needs.
        assert error.retry_delay - 1e-9 <= asked < error.retry_delay + 0.001 + 1e-9
        if error.retry_delay > 0.01:
            clock.advance(error.retry_delay * 0.99)
            refused(q, FLASH, tokens)
            clock.advance(asked - error.retry_delay * 0.99)
        else:
            clock.advance(asked)
        q.admit(FLASH, tokens)


@settings(max_examples=100, deadline=None)
@given(
    rpm=st.integers(1, 50),
    tpm=st.integers(1, 5000),
    ops=st.lists(st.tuples(st.floats(0, 20, allow_nan=False), st.integers(0, 400)), max_size=80),
)
def test_admitted_use_in_any_window_is_capacity_plus_refill(
    rpm: int, tpm: int, ops: list[tuple[float, int]]
) -> None:
    """In any window of T seconds at most limit + limit * T / 60 pass, for requests and tokens."""
    clock = Clock()
    q = Quotas([QuotaSpec(rpm=rpm, tpm=tpm)], clock=clock)
    admitted: list[tuple[float, int]] = []
    for advance, tokens in ops:
        clock.advance(advance)
        if attempt(q, FLASH, tokens) is None:
            admitted.append((clock.now, tokens))
    for i, (start, _) in enumerate(admitted):
        used = 0
        for requests, (at, tokens) in enumerate(admitted[i:], start=1):
            used += tokens
            span = at - start
            assert requests <= rpm + rpm * span / 60 + 1e-6
            assert used <= tpm + tpm * span / 60 + 1e-6 * tpm
    in_a_minute = [sum(1 for at, _ in admitted if s <= at < s + 60) for s, _ in admitted]
    assert max(in_a_minute, default=0) <= 2 * rpm


# ---------------------------------------------------------------------------- which spec applies


def test_a_model_glob_limits_only_the_models_it_matches() -> None:
    clock = Clock()
    q = Quotas([QuotaSpec(rpm=1, model="gemini-2.0-*")], clock=clock)
    q.admit(FLASH, 1)
    refused(q, FLASH, 1)
    for _ in range(100):
        q.admit("gemini-1.5-pro", 1)  # no spec matches: not limited
    assert q.spec_for("gemini-1.5-pro") is None
    assert [m["baseModel"] for m in q.snapshot()["models"]] == [FLASH]


def test_versions_share_their_base_models_budget() -> None:
    clock = Clock()
    q = Quotas([QuotaSpec(rpm=2, model="gemini-2.0-flash")], clock=clock)
    q.admit("gemini-2.0-flash-001", 1)  # the family glob covers its stable versions
    q.admit(FLASH, 1)
    error = refused(q, "gemini-2.0-flash-002", 1)
    assert error.message == RPM_MESSAGE  # named by its base model
    assert error.base_model == FLASH
    (view,) = q.snapshot()["models"]
    assert view["models"] == ["gemini-2.0-flash", "gemini-2.0-flash-001", "gemini-2.0-flash-002"]
    assert q.spec_for("gemini-2.0-flash-lite") is None  # a glob is not a prefix


def test_the_latest_added_matching_spec_wins() -> None:
    clock = Clock()
    q = Quotas([QuotaSpec(rpm=1)], clock=clock)
    q.add(QuotaSpec(rpm=3, model="gemini-2.0-*"))
    assert q.spec_for(FLASH) == QuotaSpec(rpm=3, model="gemini-2.0-*")
    assert q.spec_for("gemini-1.5-pro") == QuotaSpec(rpm=1)
    for _ in range(3):
        q.admit(FLASH, 0)
    refused(q, FLASH, 0)
    q.admit("gemini-1.5-pro", 0)
    refused(q, "gemini-1.5-pro", 0)
    q.add(QuotaSpec(tpm=10))  # a later spec for every model overrides both
    assert q.spec_for(FLASH) == QuotaSpec(tpm=10)
    q.admit(FLASH, 10)  # fresh buckets under the new spec; no request budget any more
    refused(q, FLASH, 1)
    views = q.snapshot()["models"]
    assert [(v["baseModel"], v["quota"]) for v in views] == [(FLASH, {"tpm": 10})]


def test_replacing_specs_keeps_the_buckets_of_unchanged_ones() -> None:
    clock = Clock()
    kept = QuotaSpec(rpm=2, model="gemini-1.5-*")
    q = Quotas([kept, QuotaSpec(rpm=2, model="gemini-2.0-*")], clock=clock)
    q.admit("gemini-1.5-pro", 0)
    q.admit(FLASH, 0)
    q.replace([kept, QuotaSpec(rpm=5, model="gemini-2.0-*")])
    views = {v["baseModel"]: v for v in q.snapshot()["models"]}
    assert views["gemini-1.5-pro"]["requests"]["remaining"] == 1
    assert FLASH not in views
    q.admit(FLASH, 0)
    assert q.snapshot()["models"][1]["requests"]["remaining"] == 4
    q.replace(())
    assert q.snapshot() == {"quotas": [], "models": []}
    for _ in range(10):
        q.admit(FLASH, 10**9)


# ------------------------------------------------------------------------------- the snapshot


def test_snapshot_numbers() -> None:
    clock = Clock()
    q = quotas("rpm=60,tpm=1000,model=gemini-*", clock)
    assert q.snapshot() == {"quotas": [{"rpm": 60, "tpm": 1000, "model": "gemini-*"}], "models": []}
    q.admit(FLASH, 250)
    q.admit(FLASH, 250)
    clock.advance(0.5)  # half a request and 8.33 tokens back
    assert q.snapshot()["models"] == [
        {
            "baseModel": FLASH,
            "models": [FLASH],
            "quota": {"rpm": 60, "tpm": 1000, "model": "gemini-*"},
            "requests": {
                "limit": 60,
                "remaining": 58,
                "secondsUntilNext": 0.0,
                "secondsUntilFull": 1.5,
            },
            "tokens": {
                "limit": 1000,
                "remaining": 508,
                "secondsUntilNext": 0.0,
                "secondsUntilFull": 29.5,
            },
        }
    ]
    q.reset()
    q.admit(FLASH, 0)
    view = q.snapshot()["models"][0]
    assert (view["requests"]["remaining"], view["tokens"]["remaining"]) == (59, 1000)
    assert q.specs == (QuotaSpec(rpm=60, tpm=1000, model="gemini-*"),)


def test_snapshot_of_an_unlimited_budget_is_null_and_waits_are_rounded_up() -> None:
    clock = Clock()
    q = quotas("rpm=7", clock)
    for _ in range(7):
        q.admit(FLASH, 0)
    (view,) = q.snapshot()["models"]
    assert view["tokens"] is None
    assert view["requests"]["remaining"] == 0
    assert view["requests"]["secondsUntilNext"] == 8.572  # 60 / 7 = 8.5714...
    assert view["requests"]["secondsUntilNext"] == retry_delay(refused(q, FLASH, 0))


# ------------------------------------------------------------------------------------ misuse


@pytest.mark.parametrize("tokens", [-1, 1.5, True])
def test_admit_rejects_a_bad_token_count(tokens: Any) -> None:
    q = quotas("rpm=1", Clock())
    with pytest.raises(ValueError, match="tokens must be an integer >= 0"):
        q.admit(FLASH, tokens)


def test_admission_is_thread_safe() -> None:
    clock = Clock()  # time stands still: exactly the budget passes, whoever asks
    q = quotas("rpm=100,tpm=1000", clock)
    passed: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(timeout=10)
        for _ in range(50):
            if attempt(q, "gemini-2.0-flash-001", 3) is None:
                passed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert len(passed) == 100
    view = q.snapshot()["models"][0]
    assert (view["requests"]["remaining"], view["tokens"]["remaining"]) == (0, 700)

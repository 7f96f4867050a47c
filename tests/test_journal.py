"""The journal: immutable entries, redaction, the byte budget, sessions, amendments, JSONL."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import hmac
import json
import threading
import tracemalloc
from typing import Any

import pytest

from mockvertex.contract.errors import (
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)
from mockvertex.engine.journal import (
    DEFAULT_BODY_CAP,
    Exchange,
    Journal,
    Outcome,
    Recorder,
    Verdict,
    estimate_request_bytes,
    measure_request,
    parse_jsonl,
    redact,
    retry_after_of,
)

PATH = (
    "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
)
REQUEST = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
BEARER, API_KEY, QUERY_KEY, COOKIE = "tok-AAAA1111", "key-BBBB2222", "key-CCCC3333", "SID-DDDD4444"
KEY = b"k" * 32


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def journal(**kwargs: Any) -> tuple[Journal, Clock]:
    clock = Clock()
    kwargs.setdefault("token_key", KEY)
    return Journal(clock=clock, wall_clock=lambda: 1_700_000_000.0, **kwargs), clock


def record(
    j: Journal,
    *,
    session: str = "default",
    body: bytes = b"",
    request: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Recorder:
    rec = j.begin(method="POST", path=PATH, headers=headers or {}, session=session)
    rec.model, rec.rpc = "gemini-2.0-flash", "generateContent"
    if body:
        rec.set_body(body)
    if request is not None:
        rec.request = request
    return rec


# ---------------------------------------------------------------------------------------------
# Entries are immutable and carry the times


def test_an_entry_is_frozen() -> None:
    j, _ = journal()
    entry = j.finish(record(j, request=REQUEST))
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.status = 500  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.outcome = Outcome.ERROR  # type: ignore[misc]
    assert j.entries() == [entry]


def test_a_snapshot_does_not_follow_the_recorder() -> None:
    j, _ = journal()
    rec = record(j)
    before = j.entries()[0]
    rec.status, rec.outcome = 429, Outcome.ERROR
    assert (before.status, before.outcome) == (0, Outcome.PENDING)
    after = j.entries()[0]
    assert (after.status, after.outcome) == (429, "error")
    assert after.id == before.id


def test_times_on_the_monotonic_clock_and_wall_time_at_arrival() -> None:
    j, clock = journal()
    rec = record(j, request=REQUEST)
    clock.advance(0.25)
    rec.record_write(100, chunks=1)
    clock.advance(0.5)
    rec.record_write(50, chunks=1)
    rec.outcome = Outcome.OK
    clock.advance(0.125)
    entry = j.finish(rec)
    assert (entry.arrival, entry.first_byte, entry.end) == (100.0, 100.25, 100.875)
    assert entry.duration == pytest.approx(0.875)
    assert entry.wall_time == entry.started == 1_700_000_000.0
    assert (entry.chunks_sent, entry.bytes_sent) == (2, 150)


def test_nothing_sent_leaves_first_byte_none() -> None:
    j, clock = journal()
    rec = record(j)
    rec.reject(InvalidArgument("bad", violations=[FieldViolation("contents", "required")]))
    clock.advance(0.01)
    entry = j.finish(rec)
    assert entry.first_byte is None
    assert entry.end == 100.01
    assert entry.verdict == Verdict(400, "INVALID_ARGUMENT", "bad", ("contents",))
    assert (entry.status, entry.error_code, entry.outcome) == (400, 400, Outcome.ERROR)


def test_ids_count_up_across_clears() -> None:
    j, _ = journal()
    first = record(j).id
    j.clear()
    assert record(j).id == first + 1


def test_outcomes_are_a_fixed_set_of_strings() -> None:
    assert [o.value for o in Outcome] == [
        "ok",
        "error",
        "mid_stream_error",
        "disconnected",
        "truncated",
        "malformed",
        "garbage",
        "empty",
        "stalled",
        "client_disconnected",
        "pending",
    ]
    assert Outcome.OK == "ok"  # type: ignore[comparison-overlap]  # a str, as before
    assert str(Outcome.MID_STREAM_ERROR) == "mid_stream_error"
    with pytest.raises(ValueError, match="'exploded'"):
        Recorder(method="POST", path=PATH).outcome = "exploded"


def test_a_client_that_hangs_up_is_marked() -> None:
    j, _ = journal()
    rec = record(j)
    rec.hung_up()
    entry = j.finish(rec)
    assert (entry.outcome, entry.client_hung_up) == (Outcome.CLIENT_DISCONNECTED, True)


# ---------------------------------------------------------------------------------------------
# What the mock asked the client to wait


def test_retry_after_header_and_retry_info() -> None:
    assert retry_after_of(ResourceExhausted(headers={"Retry-After": "3"})) == (3.0, "Retry-After")
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}
    assert retry_after_of(ResourceExhausted(details=[info])) == (1.5, "RetryInfo")
    both = ResourceExhausted(details=[info], headers={"retry-after": "2"})
    assert retry_after_of(both) == (2.0, "Retry-After")
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    asked = retry_after_of(ResourceExhausted(headers={"Retry-After": date}), now=1445412480.0)
    assert asked == (10.0, "Retry-After")
    assert retry_after_of(ResourceExhausted()) is None
    assert retry_after_of(ResourceExhausted(headers={"Retry-After": "soon"})) is None


def test_fail_records_the_asked_delay_and_where_the_error_went() -> None:
    j, _ = journal()
    rec = record(j)
    rec.status = 200
    rec.record_write(10, chunks=2)
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}
    rec.fail(Unavailable(details=[info]), outcome=Outcome.MID_STREAM_ERROR)
    entry = j.finish(rec)
    assert (entry.status, entry.error_code, entry.outcome) == (200, 503, "mid_stream_error")
    assert (entry.retry_after, entry.retry_after_source) == (0.5, "RetryInfo")
    assert entry.verdict is None


# ---------------------------------------------------------------------------------------------
# No secrets


def _secret_headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {BEARER}",
        "x-goog-api-key": API_KEY,
        "Cookie": f"SID={COOKIE}",
        "Proxy-Authorization": f"Basic {BEARER}",
        "User-Agent": "test",
    }


def test_no_secret_survives_in_any_form() -> None:
    j, _ = journal()
    rec = j.begin(
        method="POST",
        path=PATH,
        query=[("alt", "sse"), ("key", QUERY_KEY), ("access_token", BEARER)],
        headers=_secret_headers(),
    )
    rec.request = REQUEST
    live = j.entries()[0]
    entry = j.finish(rec)
    texts = [
        json.dumps(entry.to_json()),
        j.to_jsonl(),
        repr(entry),
        repr(rec),
        repr(j.entries()),
        str(live.to_json()),
        json.dumps(j.stats().to_json()),
    ]
    for text in texts:
        for secret in (BEARER, API_KEY, QUERY_KEY, COOKIE):
            assert secret not in text
    assert dict(entry.headers) == {"User-Agent": "test"}
    assert dict(entry.query) == {"alt": "sse"}
    assert entry.redacted == (
        "header:authorization",
        "header:x-goog-api-key",
        "header:cookie",
        "header:proxy-authorization",
        "query:key",
        "query:access_token",
    )


def test_the_token_digest_is_keyed_short_and_stable() -> None:
    _, _, _, digest = redact({}, {"Authorization": f"Bearer {BEARER}"}, key=KEY)
    expected = hmac.new(KEY, f"bearer:{BEARER}".encode(), hashlib.sha256).hexdigest()[:8]
    assert digest == expected
    assert redact({}, {"authorization": f"bearer {BEARER}"}, key=KEY)[3] == digest
    assert redact({}, {"Authorization": "Bearer other"}, key=KEY)[3] != digest
    assert redact({}, {"Authorization": f"Bearer {BEARER}"}, key=b"x" * 32)[3] != digest
    # without a key of its own, one key per process: stable within it
    assert (
        redact({}, {"Authorization": "Bearer t"})[3] == redact({}, {"Authorization": "Bearer t"})[3]
    )


def test_an_api_key_digest_differs_from_the_same_text_as_a_token() -> None:
    as_key = redact({"key": "same"}, {}, key=KEY)[3]
    assert as_key == redact({}, {"x-goog-api-key": "same"}, key=KEY)[3]
    assert as_key != redact({}, {"Authorization": "Bearer same"}, key=KEY)[3]
    assert redact({"alt": "sse"}, {"Accept": "*/*"}, key=KEY) == (
        {"alt": "sse"},
        {"Accept": "*/*"},
        (),
        None,
    )


# ---------------------------------------------------------------------------------------------
# Body, digest and the parsed request


def test_the_body_text_is_capped_but_size_and_digest_cover_it_all() -> None:
    j, _ = journal(body_cap=1000)
    body = ("é" * 600).encode()  # 1200 bytes: the cap cuts a two-byte character in half
    entry = j.finish(record(j, body=body))
    assert entry.body_size == 1200
    assert entry.body_sha256 == hashlib.sha256(body).hexdigest()
    assert entry.body_truncated
    assert entry.body == "é" * 500
    short = j.finish(record(j, body=b'{"a": 1}'))
    assert (short.body, short.body_truncated) == ('{"a": 1}', False)


def test_default_body_cap_is_64_kib() -> None:
    j = Journal()
    assert j.body_cap == DEFAULT_BODY_CAP == 65536
    rec = j.begin(method="POST", path=PATH)
    rec.set_body(b"x" * 100_000)
    entry = j.finish(rec)
    assert entry.body is not None
    assert len(entry.body) == 65536
    assert entry.body_size == 100_000


def test_request_digest_groups_equal_requests() -> None:
    j, _ = journal()
    one = j.finish(record(j, request={"b": 1, "a": [1, 2]}))
    two = j.finish(record(j, request={"a": [1, 2], "b": 1}))
    other = j.finish(record(j, request={"a": [2, 1], "b": 1}))
    assert one.request_digest == two.request_digest != other.request_digest
    rec = record(j, request={"a": [1, 2], "b": 1})
    rec.model = "gemini-2.5-pro"
    assert j.finish(rec).request_digest != one.request_digest
    raw1 = j.finish(record(j, body=b"{not json"))
    raw2 = j.finish(record(j, body=b"{not json"))
    raw3 = j.finish(record(j, body=b"{not json!"))
    assert raw1.request_digest == raw2.request_digest != raw3.request_digest


def test_a_request_with_huge_integers_still_gets_a_digest() -> None:
    j, _ = journal()
    entry = j.finish(record(j, request={"seed": 10**25}))
    assert len(entry.request_digest) == 16
    assert entry.request_bytes > 0


# ---------------------------------------------------------------------------------------------
# The byte budget


def test_a_payload_held_by_many_entries_is_counted_once() -> None:
    # What the server does for every request with the same bytes (engine/memo.py): the same
    # body text and parsed request objects in each entry.
    big, text = _big(), "y" * 10_000
    measured = measure_request(big)
    j, _ = journal(max_bytes=350_000)
    lone = j.stats().bytes
    for _ in range(200):
        rec = j.begin(method="POST", path=PATH)
        rec.set_payload(text.encode(), big, body_sha256="0" * 64, body_text=text, measured=measured)
        j.finish(rec)
    stats = j.stats()
    assert stats.entries == 200
    assert stats.dropped_bodies == stats.dropped_entries == 0
    fixed = j.entries()[0].fixed_bytes()
    assert stats.bytes == 200 * fixed + len(text) + measured[1]  # one payload, 200 fixed parts
    assert all(e.request is big for e in j.entries())
    j.clear()
    assert j.stats().bytes == 0
    # A second holder of an object keeps it counted while the first goes.
    one = j.finish(record(j, request=big))
    two = j.finish(record(j, request=big))
    assert j.stats().bytes == one.fixed_bytes() + two.fixed_bytes() + one.request_bytes
    j.clear(session="other")
    assert j.stats().bytes == one.fixed_bytes() + two.fixed_bytes() + one.request_bytes
    j.clear(session="default")
    assert j.stats().bytes == lone == 0


def _big() -> dict[str, Any]:
    return {"contents": [{"parts": [{"text": "x" * 100_000}]}]}


def test_over_budget_the_oldest_payloads_go_first() -> None:
    big = _big()
    j, _ = journal(max_bytes=350_000)
    entries = [j.finish(record(j, body=b"y" * 10_000, request=_big())) for _ in range(8)]
    assert [e.shed for e in entries] == [False] * 8  # what finish returned, at the time
    kept = j.entries()
    stats = j.stats()
    assert stats.bytes <= stats.max_bytes == 350_000
    assert stats.entries == 8
    assert stats.dropped_entries == 0
    assert stats.dropped_bodies == 5
    assert [e.shed for e in kept] == [True] * 5 + [False] * 3
    assert all(e.request is None and e.body is None for e in kept[:5])
    assert kept[-1].request == big
    assert kept[0].body_size == 10_000  # the numbers stay
    assert kept[0].request_digest == kept[-1].request_digest


def test_then_whole_entries_go_but_never_the_newest() -> None:
    j, _ = journal(max_bytes=5_000)
    ids = [j.finish(record(j, headers={"X-Pad": "p" * 1000})).id for _ in range(10)]
    stats = j.stats()
    assert stats.bytes <= 5_000
    assert stats.dropped_entries == 10 - stats.entries
    assert 0 < stats.entries < 10
    assert [e.id for e in j.entries()] == ids[-stats.entries :]
    tiny, _ = journal(max_bytes=0)
    rec = record(tiny, body=b"z" * 100, request=REQUEST)
    assert [e.id for e in tiny.entries()] == [rec.id]  # alone over budget: shed, kept
    assert tiny.entries()[0].shed
    assert tiny.stats().dropped_bodies == 1


def test_max_entries_drops_the_oldest() -> None:
    j, _ = journal(max_entries=3)
    ids = [record(j).id for _ in range(5)]
    assert [e.id for e in j.entries()] == ids[2:]
    assert j.stats().dropped_entries == 2
    j.clear()
    assert j.stats().dropped_entries == 0


def _fresh_request(size: int, n: int) -> tuple[bytes, dict[str, Any]]:
    data = chr(ord("a") + n % 26) * size  # a new string each time
    request = {"contents": [{"role": "user", "parts": [{"inlineData": {"data": data}}]}]}
    return json.dumps(request).encode(), request


def test_a_stream_of_10_mb_bodies_stays_within_the_budget() -> None:
    budget = 32 * 1024 * 1024
    size = 10 * 1024 * 1024
    j, _ = journal(max_bytes=budget)
    gc.collect()
    tracemalloc.start()
    try:
        for n in range(12):
            raw, request = _fresh_request(size, n)
            rec = record(j)
            rec.body = raw.decode()  # the way the server records it today
            rec.request = request
            rec.outcome = Outcome.OK
            del raw, request
            assert j.stats().bytes <= budget
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stats = j.stats()
    assert stats.entries == 12
    assert stats.dropped_bodies >= 9
    # 12 requests of 10 MB went in; what is left is the budget, not 120 MB
    assert held < budget + 4 * 1024 * 1024
    assert sum(1 for e in j.entries() if e.request is not None) <= 3


# ---------------------------------------------------------------------------------------------
# Sessions


def test_entries_and_clear_per_session() -> None:
    j, _ = journal()
    a1 = record(j, session="a").id
    b1 = record(j, session="b").id
    a2 = record(j, session="a").id
    assert [e.id for e in j.entries("a")] == [a1, a2]
    assert [e.id for e in j.entries("b")] == [b1]
    assert [e.id for e in j.entries()] == [a1, b1, a2]
    assert j.to_jsonl("b").count("\n") == 1
    j.clear("a")
    assert [e.id for e in j.entries()] == [b1]
    assert j.stats().bytes == j.entries()[0].retained_bytes()
    j.clear()
    assert j.entries() == []
    assert j.stats().bytes == 0


def test_a_cleared_recorder_is_not_listed_again() -> None:
    j, _ = journal()
    rec = record(j)
    j.clear()
    rec.request = REQUEST
    rec.outcome = Outcome.OK
    assert j.entries() == []
    assert j.finish(rec).outcome == Outcome.OK
    assert j.entries() == []


# ---------------------------------------------------------------------------------------------
# Amending once


def test_replace_amends_an_entry_once_by_id() -> None:
    j, clock = journal()
    rec = record(j, request=REQUEST)
    rec.outcome = Outcome.OK
    entry = j.finish(rec)
    clock.advance(0.1)
    amended = entry.amend(outcome=Outcome.CLIENT_DISCONNECTED, client_hung_up=True, end=clock())
    assert j.replace(amended)
    (kept,) = j.entries()
    assert (kept.id, kept.outcome, kept.client_hung_up, kept.amended) == (
        entry.id,
        Outcome.CLIENT_DISCONNECTED,
        True,
        True,
    )
    with pytest.raises(ValueError, match="already amended"):
        j.replace(kept.amend(outcome=Outcome.OK))


def test_replace_needs_a_finished_entry_that_is_still_kept() -> None:
    j, _ = journal()
    rec = record(j)
    with pytest.raises(ValueError, match="still being recorded"):
        j.replace(rec.freeze())
    entry = j.finish(rec)
    j.clear()
    assert j.replace(entry.amend(outcome=Outcome.ERROR)) is False


def test_an_amendment_cannot_bring_a_shed_payload_back() -> None:
    j, _ = journal(max_bytes=0)
    entry = j.finish(record(j, body=b"abc", request=REQUEST))
    assert j.entries()[0].shed
    assert j.replace(entry.amend(outcome=Outcome.CLIENT_DISCONNECTED))
    (kept,) = j.entries()
    assert (kept.shed, kept.body, kept.request) == (True, None, None)


# ---------------------------------------------------------------------------------------------
# JSON


def test_jsonl_round_trip() -> None:
    j, clock = journal()
    rec = j.begin(method="POST", path=PATH, query={"alt": "sse"}, headers=_secret_headers())
    rec.set_body(json.dumps(REQUEST).encode())
    rec.request = REQUEST
    rec.scenario, rec.step, rec.fault, rec.framing = "limited", 0, "disconnect", "sse"
    rec.record_write(10, chunks=1)
    clock.advance(1)
    rec.fail(ResourceExhausted(headers={"Retry-After": "2"}), outcome=Outcome.MID_STREAM_ERROR)
    j.finish(rec)
    bad = record(j, body=b"{")
    bad.reject(InvalidArgument("no", violations=[FieldViolation("contents[0]", "bad")]))
    j.finish(bad)
    record(j, session="other")  # still open
    text = j.to_jsonl()
    assert text.endswith("\n")
    assert len(text.splitlines()) == 3
    assert parse_jsonl(text) == j.entries()
    assert "".join(j.iter_jsonl()) == text
    for line in text.splitlines():
        assert json.loads(line)["id"] > 0


def test_to_json_is_json_ready_and_keeps_the_old_keys() -> None:
    j, _ = journal()
    entry = j.finish(record(j, body=b'{"x": 1}', request=REQUEST))
    data = json.loads(json.dumps(entry.to_json()))
    for key in ("method", "path", "query", "headers", "body", "api_version", "model", "rpc"):
        assert key in data
    for key in ("request", "status", "framing", "scenario", "chunks_sent", "outcome", "started"):
        assert key in data
    assert data["outcome"] == "pending"
    assert data["request"] == REQUEST
    assert data["body"] == '{"x": 1}'


# ---------------------------------------------------------------------------------------------
# The calls the server makes today


def test_an_open_recorder_is_listed_and_read_as_a_frozen_entry() -> None:
    j = Journal(10)
    exchange = Recorder(method="POST", path=PATH, query={"alt": "sse"}, headers={}, body="")
    j.add(exchange)
    exchange.api_version, exchange.model, exchange.rpc = "v1", "gemini-2.0-flash", "x"
    exchange.framing = "sse"
    exchange.body = json.dumps(REQUEST)
    exchange.request = REQUEST
    exchange.scenario = "s"
    exchange.status = 200
    assert exchange.outcome == "pending"
    exchange.chunks_sent = 2
    exchange.outcome = "ok"
    exchange.outcome = "client_disconnected"
    (entry,) = j.entries()
    assert isinstance(entry, Exchange)
    assert (entry.status, entry.outcome, entry.chunks_sent, entry.scenario) == (
        200,
        "client_disconnected",
        2,
        "s",
    )
    assert entry.client_hung_up
    assert entry.first_byte is not None
    assert entry.end is not None
    assert entry.request == REQUEST
    assert json.loads(entry.body or "") == REQUEST
    assert entry.query == {"alt": "sse"}
    assert json.dumps([e.to_json() for e in j.entries()])
    j.clear()
    assert j.entries() == []


def test_a_closed_recorder_reads_as_the_entry_finish_would_give() -> None:
    j, clock = journal()
    twin = Journal(clock=clock, wall_clock=lambda: 1_700_000_000.0, token_key=KEY)
    recs = [record(x, body=b'{"a": 1}', request=REQUEST) for x in (j, twin)]
    for rec in recs:
        rec.status, rec.chunks_sent, rec.outcome = 200, 3, Outcome.OK
    clock.advance(2.5)
    j.close(recs[0])
    finished = twin.finish(recs[1])
    assert j.stats().open == 0
    (entry,) = j.entries()
    assert isinstance(entry, Exchange)
    assert entry == finished
    assert entry.end == 102.5
    assert j.entries()[0] is entry  # frozen once, then kept
    assert j.replace(entry.amend(outcome=Outcome.CLIENT_DISCONNECTED))
    assert j.entries()[0].outcome is Outcome.CLIENT_DISCONNECTED


def test_a_closed_recorder_is_replaced_and_counted_like_a_finished_one() -> None:
    j, _ = journal(max_entries=2)
    first = record(j, request=REQUEST)
    j.close(first)
    assert j.stats().entries == 1
    assert j.replace(dataclasses.replace(j.entries()[0], status=499))
    j.close(record(j))
    j.close(record(j))
    assert [e.id for e in j.entries()] == [2, 3]
    assert j.stats().dropped_entries == 1


def test_set_request_takes_a_measure_made_before() -> None:
    j, _ = journal()
    measured = measure_request(REQUEST)
    rec = record(j)
    rec.set_request(REQUEST, measured=measured)
    entry = j.finish(rec)
    assert entry.request_digest == j.finish(record(j, request=REQUEST)).request_digest
    assert entry.request_bytes == measured[1]


def test_adding_a_finished_entry_gives_it_a_new_id() -> None:
    j, _ = journal()
    first = j.finish(record(j, request=REQUEST))
    j.add(first)
    a, b = j.entries()
    assert b.id == a.id + 1
    assert b.request_bytes == a.request_bytes > 0
    with pytest.raises(ValueError, match="already in a journal"):
        j.add(record(j))


def test_threads_record_at_once() -> None:
    j = Journal(max_entries=500, max_bytes=200_000)

    def work() -> None:
        for _ in range(100):
            rec = j.begin(method="POST", path=PATH)
            rec.set_body(b"x" * 1000)
            rec.request = REQUEST
            rec.outcome = Outcome.OK
            j.finish(rec)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stats = j.stats()
    assert stats.entries + stats.dropped_entries == 400
    assert stats.open == 0
    assert stats.bytes == sum(e.retained_bytes() for e in j.entries()) <= 200_000
    ids = [e.id for e in j.entries()]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_journal_at_its_entry_limit_stops_growing() -> None:
    # Every entry with a payload is queued for shedding; the ids of entries dropped must leave
    # that queue too, or a long run grows by one id per request while the journal stays full.
    import tracemalloc

    j, _ = journal(max_entries=100)
    for _ in range(2_000):
        j.finish(record(j, body=b"{}", request={"a": 1}))
    tracemalloc.start()
    try:
        for _ in range(2_000):  # every entry once replaced under tracing
            j.finish(record(j, body=b"{}", request={"a": 1}))
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            j.finish(record(j, body=b"{}", request={"a": 1}))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(j) == 100
    assert grown < 50_000, grown  # one id kept per request would be about 700 kB


def test_a_request_recorded_with_an_estimate_gets_the_same_digest_when_read() -> None:
    # A body sent once is not measured while it is answered (engine/memo.py): its digest is
    # made when the entry is read, or before its payload is shed.
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    raw = json.dumps(request).encode()
    j, _ = journal()
    measured = j.finish(record(j, request=request))
    rec = j.begin(method="POST", path=PATH)
    rec.model, rec.rpc = "gemini-2.0-flash", "generateContent"
    rec.set_request(request, estimated=estimate_request_bytes(raw))
    assert rec.request_bytes == estimate_request_bytes(raw) > len(raw)
    assert j.finish(rec).request_digest == measured.request_digest
    tiny, _ = journal(max_bytes=0)
    shed = tiny.begin(method="POST", path=PATH)
    shed.model, shed.rpc = "gemini-2.0-flash", "generateContent"
    shed.set_request({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, estimated=1)
    entry = tiny.finish(shed)
    assert entry.shed
    assert entry.request is None
    assert entry.request_digest == measured.request_digest

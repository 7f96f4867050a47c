"""The journal: one immutable entry per exchange, bounded in bytes, with no secrets.

A handler records an exchange on a mutable :class:`Recorder` while it answers, then
:meth:`Journal.finish` freezes it into an :class:`Exchange`:

    recorder = journal.begin(method="POST", path=..., query=request.query.items(),
                             headers=request.headers.items(), session="default")
    recorder.set_body(raw)          # size, sha256, the text up to the body cap
    recorder.request = normalized   # the parsed request (kept while the byte budget allows)
    recorder.record_write(len(data), chunks=1)
    recorder.outcome = Outcome.OK
    entry = journal.finish(recorder)
    journal.replace(entry.amend(outcome=Outcome.CLIENT_DISCONNECTED, client_hung_up=True))

Secrets never reach an entry: credential headers and query parameters are dropped (their names
are listed in ``redacted``) and only a short keyed digest of the credential is kept, so a report
can tell a 401 retried with the same token from one retried with a fresh token.

Memory is bounded in bytes as well as in entries. Each entry counts a fixed part, the body text
it keeps (at most ``body_cap`` bytes) and an estimate of its parsed request. Over ``max_bytes``
the journal first sheds the body text and parsed request of its oldest entries (``shed``), then
drops whole oldest entries; :meth:`Journal.stats` counts both.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from mockvertex.engine.exchange import (
    DEFAULT_SESSION,
    Exchange,
    Outcome,
    Verdict,
    parse_jsonl,
    retry_after_of,
)
from mockvertex.engine.recorder import (
    DEFAULT_BODY_CAP,
    Recorder,
    _measure,
    estimate_request_bytes,
    measure_request,
)
from mockvertex.engine.redaction import SECRET_HEADERS, SECRET_QUERY, Redactions, redact

# The entry, recorder and redaction names are re-exported: ``mockvertex.engine.journal`` is
# where callers find the journal's whole vocabulary.
__all__ = [
    "DEFAULT_BODY_CAP",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_SESSION",
    "SECRET_HEADERS",
    "SECRET_QUERY",
    "Exchange",
    "Journal",
    "JournalStats",
    "Outcome",
    "Recorder",
    "Redactions",
    "Verdict",
    "estimate_request_bytes",
    "measure_request",
    "parse_jsonl",
    "redact",
    "retry_after_of",
]

#: What all entries together may keep, in bytes (estimated; see ``Exchange.retained_bytes``).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Distinct request paths a journal keeps one string of (a client calls the same few).
_PATHS_KEPT = 256


# ---------------------------------------------------------------------------------------------
# The journal


@dataclass(frozen=True, slots=True)
class JournalStats:
    """What a journal holds and what its bounds made it drop."""

    entries: int
    open: int  # recorders not yet finished
    bytes: int  # estimated retained size of all entries
    max_entries: int
    max_bytes: int
    body_cap: int
    dropped_entries: int  # whole entries dropped, oldest first
    dropped_bodies: int  # entries whose body text and parsed request were shed

    def to_json(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "open": self.open,
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "body_cap": self.body_cap,
            "dropped_entries": self.dropped_entries,
            "dropped_bodies": self.dropped_bodies,
        }


class Journal:
    """Thread-safe record of the latest exchanges, oldest first, bounded in count and bytes.

    The newest entry is never dropped, even alone over ``max_bytes`` (it is shed instead).
    ``clear()`` of everything also resets the drop counters; ids keep counting up.

    A body text or parsed request held by several entries is counted once: the server gives
    every request with the same bytes the same objects (``engine/memo.py``), and a journal of
    10,000 retries of one call holds one parsed request, not 10,000.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        body_cap: int = DEFAULT_BODY_CAP,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        token_key: bytes | None = None,
    ) -> None:
        if max_entries < 1 or max_bytes < 0 or body_cap < 0:
            raise ValueError("max_entries must be positive; max_bytes and body_cap not negative")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.body_cap = body_cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._token_key = token_key
        self._redactions = Redactions(token_key)
        self._paths: dict[str, str] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._slots: OrderedDict[int, Exchange | Recorder] = OrderedDict()
        self._sizes: dict[int, int] = {}  # per entry its fixed part (payload counted apart)
        # id -> the payload it holds, in the order first held: oldest first when shedding.
        self._held: OrderedDict[int, tuple[tuple[object, int], ...]] = OrderedDict()
        self._shares: dict[int, list[int]] = {}  # id(payload object) -> [holders, bytes]
        self._total = 0
        self._dropped_entries = 0
        self._dropped_bodies = 0

    # -- recording
    def begin(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        session: str = DEFAULT_SESSION,
    ) -> Recorder:
        """A recorder for a request arriving now, listed (as pending) at once."""
        paths = self._paths  # one string per path for all the entries of that path
        known = paths.get(path)
        if known is None:
            if len(paths) >= _PATHS_KEPT:
                paths.clear()
            known = paths[path] = path
        recorder = Recorder(
            method=method,
            path=known,
            query=query,
            headers=headers,
            session=session,
            clock=self._clock,
            wall_clock=self._wall_clock,
            body_cap=self.body_cap,
            token_key=self._token_key,
            redactions=self._redactions,
        )
        # add(), for a recorder known to be fresh: no payload yet, this journal's body cap.
        size = recorder._fixed_bytes
        with self._lock:
            ident = recorder.id = next(self._ids)
            recorder._journal = self
            slots = self._slots
            slots[ident] = recorder
            self._sizes[ident] = size
            self._total += size
            if self._total > self.max_bytes:
                self._enforce()
            elif len(slots) > self.max_entries:  # a full journal: the oldest entry goes
                self._drop_oldest()
        return recorder

    def add(self, item: Recorder | Exchange) -> None:
        """List an open recorder (its entry follows its changes until finished), or a finished
        entry (it gets this journal's next id)."""
        with self._lock:
            ident = next(self._ids)
            if isinstance(item, Recorder):
                if item._journal is not None or item._finished:
                    raise ValueError(f"{item!r} is already in a journal")
                item.id = ident
                item._journal = self
                if item.body_cap != self.body_cap:
                    item.body_cap = self.body_cap
                    if item.body_size and not item.body_truncated:
                        item._keep_text(item._body_text.encode("utf-8", "surrogatepass"))
                    elif item.body_truncated:  # only the kept prefix is left to cut
                        kept = item._body_text.encode("utf-8", "surrogatepass")[: self.body_cap]
                        item._body_text = kept.decode("utf-8", "ignore")
                self._slots[ident] = item
            else:
                if item.request is not None and not item.request_bytes:
                    item = replace(item, request_bytes=_measure(item.request)[1])
                self._slots[ident] = replace(item, id=ident)
            self._sizes[ident] = 0
            self._resize_locked(ident)

    def finish(self, recorder: Recorder) -> Exchange:
        """Freeze ``recorder`` at the end of its exchange (the end time is now) and keep the
        entry in its place. Returns the entry (also when the journal was cleared meanwhile)."""
        with self._lock:
            listed = recorder._journal is self
            self.close(recorder)
            entry = recorder.freeze()
            if listed and self._slots.get(recorder.id) is recorder:
                self._slots[recorder.id] = entry
                self._resize_locked(recorder.id)
            return entry

    def close(self, recorder: Recorder) -> None:
        """End ``recorder``'s exchange as :meth:`finish` does (the end time is now), without
        building its entry yet: the journal freezes it the first time it is read (the server's
        hot path, where most entries are never read one by one). Nothing changes a closed
        recorder any more: its later changes would reach the entry, as they never reach a
        finished one."""
        with self._lock:
            recorder.end = recorder._clock()
            recorder._finished = True
            if recorder._uncounted:
                recorder._uncounted = False
                if self._slots.get(recorder.id) is recorder:
                    self._resize_locked(recorder.id)
            recorder._journal = None

    def _settled(self, ident: int, slot: Exchange | Recorder) -> Exchange | Recorder:
        """The slot, a closed recorder frozen in its place (under the lock)."""
        if isinstance(slot, Recorder) and slot._finished:
            entry = slot.freeze()
            self._slots[ident] = entry
            return entry
        return slot

    def replace(self, entry: Exchange) -> bool:
        """Amend a finished entry once, by id. False when the entry is no longer kept."""
        with self._lock:
            current = self._slots.get(entry.id)
            if current is None:
                return False
            current = self._settled(entry.id, current)
            if isinstance(current, Recorder):
                raise ValueError(f"entry {entry.id} is still being recorded: finish it first")
            if current.amended:
                raise ValueError(f"entry {entry.id} was already amended once")
            amended = replace(entry, amended=True)
            if current.shed:
                amended = amended.without_payload()
            self._slots[entry.id] = amended
            self._resize_locked(entry.id)
            return True

    def _resized(self, recorder: Recorder) -> None:
        with self._lock:
            if self._slots.get(recorder.id) is recorder:
                self._resize_locked(recorder.id)

    def _resize_locked(self, ident: int) -> None:
        self._recount(ident)
        if self._total > self.max_bytes or len(self._slots) > self.max_entries:
            self._enforce()

    def _recount(self, ident: int) -> None:
        """Count entry ``ident`` again: its fixed part, and each payload object it holds once
        over all entries."""
        slot = self._slots[ident]
        size = slot.fixed_bytes()
        self._total += size - self._sizes[ident]
        self._sizes[ident] = size
        held = _payload(slot)
        before = self._held.get(ident, ())
        if len(held) == len(before) and all(
            a[0] is b[0] for a, b in zip(held, before, strict=True)
        ):
            return
        shares = self._shares
        for obj, nbytes in held:  # taken before the old ones go: an object kept stays
            share = shares.get(id(obj))
            if share is None:
                shares[id(obj)] = [1, nbytes]
                self._total += nbytes
            else:
                share[0] += 1
        if before:
            self._release(before)
        if held:
            self._held[ident] = held
        else:
            self._held.pop(ident, None)

    def _release(self, held: tuple[tuple[object, int], ...]) -> None:
        for obj, _ in held:
            share = self._shares[id(obj)]
            share[0] -= 1
            if not share[0]:
                del self._shares[id(obj)]
                self._total -= share[1]

    def _enforce(self) -> None:
        while self._total > self.max_bytes and self._held:
            ident = next(iter(self._held))  # the oldest entry holding a payload
            slot = self._slots[ident]
            if isinstance(slot, Recorder):
                slot._shed()
            else:
                self._slots[ident] = slot.without_payload()
            self._dropped_bodies += 1
            self._recount(ident)
        while len(self._slots) > self.max_entries or (
            self._total > self.max_bytes and len(self._slots) > 1
        ):
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        ident, slot = self._slots.popitem(last=False)
        self._forget(ident, slot)
        self._dropped_entries += 1

    def _forget(self, ident: int, slot: Exchange | Recorder) -> None:
        """Uncount entry ``ident``, just taken out of the slots."""
        self._total -= self._sizes.pop(ident)
        held = self._held.pop(ident, None)
        if held is not None:
            self._release(held)
        if isinstance(slot, Recorder):
            slot._journal = None

    # -- reading
    def entries(self, session: str | None = None) -> list[Exchange]:
        """Every entry kept, oldest first (open ones as they stand), of one session or all."""
        with self._lock:
            slots = [self._settled(i, s) for i, s in list(self._slots.items())]
        out = [s.freeze() if isinstance(s, Recorder) else s for s in slots]
        return out if session is None else [e for e in out if e.session == session]

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def clear(self, session: str | None = None) -> None:
        """Forget every entry, or those of one session (open recorders stop being listed)."""
        with self._lock:
            if session is None:
                doomed = list(self._slots)
                self._dropped_entries = self._dropped_bodies = 0
            else:
                doomed = [i for i, s in self._slots.items() if s.session == session]
            for ident in doomed:
                self._forget(ident, self._slots.pop(ident))
            if session is None:
                self._shares.clear()
                self._redactions.clear()
                self._paths.clear()
                self._total = 0

    def stats(self) -> JournalStats:
        with self._lock:
            return JournalStats(
                entries=len(self._slots),
                open=sum(
                    1 for s in self._slots.values() if isinstance(s, Recorder) and not s._finished
                ),
                bytes=self._total,
                max_entries=self.max_entries,
                max_bytes=self.max_bytes,
                body_cap=self.body_cap,
                dropped_entries=self._dropped_entries,
                dropped_bodies=self._dropped_bodies,
            )

    def iter_jsonl(self, session: str | None = None) -> Iterator[str]:
        """The entries as JSON Lines, one line (newline included) at a time."""
        for entry in self.entries(session):
            yield entry.to_jsonl() + "\n"

    def to_jsonl(self, session: str | None = None) -> str:
        return "".join(self.iter_jsonl(session))


def _payload(slot: Exchange | Recorder) -> tuple[tuple[object, int], ...]:
    """The payload objects an entry holds, with their estimated sizes: its body text and its
    parsed request (none once shed)."""
    if slot.shed:
        return ()
    text, request = slot.body, slot.request
    if text:
        if request is not None:
            return ((text, len(text)), (request, slot.request_bytes))
        return ((text, len(text)),)
    return () if request is None else ((request, slot.request_bytes),)

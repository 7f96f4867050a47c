"""Work done once per distinct request: its validation, and the default responder's reply as
wire bytes with the ``createTime`` left open.

A mock under test sees the same request body again and again: every attempt of a retried call
carries the same bytes, and a suite sends its fixtures over and over. ``validate_request`` is
a pure function of the body and its target (model, method, API version, resource, profile
registry), and the default responder's reply a pure function of the normalized request and
the model's profile, but for ``createTime``, which follows the clock. :class:`RequestMemo`
keeps both for the most recent distinct bodies, bounded in count and in bytes:

* :meth:`RequestMemo.validated` gives the normalized request, shared by every request with
  those bytes (the journal keeps it too: nothing may change it, as nothing may change an
  immutable journal entry), with the journal's measure of it and the body's sha256 and text.
  :meth:`RequestMemo.seen` only looks. An invalid body is validated every time (errors are not
  kept).
* :meth:`Seen.default_reply` (what ``synthesis.render(None, ctx, profile, cache=seen,
  framing=...)`` asks) gives the default responder's :class:`Reply` with its chunks already
  encoded (``Reply.encoded``) in the framing asked for, from the body's second request on
  (a body sent once costs one rendering, as before). The bytes are rendered once with a
  sentinel time and split where it appears; a second rendering at another time must give
  exactly the bytes the split ones give with that time, else the request is rendered afresh
  every time.

Nothing here changes what a client receives: the same bytes, with the clock's ``createTime``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mockvertex.contract import wire
from mockvertex.contract.responses import merge_chunks
from mockvertex.contract.tokens import request_tokens
from mockvertex.contract.validation import validate_request
from mockvertex.engine.journal import estimate_request_bytes, measure_request
from mockvertex.engine.scenario import RequestContext
from mockvertex.engine.synthesis import Reply, create_time, render

if TYPE_CHECKING:
    from mockvertex.contract.profiles import ModelProfile, ProfileRegistry

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "RequestMemo",
    "Seen",
    "Target",
    "encode_pieces",
]

#: Distinct bodies remembered at most.
DEFAULT_MAX_ENTRIES = 256
#: What the remembered bodies, requests and replies may hold together, in bytes (estimated).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Bodies longer than this are validated and rendered every time, never remembered.
DEFAULT_MAX_BODY = 64 * 1024
#: Scenario contexts (framing, session) kept per body.
_CONTEXTS_KEPT = 16

# Two times whose createTime texts have the length of any time in years 1000 to 9999.
_SENTINEL = datetime(1111, 11, 11, 11, 11, 11, 111111, tzinfo=timezone.utc)
_CHECK = datetime(2222, 2, 22, 22, 22, 22, 222222, tzinfo=timezone.utc)

#: What a body is validated for: model, method, API version and resource name.
Target = tuple[str, str, str, str]
_Key = tuple[bytes, Target]
# Per encoded piece, its bytes split where the createTime goes.
_Template = tuple[tuple[bytes, ...], ...]


class Seen:
    """One distinct request body: its normalized request and what was built from it."""

    __slots__ = (
        "_contexts",
        "_measured",
        "_memo",
        "body_sha256",
        "body_text",
        "chunks",
        "estimated",
        "key",
        "profile",
        "profiles",
        "request",
        "size",
        "templates",
        "tokens",
        "uses",
    )

    def __init__(
        self,
        memo: RequestMemo,
        key: _Key,
        request: dict[str, Any],
        estimated: int,
        profiles: ProfileRegistry,
    ) -> None:
        self._memo = memo
        self.key = key
        #: The body's sha256 and text, as the journal keeps them (made when seen again).
        self.body_sha256 = ""
        self.body_text = ""
        #: Requests that carried this body (the first one included).
        self.uses = 1
        self.request = request
        #: The journal's measure of ``request`` (sha256 of its canonical JSON, retained size).
        #: The journal's estimate of what ``request`` retains, from the body's bytes.
        self.estimated = estimated
        self._measured: tuple[str, int] | None = None
        self.profiles = profiles
        #: Prompt tokens of ``request``, counted once when a quota asks.
        self.tokens: int | None = None
        #: The profile the default responder's reply below was built for.
        self.profile: ModelProfile | None = None
        #: That reply's chunks rendered at the sentinel time (None: not a plain reply).
        self.chunks: tuple[dict[str, Any], ...] | None = None
        #: The reply encoded per framing; None: this request is rendered every time.
        self.templates: dict[wire.Framing, _Template | None] = {}
        self.size = 0
        self._contexts: dict[tuple[str, str], RequestContext] = {}

    def context(self, framing: str, session: str) -> RequestContext:
        """The scenario context of this request in ``framing`` for ``session`` (made once;
        the last few kept)."""
        ctx = self._contexts.get((framing, session))
        if ctx is None:
            model, method, api_version, _ = self.key[1]
            ctx = RequestContext(
                model=model,
                method=method,
                api_version=api_version,
                request=self.request,
                framing=framing,
                session=session,
            )
            if len(self._contexts) >= _CONTEXTS_KEPT:
                self._contexts.clear()
            self._contexts[framing, session] = ctx
        return ctx

    def default_reply(
        self, ctx: RequestContext, profile: ModelProfile, framing: wire.Framing
    ) -> Reply | None:
        """The default responder's reply to this request (``ctx`` carries it) for
        ``profile``, with ``Reply.encoded`` set: the chunks in ``framing``, one piece per
        chunk, then the array's closing piece. None when it has to be rendered afresh.
        ``synthesis.render(None, ctx, profile, cache=seen, framing=...)`` asks this."""
        return self._memo._default_reply(self, ctx, profile, framing)

    @property
    def measured(self) -> tuple[str, int]:
        """The journal's measure of ``request`` (sha256 of its canonical JSON, retained
        size), made when the body comes a second time: a body sent once never needs it."""
        if self._measured is None:
            self._measured = measure_request(self.request)
        return self._measured

    def default_pieces(
        self, ctx: RequestContext, profile: ModelProfile, framing: wire.Framing
    ) -> tuple[bytes, ...] | None:
        """What :meth:`default_reply` gives as ``Reply.encoded``, without the reply around
        it: the server's path when no scenario answers and nothing else reads the chunks."""
        memo = self._memo
        template = self.templates.get(framing) if self.profile is profile else None
        if template is None:  # not made yet, or not usable
            template = memo._usable(self, ctx, profile, framing)
            if template is None:
                return None
        return tuple(map(memo._stamp().join, template))

    def prompt_tokens(self) -> int:
        """``request_tokens`` of the request, counted once."""
        if self.tokens is None:
            self.tokens = request_tokens(self.request)
        return self.tokens


class RequestMemo:
    """The most recent distinct request bodies (the least recently used go first)."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_body: int = DEFAULT_MAX_BODY,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_body = max_body
        self._now = now  # None: the system clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[_Key, Seen] = OrderedDict()
        self._bytes = 0
        self._second = -1
        self._prefix = b""
        #: Requests given a remembered validation, and requests validated.
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def retained_bytes(self) -> int:
        """What the remembered entries hold, in bytes (estimated)."""
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._bytes = 0

    # -- validation
    def seen(self, raw: bytes, target: Target, profiles: ProfileRegistry) -> Seen | None:
        """The :class:`Seen` of a body validated before for ``target`` (model, method, API
        version, resource) with these profiles, else None."""
        if len(raw) > self.max_body:
            return None
        key: _Key = (raw, target)
        seen = self._seen.get(key)
        if seen is None or seen.profiles is not profiles:
            return None
        try:  # noqa: SIM105 (cheaper than suppress) atomic; dropped meanwhile by another thread?
            self._seen.move_to_end(key)
        except KeyError:
            pass
        self.hits += 1
        seen.uses += 1
        if not seen.body_sha256:  # the first time again: what the journal keeps of the body
            seen.body_sha256 = hashlib.sha256(raw).hexdigest()
            seen.body_text = raw.decode("utf-8", "replace")
        return seen

    def validated(self, raw: bytes, target: Target, profiles: ProfileRegistry) -> Seen:
        """``validate_request(raw, ...)`` for ``target`` (model, method, API version,
        resource) as a :class:`Seen`: the one remembered for a body seen before, else
        validated now (and remembered when the body is short enough); raises what
        ``validate_request`` raises."""
        known = self.seen(raw, target, profiles)
        if known is not None:
            return known
        self.misses += 1
        model, method, api_version, resource = target
        request = validate_request(
            raw,
            model=model,
            method=method,
            api_version=api_version,
            profiles=profiles,
            resource=resource,
        )
        key: _Key = (raw, target)
        fresh = Seen(self, key, request, estimate_request_bytes(raw), profiles)
        if len(raw) <= self.max_body:
            fresh.size = 2 * len(raw) + fresh.estimated
            with self._lock:
                old = self._seen.pop(key, None)
                if old is not None:
                    self._bytes -= old.size
                self._seen[key] = fresh
                self._bytes += fresh.size
                self._enforce()
        return fresh

    def _enforce(self) -> None:
        while self._seen and (len(self._seen) > self.max_entries or self._bytes > self.max_bytes):
            _, dropped = self._seen.popitem(last=False)
            self._bytes -= dropped.size

    def _resize(self, seen: Seen, size: int) -> None:
        with self._lock:
            if self._seen.get(seen.key) is seen:
                self._bytes += size - seen.size
            seen.size = size
            self._enforce()

    # -- the default responder
    def _default_reply(
        self, seen: Seen, ctx: RequestContext, profile: ModelProfile, fmt: wire.Framing
    ) -> Reply | None:
        template = self._usable(seen, ctx, profile, fmt)
        if template is None or seen.chunks is None:
            return None
        stamp = self._create_time()
        mark = stamp.encode("ascii")
        return Reply(
            tuple([{**c, "createTime": stamp} for c in seen.chunks]),
            encoded=tuple(map(mark.join, template)),
        )

    def _usable(
        self, seen: Seen, ctx: RequestContext, profile: ModelProfile, fmt: wire.Framing
    ) -> _Template | None:
        """The template of the default reply to ``ctx`` in ``fmt``; None: render it afresh."""
        if seen.uses < 2 or ctx.method == "countTokens" or ctx.request is not seen.request:
            return None  # a body seen once is rendered as always: most are never sent again
        if seen.profile is not profile:
            self._start(seen, ctx, profile)
        if fmt in seen.templates:
            return seen.templates[fmt]
        return self._template(seen, ctx, profile, fmt)

    def _create_time(self) -> str:
        """``create_time(now)``, its text up to the second made once per second."""
        return self._stamp().decode("ascii")

    def _stamp(self) -> bytes:
        """``create_time(now)`` as bytes, its text up to the second made once per second."""
        if self._now is not None:
            when = self._now()
            second, micro = int(when.timestamp()), when.microsecond
        else:  # the clock's float, without a datetime per request
            now = time.time()
            second = int(now)
            micro = int((now - second) * 1e6)  # below 1e6: time.time() is not that fine
        if second != self._second:
            self._second = second
            at = datetime.fromtimestamp(second, timezone.utc)
            self._prefix = create_time(at)[:-8].encode("ascii")  # without ".ffffffZ"
        return b"%s.%06dZ" % (self._prefix, micro)

    def _start(self, seen: Seen, ctx: RequestContext, profile: ModelProfile) -> None:
        reply = render(None, ctx, profile, now=_SENTINEL)
        plain = reply.error is None and reply.fault is None and reply.pacing is None
        seen.profile = profile
        seen.chunks = reply.chunks if plain and reply.chunks else None
        seen.templates = {}
        self._resize(seen, 2 * len(seen.key[0]) + seen.measured[1])

    def _template(
        self, seen: Seen, ctx: RequestContext, profile: ModelProfile, fmt: wire.Framing
    ) -> _Template | None:
        template: _Template | None = None
        if seen.chunks is not None:
            mark = create_time(_SENTINEL).encode("ascii")
            split = tuple(tuple(piece.split(mark)) for piece in encode_pieces(seen.chunks, fmt))
            check = create_time(_CHECK).encode("ascii")
            expected = encode_pieces(render(None, ctx, profile, now=_CHECK).chunks, fmt)
            if [check.join(parts) for parts in split] == expected:
                template = split
        seen.templates[fmt] = template
        if template is not None:
            self._resize(seen, seen.size + sum(len(p) for parts in template for p in parts))
        return template


def encode_pieces(chunks: tuple[Mapping[str, Any], ...], fmt: wire.Framing) -> list[bytes]:
    """The pieces the server's direct path writes for ``chunks`` in framing ``fmt``: the merged
    unary body; one SSE event per chunk; one array piece per chunk, then the closing one."""
    if fmt is wire.Framing.UNARY:
        return [wire.encode_unary(merge_chunks(chunks))]
    if fmt is wire.Framing.SSE:
        return [wire.encode_sse_event(c) for c in chunks]
    writer = wire.ArrayWriter()
    return [*(writer.item(c) for c in chunks), writer.close()]

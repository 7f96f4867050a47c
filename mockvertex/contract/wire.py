"""Pure encode/decode of Vertex's response framings: unary JSON, SSE and the streamed JSON array.

No I/O and no aiohttp: the server encodes with these functions and the client decodes with
them, so both sides share one definition of the wire.

What the real front end sends, byte for byte:

* **Unary** (``generateContent``, ``countTokens``) and error envelopes: JSON pretty-printed
  with a 2-space indent, LF line endings, no trailing newline.
* **SSE** (``streamGenerateContent?alt=sse``): each chunk is ``data: `` + one line of compact
  JSON with Google's spacing (``": "`` after keys, ``","`` bare) + ``\\r\\n\\r\\n``. Nothing else:
  no ``event:``/``id:``/comment lines, no ``[DONE]``.
* **Array** (``streamGenerateContent`` with no ``alt`` or ``alt=json``): ``[`` glued to the first
  pretty object, ``\\n,\\r\\n`` before each further object, ``\\n]`` at the end and not a byte
  after it. An error in this mode is the envelope wrapped in the array.

Three characters get one deliberate deviation from plain ``ensure_ascii=False`` output:
U+0085, U+2028 and U+2029 are written as ``\\u`` escapes. ``str.splitlines()`` treats them as
line breaks, and both line readers google-genai uses (httpx ``iter_lines`` and requests
``iter_lines``) split on them, which would tear an SSE event in two. Whether Google's own
encoder escapes them is not confirmed; the decoded value is identical either way.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from mockvertex.contract.errors import StatusError

__all__ = [
    "ArrayDecoder",
    "ArrayWriter",
    "Framing",
    "FramingError",
    "SSEDecoder",
    "decode_array",
    "decode_sse",
    "decode_unary",
    "encode_array",
    "encode_error",
    "encode_pretty",
    "encode_sse_event",
    "encode_unary",
    "is_error_chunk",
]


class Framing(enum.Enum):
    """How a response body is framed on the wire."""

    UNARY = "unary"
    SSE = "sse"
    ARRAY = "array"

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` Google's front end sends with this framing."""
        if self is Framing.SSE:
            return "text/event-stream"
        return "application/json; charset=UTF-8"


class FramingError(ValueError):
    """A body that is not what Vertex sends: a broken frame, bad JSON, bytes out of place.

    ``decoded`` holds the values a decoder's ``feed`` had completed, from the same bytes,
    before it met the broken frame: a client keeps the chunks that did arrive intact.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.decoded: list[Any] = []


# --------------------------------------------------------------------------------------------
# Encoding

_LINE_BREAKERS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


_LINE_BREAKER_BYTES = (
    (b"\xc2\x85", b"\\u0085"),
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
)


_SSE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ": "))


def _dumps(obj: Any, **kwargs: Any) -> str:
    if kwargs.get("separators") == (",", ": ") and len(kwargs) == 1:
        text = _SSE_ENCODER.encode(obj)  # one encoder for every event, not one per call
    else:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, **kwargs)
    # The three characters can only occur inside JSON strings, where an escape is equivalent.
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        return text.translate(_LINE_BREAKERS)
    return text


# A lone surrogate (orjson refuses it; the standard library writes it raw) has no UTF-8 form.
# Characters beyond ASCII only occur inside JSON strings, where backslashreplace's ``\ud800``
# is the JSON escape of the same code unit: the text stays valid JSON and decodes back to it.
_SURROGATES = "backslashreplace"


def _escape_line_breakers(data: bytes) -> bytes:
    """``_LINE_BREAKERS`` for UTF-8 JSON: the three characters become ``\\u`` escapes.

    ASCII-only output, by far the most common, is recognised by ``bytes.isascii`` (a
    word-at-a-time scan) instead of two substring searches.
    """
    if data.isascii() or (b"\xc2\x85" not in data and b"\xe2\x80" not in data):
        return data
    for raw, escaped in _LINE_BREAKER_BYTES:
        data = data.replace(raw, escaped)
    return data


def _pretty(obj: Any) -> bytes:
    """``json.dumps(obj, indent=2, ensure_ascii=False)`` as UTF-8, by orjson where it can.

    The standard library drops to its pure-Python encoder whenever ``indent`` is set (about
    50 us for a typical chunk); orjson writes the same bytes in about 1 us. It differs only
    in spelling some floats (``0.00001`` for ``1e-05``, the same number) and in writing NaN
    and infinities as ``null`` (request and reply data never hold them: request bodies are
    refused with NaN); integers beyond 64 bits, which it refuses, go to the standard library.
    """
    try:
        data = orjson.dumps(obj, option=orjson.OPT_INDENT_2)
    except (TypeError, orjson.JSONEncodeError):
        return _dumps(obj, indent=2).encode("utf-8", _SURROGATES)
    return _escape_line_breakers(data)


# orjson writes only plain JSON types with these options (anything else raises, and goes to
# the standard library), indented, which puts Google's ": " after every key.
_INDENTED_PLAIN = (
    orjson.OPT_INDENT_2
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _one_line(obj: Any) -> bytes:
    """``_dumps(obj, separators=(",", ": "))`` as UTF-8: the JSON of an SSE event.

    orjson's indented output has a raw line break only before indentation (inside strings
    they are escaped), so deleting each line break with the spaces after it leaves exactly
    the standard library's one-line form. orjson's bytes can differ in two cases, sent to
    the standard library instead: ``null`` (orjson's spelling of NaN and infinities, which
    ``allow_nan=False`` refuses) and floats below 1e-4 (``0.00001`` and ``2.5e-7`` where
    repr writes ``1e-05`` and ``2.5e-07``), recognised by ``0.0000`` and ``e-``. The
    json module's C encoder cost about 17 us more per four-chunk stream in a running server.
    """
    try:
        data = orjson.dumps(obj, option=_INDENTED_PLAIN)
    except (TypeError, orjson.JSONEncodeError):
        return _json_line(obj)
    # Joining lines creates none of the three sequences and removes none (a line never
    # ends inside a token), so the shorter joined bytes are the ones searched.
    data = b"".join(map(bytes.lstrip, data.split(b"\n")))
    if b"null" in data or b"e-" in data or b"0.0000" in data:
        return _json_line(obj)
    return _escape_line_breakers(data)


def _json_line(obj: Any) -> bytes:
    data = _dumps(obj, separators=(",", ": ")).encode("utf-8", _SURROGATES)
    if b"\n" in data or b"\r" in data:  # pragma: no cover - json.dumps escapes both
        raise AssertionError("compact JSON spans lines")
    return data


def encode_sse_event(obj: Any) -> bytes:
    """One SSE event: ``data: `` + compact JSON on one line + CRLF CRLF.

    The JSON has no raw CR or LF: orjson and json.dumps escape both inside strings, and the
    orjson path has removed the only ones between tokens.
    """
    return b"data: " + _one_line(obj) + b"\r\n\r\n"


def encode_pretty(obj: Any) -> bytes:
    """JSON as Google prints bodies: 2-space indent, LF, no trailing newline."""
    return _pretty(obj)


def encode_unary(obj: Any) -> bytes:
    """A unary response body (``generateContent``, ``countTokens``)."""
    return encode_pretty(obj)


class ArrayWriter:
    """Incremental encoder of the streamed JSON array, one flushable piece per call.

    ``[`` is glued to the first object so the body's first byte is ``[`` (api_core demands
    it), each further object is preceded by ``\\n,\\r\\n``, and ``close`` gives ``\\n]`` with
    nothing after it: api_core rejects even a newline that arrives after the ``]``.
    """

    def __init__(self) -> None:
        self._count = 0
        self._closed = False

    @property
    def count(self) -> int:
        """Objects written so far."""
        return self._count

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("array already closed")

    def first(self, obj: Any) -> bytes:
        self._check_open()
        if self._count:
            raise ValueError("first() called after an object was written")
        self._count = 1
        return b"[" + encode_pretty(obj)

    def next(self, obj: Any) -> bytes:
        self._check_open()
        if not self._count:
            raise ValueError("next() called before first()")
        self._count += 1
        return b"\n,\r\n" + encode_pretty(obj)

    def item(self, obj: Any) -> bytes:
        """``first`` or ``next``, whichever is due."""
        return self.next(obj) if self._count else self.first(obj)

    def close(self) -> bytes:
        self._check_open()
        self._closed = True
        return b"\n]" if self._count else b"[]"


def encode_array(objs: Iterable[Any]) -> bytes:
    """A whole streamed-array body in one piece."""
    writer = ArrayWriter()
    return b"".join(writer.item(obj) for obj in objs) + writer.close()


def encode_error(error: StatusError, framing: Framing) -> bytes:
    """An error body sent *instead of* a response (a non-200 status).

    Unary and SSE calls get the plain pretty envelope; array-mode streams get it wrapped in
    the array. A mid-stream SSE error is a normal event: ``encode_sse_event(envelope)``.
    """
    envelope = error.to_envelope()
    if framing is Framing.ARRAY:
        return encode_array([envelope])
    return encode_pretty(envelope)


def is_error_chunk(obj: Any) -> bool:
    """Whether a decoded chunk is an error envelope (``{"error": {...}}``) sent mid-stream."""
    return isinstance(obj, Mapping) and "error" in obj


# --------------------------------------------------------------------------------------------
# Decoding

_SHOW = 200  # how much offending text an error message quotes


def _show(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= _SHOW else text[:_SHOW] + "...")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one, not one per value


def _loads(text: str, what: str) -> Any:
    try:
        return _DECODER.decode(text)
    except ValueError as exc:
        raise FramingError(f"{what}: invalid JSON ({exc}): {_show(text)}") from None


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FramingError(f"{what}: invalid UTF-8 ({exc.reason}): {_show(data)}") from None


_EOL = re.compile(rb"[\r\n]")
_BOM = b"\xef\xbb\xbf"
_SSE_FIELDS_KEPT = ("event", "id", "retry")


class SSEDecoder:
    """Incremental Server-Sent Events decoder whose events each carry one JSON value.

    Follows the SSE spec (WHATWG HTML §9.2): lines end in CRLF, LF or CR (a CR at the end of
    one feed may pair with an LF at the start of the next); a blank line ends an event; several
    ``data:`` lines are joined with ``\\n``; one space after the colon is stripped; lines
    starting with ``:`` are comments. Stricter than the spec where Vertex never strays: a field
    other than ``data``/``event``/``id``/``retry`` (e.g. a bare JSON line, as in an error body
    sent without SSE framing) raises ``FramingError`` instead of being silently dropped.

    Observations for conformance checks: ``separators_seen`` (the byte sequences that ended
    events, ``{b"\\r\\n\\r\\n"}`` for a real Vertex stream), ``comments`` (count), and
    ``events_with_fields`` (``(event index, {field: value})`` for events with non-data fields).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0
        self._started = False
        self._closed = False
        self._data: list[str] = []
        self._fields: dict[str, str] = {}
        self._last_eol = b""
        self.events = 0
        self.comments = 0
        self.separators_seen: set[bytes] = set()
        self.events_with_fields: list[tuple[int, dict[str, str]]] = []

    def feed(self, data: bytes) -> list[Any]:
        """Take the next bytes; return the values of the events they completed."""
        if self._closed:
            raise FramingError("data fed after close()")
        self._buf += data
        out: list[Any] = []
        pos = 0
        # Resume the search where the previous feed stopped, so a long line arriving in many
        # pieces is scanned once, not once per piece.
        try:
            while (m := _EOL.search(self._buf, max(pos, self._scanned))) is not None:
                end = m.start()
                if self._buf[end] == 0x0D:  # CR: may be half of a CRLF split across feeds
                    if end + 1 == len(self._buf):
                        break
                    eol = b"\r\n" if self._buf[end + 1] == 0x0A else b"\r"
                else:
                    eol = b"\n"
                self._line(bytes(self._buf[pos:end]), eol, out)
                pos = end + len(eol)
        except FramingError as exc:
            exc.decoded = out
            raise
        del self._buf[:pos]
        self._scanned = len(self._buf) - (1 if self._buf.endswith(b"\r") else 0)
        return out

    def close(self) -> list[Any]:
        """End of body: flush an event that lacked its blank line; refuse a half line."""
        if self._closed:
            return []
        out: list[Any] = []
        self._closed = True
        if self._buf.endswith(b"\r"):  # held back for a possible LF; it ends the line alone
            line = bytes(self._buf[:-1])
            self._buf.clear()
            self._line(line, b"\r", out)
        if self._buf:
            raise FramingError(f"stream ended inside a line: {_show(bytes(self._buf))}")
        if self._data:
            self._dispatch(b"", out)
        return out

    def _line(self, raw: bytes, eol: bytes, out: list[Any]) -> None:
        if not self._started:
            self._started = True
            if raw.startswith(_BOM):  # the spec strips one leading BOM
                raw = raw[len(_BOM) :]
        if not raw:
            if self._data or self._fields:
                self._dispatch(self._last_eol + eol, out)
            self._last_eol = eol
            return
        self._last_eol = eol
        line = _utf8(raw, f"SSE event {self.events}")
        if line.startswith(":"):
            self.comments += 1
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field in _SSE_FIELDS_KEPT:
            self._fields[field] = value
        else:
            raise FramingError(f"SSE event {self.events}: not an SSE field line: {_show(line)}")

    def _dispatch(self, separator: bytes, out: list[Any]) -> None:
        index = self.events
        if self._fields:
            self.events_with_fields.append((index, self._fields))
            self._fields = {}
        if not self._data:  # fields without data: the spec dispatches nothing
            return
        if separator:
            self.separators_seen.add(separator)
        text = "\n".join(self._data)
        self._data = []
        self.events += 1
        out.append(_loads(text, f"SSE event {index}"))


class _A(enum.Enum):
    START = 0  # nothing yet: the very first byte must be "["
    OPEN = 1  # after "[": an object or "]"
    OBJECT = 2  # inside a top-level object
    AFTER = 3  # after an object: "," or "]"
    COMMA = 4  # after ",": an object
    DONE = 5  # after "]": whitespace only


_WS = frozenset(b" \t\r\n")
_INSIDE = re.compile(rb'["\\]')
# Bytes other than braces, and whole strings (escapes honoured): what lies between two braces.
_RUN = re.compile(rb'(?:[^{}"]+|"[^"\\]*(?:\\.[^"\\]*)*")*')


class ArrayDecoder:
    """Incremental decoder of the streamed JSON array, as strict as api_core's parser.

    The body's very first byte must be ``[`` (api_core raises on anything else, leading
    whitespace included). Elements must be JSON objects, found with a brace-depth scanner that
    ignores braces inside strings and honours escapes, so feed boundaries may fall anywhere:
    inside strings, escapes or multibyte UTF-8 characters. Whitespace between tokens is free,
    a byte other than whitespace after ``]`` is an error, and ``close`` without ``]`` raises
    ``FramingError("Unfinished stream: ...")``. ``bytes_after_close`` counts the whitespace
    after ``]``; a real Vertex stream has none.
    """

    def __init__(self) -> None:
        self._state = _A.START
        self._obj = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self.items = 0
        self.bytes_after_close = 0

    def feed(self, data: bytes) -> list[Any]:
        """Take the next bytes; return the objects they completed."""
        out: list[Any] = []
        try:
            self._feed(data, out)
        except FramingError as exc:
            exc.decoded = out
            raise
        return out

    def _feed(self, data: bytes, out: list[Any]) -> None:
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state is _A.OBJECT:
                i = self._scan(data, i, out)
                continue
            byte = data[i]
            if state is _A.START:
                if byte != 0x5B:  # "["
                    raise FramingError(
                        f"array stream must start with '[', got {_show(data[i : i + 40])}"
                    )
                self._state = _A.OPEN
            elif byte in _WS:
                if state is _A.DONE:
                    self.bytes_after_close += 1
            elif byte == 0x7B and state in (_A.OPEN, _A.COMMA):  # "{"
                self._state = _A.OBJECT
                self._obj = bytearray(b"{")
                self._depth = 1
            elif byte == 0x2C and state is _A.AFTER:  # ","
                self._state = _A.COMMA
            elif byte == 0x5D and state in (_A.OPEN, _A.AFTER):  # "]"
                self._state = _A.DONE
            else:
                where = "after ']'" if state is _A.DONE else f"before item {self.items}"
                raise FramingError(f"unexpected byte {_show(data[i : i + 40])} {where}")
            i += 1

    def _scan(self, data: bytes, i: int, out: list[Any]) -> int:
        """Scan inside an object from ``data[i]``; return where scanning stopped.

        Outside strings, ``_RUN`` steps over everything up to the next brace in one call,
        complete strings included; only a string the feed ends inside is walked byte class
        by byte class (``_INSIDE``). The bytes scanned are copied into the object once.
        """
        n = len(data)
        start = i
        while i < n:
            if self._escape:  # the byte after a backslash, whatever it is
                self._escape = False
                i += 1
                continue
            if self._in_string:  # a string begun in an earlier feed
                m = _INSIDE.search(data, i)
                if m is None:
                    i = n
                    break
                i = m.start()
                if data[i] == 0x5C:  # "\\"
                    self._escape = True
                else:  # the closing '"'
                    self._in_string = False
                i += 1
                continue
            i = _RUN.match(data, i).end()  # type: ignore[union-attr]  # "*" always matches
            if i == n:
                break
            byte = data[i]
            i += 1
            if byte == 0x22:  # '"' opening a string this feed does not finish
                self._in_string = True
            elif byte == 0x7B:  # "{"
                self._depth += 1
            else:  # "}"
                self._depth -= 1
                if self._depth == 0:
                    self._obj += data[start:i]
                    what = f"array item {self.items}"
                    out.append(_loads(_utf8(bytes(self._obj), what), what))
                    self.items += 1
                    self._obj = bytearray()
                    self._state = _A.AFTER
                    return i
        self._obj += data[start:i]
        return i

    def close(self) -> list[Any]:
        """End of body: the array must have been closed with ``]``."""
        if self._state is not _A.DONE:
            pending = _show(bytes(self._obj)) if self._obj else "no ']' received"
            raise FramingError(f"Unfinished stream: {pending}")
        return []


def decode_unary(data: bytes) -> Any:
    """The JSON value of a unary body (a response or an error envelope), strictly: UTF-8,
    no NaN or infinities, nothing after the value but whitespace."""
    return _loads(_utf8(data, "unary body"), "unary body")


def decode_sse(data: bytes) -> list[Any]:
    """All event values of a complete SSE body."""
    decoder = SSEDecoder()
    return decoder.feed(data) + decoder.close()


def decode_array(data: bytes) -> list[Any]:
    """All objects of a complete streamed-array body."""
    decoder = ArrayDecoder()
    return decoder.feed(data) + decoder.close()

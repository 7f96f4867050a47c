"""Hostile input against a running mock over real sockets: seeded, bounded, and checked.

Each case is one TCP connection to a ``MockVertexServer`` on 127.0.0.1 carrying bytes built
from its own seeded ``random.Random`` (case ``i`` of seed ``s`` is the same on every run):

- valid requests (``fixtures/requests``) and byte-level mutations of them: bytes flipped, cut,
  inserted, doubled;
- JSON mutations: a node replaced by a number JSON or proto3 cannot hold, a huge string, a
  long list, a value of the wrong type, a key nobody knows;
- nesting around and far past the front end's limit, at the root and deep inside a request;
- lone UTF-16 surrogate escapes (``"\\ud800"``), invalid UTF-8, other charsets, a BOM;
- random bytes, empty bodies, big bodies;
- content encodings: gzip/deflate that decode, that do not, and one that inflates past the
  body limit;
- broken headers: control bytes, overlong lines, too many, duplicated, folded, credentials in
  malformed lines;
- broken framing: chunked with bad sizes, extensions and trailers, Content-Length lies, both
  Content-Length and Transfer-Encoding, pipelined requests;
- request lines HTTP cannot parse (methods, targets, versions, TLS and HTTP/2 prefaces);
- hang-ups: mid-request, before the answer, mid-answer.

A bearer token and an API key go where credentials go (``Authorization``, ``x-goog-api-key``,
``?key=``, ``?access_token=``), also inside lines the parser refuses.

A run is clean when: no answer is a 5xx; no case is left hanging; every JSON error body is a
Google envelope whose code is the HTTP status; every 200 body decodes in its framing; no log
record has ``exc_info`` or traceback text or spans lines; there are no more records than
requests; no secret is in any log line or journal entry (``to_json()``); the server kept no
handler bug (``state.errors``); and a valid request is still answered 200 at the end.

Run: ``python bench/fuzz_server.py [--requests N] [--seed S] [--concurrency C] [--quick]``
(``--quick`` is 2,000 requests). ``tests/test_fuzz.py`` runs a few thousand in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import logging
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from mockvertex.contract import wire  # noqa: E402
from mockvertex.contract.errors import StatusError  # noqa: E402
from mockvertex.contract.validation import validate_request  # noqa: E402
from mockvertex.server.runner import MockVertexServer  # noqa: E402

CORPUS_DIR = ROOT / "fixtures" / "requests"
SECRET_TOKEN = "ya29.fuzz-bearer-SECRET-7c1d5e"
SECRET_KEY = "AIzaSyFUZZ-api-key-SECRET-93ab0f"
SECRETS = (SECRET_TOKEN, SECRET_KEY)
#: The loggers whose records a run inspects (children propagate to them).
LOGGERS = ("mockvertex", "aiohttp", "asyncio")
TRACEBACK = "Traceback (most recent call last)"
CASE_TIMEOUT = 20.0  # seconds one connection may take before it counts as hanging
BATCH = 2000  # the journal is checked for secrets after each batch (it keeps 10,000)
VALID_MODELS = (
    "gemini-2.0-flash",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-1.0-pro",
    "gemini-2.0-flash-lite-001",
)
MODELS = (*VALID_MODELS, "text-bison", "no-such-model")
METHODS = ("generateContent", "streamGenerateContent", "countTokens")

_Headers = list[tuple[bytes, bytes]]


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    """The bytes of one connection and how to send them."""

    kind: str
    pieces: tuple[bytes, ...]
    requests: int = 1  # HTTP requests the bytes hold (pipelining)
    half_close: bool = False  # the bytes stop mid-request: shut the write side after them
    hang_up: str = ""  # "mid_request" | "before_answer" | "mid_answer"
    head: bool = False  # a HEAD request: the answer carries no body


def _corpus() -> tuple[list[Any], list[Any]]:
    """Every request in ``fixtures/requests``, and those the mock accepts."""
    bodies = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CORPUS_DIR.glob("*.json"))]
    valid = []
    for body in bodies:
        try:
            validate_request(json.dumps(body).encode(), model=VALID_MODELS[0], method=METHODS[0])
        except StatusError:
            continue
        valid.append(body)
    return bodies, valid


class CaseMaker:
    """Builds case ``index`` of a seed; every case has a random generator of its own."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.corpus, self.valid = _corpus()
        #: (name, weight, builder) of each kind of case
        self.kinds: list[tuple[str, int, Callable[[random.Random], Case]]] = [
            ("valid", 6, self._valid),
            ("body_bytes", 12, self._body_bytes),
            ("body_json", 12, self._body_json),
            ("nesting", 8, self._nesting),
            ("surrogates", 8, self._surrogates),
            ("utf8", 6, self._utf8),
            ("random_body", 5, self._random_body),
            ("sizes", 3, self._sizes),
            ("encoding", 6, self._encoding),
            ("headers", 10, self._headers),
            ("framing", 10, self._framing),
            ("request_line", 7, self._request_line),
            ("pipelined", 3, self._pipelined),
            ("hang_up", 4, self._hang_up),
        ]

    def make(self, index: int) -> Case:
        rng = random.Random(f"{self.seed}:{index}")
        (_, _, build) = rng.choices(self.kinds, [weight for _, weight, _ in self.kinds])[0]
        return build(rng)

    # -- shared pieces -------------------------------------------------------------------

    def _value(self, rng: random.Random) -> Any:
        """A request to start from (a deep copy), valid two times in three."""
        bodies = self.valid if self.valid and rng.random() < 0.67 else self.corpus
        return json.loads(json.dumps(rng.choice(bodies)))

    def _target(
        self, rng: random.Random, *, method: str | None = None, valid: bool = False
    ) -> bytes:
        model = rng.choice(VALID_MODELS if valid else MODELS)
        rpc = method or rng.choice(METHODS)
        version = rng.choice(("v1", "v1", "v1beta1"))
        query: list[str] = []
        if rpc == "streamGenerateContent" and rng.random() < 0.6:
            query.append(rng.choice(("alt=sse", "alt=sse", "alt=json", "%24alt=sse", "alt=bogus")))
        elif rng.random() < 0.05:
            query.append(rng.choice(("alt=json", "%24alt=json%3Benum-encoding%3Dint", "alt=")))
        if rng.random() < 0.2:  # express mode: an API key on the location-less path
            path = f"/{version}/publishers/google/models/{model}:{rpc}"
            if rng.random() < 0.5:
                query.append(f"key={SECRET_KEY}")
        else:
            path = f"/{version}/projects/p/locations/us-central1/publishers/google/models"
            path += f"/{model}:{rpc}"
            if rng.random() < 0.05:
                query.append(f"access_token={SECRET_TOKEN}")
        if rng.random() < 0.03:
            query.append(
                rng.choice(("key=" + SECRET_KEY + "&key=x", "%zz", "a=%ff%fe", "q=" + "x" * 900))
            )
        return (path + ("?" + "&".join(query) if query else "")).encode()

    def _headers_for(self, rng: random.Random, target: bytes) -> _Headers:
        headers: _Headers = [(b"Host", b"127.0.0.1")]
        if rng.random() < 0.9:
            headers.append((b"Content-Type", b"application/json"))
        if b"/projects/" in target or rng.random() < 0.3:
            headers.append((b"Authorization", b"Bearer " + SECRET_TOKEN.encode()))
        if b"/projects/" not in target and rng.random() < 0.7:
            headers.append((b"x-goog-api-key", SECRET_KEY.encode()))
        if rng.random() < 0.3:
            headers.append((b"User-Agent", b"google-genai-sdk/1.0 gl-python/3.11 fuzz"))
        if rng.random() < 0.85:
            headers.append((b"Connection", b"close"))
        return headers

    def _post(
        self,
        rng: random.Random,
        body: bytes,
        kind: str,
        *,
        headers: _Headers | None = None,
        target: bytes | None = None,
        chunked: bool | None = None,
    ) -> Case:
        target = target or self._target(rng)
        headers = self._headers_for(rng, target) if headers is None else headers
        chunked = rng.random() < 0.15 if chunked is None else chunked
        return Case(kind, _split(rng, _request(b"POST", target, headers, body, chunked=chunked)))

    def _dumps(self, rng: random.Random, value: Any) -> bytes:
        indent = rng.choice((None, None, 2))
        return json.dumps(value, indent=indent, ensure_ascii=rng.random() < 0.5).encode()

    # -- body kinds ----------------------------------------------------------------------

    def _valid(self, rng: random.Random) -> Case:
        body = json.loads(json.dumps(rng.choice(self.valid or self.corpus)))
        target = self._target(rng, valid=True)
        return self._post(rng, self._dumps(rng, body), "valid", target=target)

    def _body_bytes(self, rng: random.Random) -> Case:
        body = bytearray(self._dumps(rng, self._value(rng)))
        for _ in range(rng.randint(1, 4)):
            if not body:
                break
            at = rng.randrange(len(body))
            how = rng.randrange(5)
            if how == 0:
                body[at] = rng.randrange(256)
            elif how == 1:
                del body[at : at + rng.randint(1, 40)]
            elif how == 2:
                body[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif how == 3:
                body[at:at] = rng.choice((b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u"))
            else:
                end = min(len(body), at + rng.randint(1, 200))
                body[at:at] = body[at:end]
        if rng.random() < 0.2:
            body = body[: rng.randrange(len(body) + 1)]
        return self._post(rng, bytes(body), "body_bytes")

    def _body_json(self, rng: random.Random) -> Case:
        value = self._value(rng)
        raws: list[str] = []
        for _ in range(rng.randint(1, 3)):
            _replace_somewhere(rng, value, _odd_value(rng, raws))
        return self._post(rng, _with_raws(self._dumps(rng, value), raws), "body_json")

    def _nesting(self, rng: random.Random) -> Case:
        depth = rng.choice(
            (1, 50, 95, 98, 99, 100, 101, 102, 150, 198, 199, 200, 201, 202, 500, 1000)  # noqa: RUF005 - one literal over lines
            + (1023, 1024, 1025, 2000, 5000, 20000, 100000)
        )
        shape = rng.choice(("objects", "lists", "mixed", "schema", "keys"))
        nested = _nested_text(rng, depth, shape)
        value = self._value(rng)
        raws = [nested]
        where = rng.randrange(4)
        if where == 0:
            body = nested.encode()
        else:
            placeholder = f"\x00R{len(raws) - 1}\x00"
            if where == 1 and isinstance(value, dict):
                config = value.setdefault("generationConfig", {})
                if isinstance(config, dict):
                    config["responseMimeType"] = "application/json"
                    config[rng.choice(("responseSchema", "responseJsonSchema"))] = placeholder
            else:
                _replace_somewhere(rng, value, placeholder)
            body = _with_raws(self._dumps(rng, value), raws)
        if rng.random() < 0.1:  # a syntax error after the deep part
            body += b",}"
        return self._post(rng, body, "nesting")

    def _surrogates(self, rng: random.Random) -> Case:
        escapes = (
            r"\ud800",
            r"\udbff",
            r"\udc00",
            r"\udfff",
            r"\uD800",
            r"\ud800\ud800",
            r"\udc00\ud800",
            r"\ud800\u0041",
            r"\ud800x",
            r"\ud800\n",
            r"\ud83d\ude00",
            r"\\ud800",
            r"\\\ud800",
            r"\u0000",
            r"\u00e9\ud834",
        )
        value = self._value(rng)
        raws: list[str] = []
        for _ in range(rng.randint(1, 3)):
            index = len(raws)
            raws.append(rng.choice(escapes))
            text = f"a\x00S{index}\x00b"
            if rng.random() < 0.3:
                _add_key_somewhere(rng, value, text)
            else:
                _replace_somewhere(rng, value, text, strings_only=rng.random() < 0.7)
        body = _with_raws(json.dumps(value).encode(), raws)
        if rng.random() < 0.2:  # the same characters as raw (CESU-8) bytes
            body = body.replace(b"\\ud800", b"\xed\xa0\x80").replace(b"\\udc00", b"\xed\xb0\x80")
        return self._post(rng, body, "surrogates")

    def _utf8(self, rng: random.Random) -> Case:
        bad = (
            b"\xff",
            b"\xfe",
            b"\x80",
            b"\xc3",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",
            b"\xed\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xf8\x88\x80\x80\x80",
            b"\xe2\x82",
            b"\xef\xbb\xbf",
            b"\x00",
        )
        value = self._value(rng)
        how = rng.randrange(4)
        if how == 0:  # another charset, said or not
            text = json.dumps(value, ensure_ascii=False).replace("Hello", "Grüße ☃")
            codec = rng.choice(("latin-1", "utf-16", "utf-16-le", "utf-32", "cp1252"))
            body = text.encode(codec, "replace")
            headers = self._headers_for(rng, b"/projects/")
            if rng.random() < 0.5:
                headers = [(n, v) for n, v in headers if n != b"Content-Type"]
                headers.append((b"Content-Type", f"application/json; charset={codec}".encode()))
            return self._post(rng, body, "utf8", headers=headers)
        spoilt = bytearray(json.dumps(value, ensure_ascii=False).encode())
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(spoilt) + 1)
            spoilt[at:at] = rng.choice(bad)
        if how == 1:
            spoilt[0:0] = b"\xef\xbb\xbf"
        return self._post(rng, bytes(spoilt), "utf8")

    def _random_body(self, rng: random.Random) -> Case:
        how = rng.randrange(4)
        if how == 0:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000)))
        elif how == 1:
            body = json.dumps(_random_json(rng, 4)).encode()
        elif how == 2:
            body = rng.choice(
                (b"", b" ", b"\n\r\t", b"null", b"[]", b"{}", b'""', b"0", b"{", b"}", b"[{]}")  # noqa: RUF005 - one literal over lines
                + (b'{"contents": []}', b'{"contents": null}', b"NaN", b'{"a":1}{"b":2}')
                + (b"a=1&b=2", b"--x\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--x--")
            )
        else:
            keys = ("contents", "parts", "role", "text", "generationConfig", "tools", "")
            body = json.dumps({rng.choice(keys): _random_json(rng, 3) for _ in range(3)}).encode()
        return self._post(rng, body, "random_body")

    def _sizes(self, rng: random.Random) -> Case:
        how = rng.randrange(4)
        value: Any
        if how == 0:
            text = "word " * rng.choice((10_000, 100_000, 300_000))
            value = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        elif how == 1:
            parts = [{"text": f"p{i}"} for i in range(rng.choice((1000, 5000, 20000)))]
            value = {"contents": [{"role": "user", "parts": parts}]}
        elif how == 2:
            turns = [
                {"role": ("user", "model")[i % 2], "parts": [{"text": f"turn {i}"}]}
                for i in range(rng.choice((101, 1001, 5001)))
            ]
            value = {"contents": turns}
        else:
            key = "k" * rng.choice((1000, 100_000))
            value = {key: 1, "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        return self._post(rng, json.dumps(value).encode(), "sizes")

    def _encoding(self, rng: random.Random) -> Case:
        plain = self._dumps(rng, self._value(rng))
        how = rng.randrange(9)
        name = b"gzip"
        if how == 0:
            body = _gzip(plain)
        elif how == 1:
            name, body = b"deflate", zlib.compress(plain)
        elif how == 2:
            raw = zlib.compressobj(wbits=-15)
            name, body = b"deflate", raw.compress(plain) + raw.flush()
        elif how == 3:  # said, not done
            name, body = rng.choice((b"gzip", b"deflate", b"br", b"zstd")), plain
        elif how == 4:  # cut short
            data = _gzip(plain)
            body = data[: rng.randrange(1, len(data))]
        elif how == 5:  # bytes flipped inside the stream
            flipped = bytearray(_gzip(plain))
            flipped[rng.randrange(10, len(flipped))] ^= 0xFF
            body = bytes(flipped)
        elif how == 6:
            name, body = rng.choice((b"gzip, gzip", b"identity", b"x-unknown", b"GZIP")), plain
        elif how == 7:  # inflates past the body limit (kept rare: it costs ~0.2 s)
            size = 32 << 20 if rng.random() < 0.2 else 1 << 20
            body = _gzip(b" " * size)
        else:
            name, body = b"gzip", _gzip(_gzip(plain))
        target = self._target(rng)
        headers = self._headers_for(rng, target)
        headers.append((b"Content-Encoding", name))
        return self._post(rng, body, "encoding", headers=headers, target=target)

    # -- HTTP kinds ----------------------------------------------------------------------

    def _headers(self, rng: random.Random) -> Case:
        target = self._target(rng)
        headers = self._headers_for(rng, target)
        token = SECRET_TOKEN.encode()
        mutations: list[Callable[[], None]] = [
            lambda: headers.append((b"X-Fuzz", b"a\x00b")),
            lambda: headers.append((b"X-Fuzz", b"a\x7fb\x01")),
            lambda: headers.append((b"X-Fuzz", "välue ☃".encode())),
            lambda: headers.append((b"X-Fuzz", b"\xff\xfe")),
            lambda: headers.append((b"X-F\xfcz", b"1")),
            lambda: headers.append((b"", b"empty name")),
            lambda: headers.append((b"Bad Name", b"1")),
            lambda: headers.append((b"X-Fuzz", b"x" * rng.choice((8000, 8191, 9000, 70000)))),
            lambda: headers.append((b"Authorization", b"Bearer " + token + b"\x00")),
            lambda: headers.append((b"Authorization", b"Bearer " + token + b"A" * 9000)),
            lambda: headers.append((b"Authorization ", b"Bearer " + token)),
            lambda: headers.append((b"Authorization", b"Bearer")),
            lambda: headers.append((b"Authorization", b"Basic Zm9vOmJhcg==")),
            lambda: headers.append((b"Authorization", b"Bearer " + token)),
            lambda: headers.append((b"x-goog-api-key", SECRET_KEY.encode() + b"\r")),
            lambda: headers.append((b"X-Fuzz", b"folded\r\n continued")),
            lambda: headers.extend((b"X-Many-%d" % i, b"1") for i in range(rng.choice((100, 200)))),
            lambda: headers.append((b"Content-Length", b"5")),
            lambda: headers.append((b"Content-Type", b"text/plain")),
            lambda: headers.append((b"Content-Type", b"multipart/form-data; boundary=x")),
            lambda: headers.append((b"Content-Type", b"application/json; charset=utf-16")),
            lambda: headers.append((b"Expect", b"100-continue")),
            lambda: headers.append((b"Upgrade", b"websocket")),
            lambda: headers.append((b"Connection", b"Upgrade")),
            lambda: headers.append((b"Transfer-Encoding", b"identity")),
            lambda: headers.append((b"Accept-Encoding", b"gzip, br, zstd")),
            lambda: headers.append((b"Host", b"evil.example")),
            lambda: headers.__setitem__(0, (b"Host", b"")),
            lambda: headers.__delitem__(0),
        ]
        for _ in range(rng.randint(1, 3)):
            rng.choice(mutations)()
        body = self._dumps(rng, self._value(rng))
        return self._post(rng, body, "headers", headers=headers, target=target, chunked=False)

    def _framing(self, rng: random.Random) -> Case:
        target = self._target(rng)
        headers = self._headers_for(rng, target)
        body = self._dumps(rng, self._value(rng))
        head = _head(b"POST", target, headers)
        how = rng.randrange(12)
        half_close = False
        if how == 0:  # chunked with extensions and a trailer
            data = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in _pieces(rng, body))
            data += b"0\r\nX-Trailer: 1\r\n\r\n"
            wire_bytes = head + b"Transfer-Encoding: chunked\r\n\r\n" + data
        elif how == 1:  # a chunk size that is not hex, negative, or huge
            size = rng.choice((b"zz", b"-1", b"ffffffffffffffffffff", b" 5", b"5 ", b"0x5", b""))
            wire_bytes = head + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n" + body
        elif how == 2:  # a chunk that says more than it holds, then the end
            wire_bytes = head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (len(body) + 50)
            wire_bytes += body + b"\r\n0\r\n\r\n"
            half_close = True
        elif how == 3:  # no last chunk
            wire_bytes = head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (
                len(body),
                body,
            )
            half_close = True
        elif how == 4:  # Content-Length and Transfer-Encoding both
            wire_bytes = head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(
                body
            )
            wire_bytes += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        elif how == 5:  # Content-Length larger than the body
            wire_bytes = head + b"Content-Length: %d\r\n\r\n" % (len(body) + rng.randint(1, 999))
            wire_bytes += body
            half_close = True
        elif how == 6:  # Content-Length smaller than the body: the rest is the next request
            wire_bytes = head + b"Content-Length: %d\r\n\r\n" % rng.randrange(len(body)) + body
        elif how == 7:  # Content-Length twice, or not a number
            value = rng.choice((b"%d, %d" % (len(body), len(body)), b"-1", b"abc", b"+5", b"1e3"))
            if rng.random() < 0.5:
                wire_bytes = head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (
                    len(body),
                    len(body) + 1,
                )
            else:
                wire_bytes = head + b"Content-Length: " + value + b"\r\n\r\n"
            wire_bytes += body
        elif how == 8:  # Transfer-Encoding values the parser must refuse or read
            value = rng.choice((b"gzip, chunked", b"chunked, identity", b"xchunked", b"chunked"))
            wire_bytes = head + b"Transfer-Encoding: " + value + b"\r\n"
            wire_bytes += b"Transfer-Encoding: chunked\r\n\r\n" if rng.random() < 0.3 else b"\r\n"
            wire_bytes += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        elif how == 9:  # bare LF line endings
            wire_bytes = (head + b"Content-Length: %d\r\n\r\n" % len(body)).replace(b"\r\n", b"\n")
            wire_bytes += body
        elif how == 10:  # a huge Content-Length, nothing behind it
            wire_bytes = head + b"Content-Length: 99999999999999999999\r\n\r\n" + body[:10]
        else:  # chunked with bare LF line endings: the parser waits for the CRLF
            wire_bytes = head + b"Transfer-Encoding: chunked\r\n\r\n%x\n%s\n0\n\n" % (
                len(body),
                body,
            )
            half_close = True
        return Case("framing", _split(rng, wire_bytes), half_close=half_close)

    def _request_line(self, rng: random.Random) -> Case:
        target = self._target(rng)
        headers = self._headers_for(rng, target)
        body = self._dumps(rng, self._value(rng))
        how = rng.randrange(10)
        head_request = False
        if how == 0:
            method = rng.choice((b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE"))
            method = rng.choice((method, b"HEAD")) if rng.random() < 0.3 else method
            head_request = method == b"HEAD"
            line = method + b" " + target + b" HTTP/1.1"
        elif how == 1:
            method = rng.choice((b"post", b"P@ST", b"PO ST", b"X" * 300, b"\x00POST", b"CONNECT"))
            line = method + b" " + target + b" HTTP/1.1"
        elif how == 2:
            version = rng.choice((b"HTTP/1.2", b"HTTP/2", b"HTTP/1", b"HTTPS/1.1", b"http/1.1"))
            line = b"POST " + target + b" " + rng.choice((version, b"HTTP/9.9", b""))
        elif how == 3:
            odd = rng.choice(
                (b"*", b"", b"//", b"/%00", b"/a b", b"/\xff\xfe", b"/#frag", b"/..%2f..", b"/?")  # noqa: RUF005 - one literal over lines
                + (b"http://127.0.0.1" + target, b"127.0.0.1:80", b"/" + "é".encode() * 5)
            )
            line = b"POST " + odd + b" HTTP/1.1"
        elif how == 4:  # an overlong target, with the API key in it
            line = b"POST " + target + b"&key=" + SECRET_KEY.encode() + b"x" * 9000 + b" HTTP/1.1"
        elif how == 5:
            line = b"POST " + target + b"?key=" + SECRET_KEY.encode() + b" HTTP/9.9"
        elif how == 6:
            line = b"\r\n\r\nPOST " + target + b" HTTP/1.1"
        elif how == 7:
            line = b"POST " + target + b" HTTP/1.0"
        elif how == 8:
            return Case(
                "request_line",
                (
                    rng.choice(
                        (
                            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),
                            b"GET /\r\n",
                            bytes(rng.randrange(256) for _ in range(rng.randint(1, 500))),
                            b"\r\n" * 20,
                            b"",
                        )
                    ),
                ),
                half_close=True,
            )
        else:  # the line with CR or LF alone
            line = b"POST " + target + b" HTTP/1.1"
            wire_bytes = line + b"\r" + _head_lines(headers).replace(b"\r\n", b"\r")
            return Case("request_line", (wire_bytes + body,), half_close=True)
        wire_bytes = line + b"\r\n" + _head_lines(headers)
        wire_bytes += b"Content-Length: %d\r\n\r\n" % len(body) + body
        return Case("request_line", _split(rng, wire_bytes), head=head_request)

    def _pipelined(self, rng: random.Random) -> Case:
        count = rng.randint(2, 4)
        out = b""
        for i in range(count):
            target = self._target(rng)
            headers = [(n, v) for n, v in self._headers_for(rng, target) if n != b"Connection"]
            if i == count - 1:
                headers.append((b"Connection", b"close"))
            if rng.random() < 0.25:
                out += (
                    bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 60))) + b"\r\n\r\n"
                )
            else:
                body = self._dumps(rng, self._value(rng))
                out += _request(b"POST", target, headers, body, chunked=rng.random() < 0.3)
        return Case("pipelined", _split(rng, out), requests=count)

    def _hang_up(self, rng: random.Random) -> Case:
        target = self._target(rng, method=rng.choice(("streamGenerateContent", "generateContent")))
        headers = self._headers_for(rng, target)
        data = _request(b"POST", target, headers, self._dumps(rng, self._value(rng)))
        how = rng.choice(("mid_request", "before_answer", "mid_answer"))
        if how == "mid_request":
            data = data[: rng.randrange(1, len(data))]
        return Case("hang_up", _split(rng, data), hang_up=how)


# -- request bytes ----------------------------------------------------------------------------


def _head_lines(headers: _Headers) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def _head(method: bytes, target: bytes, headers: _Headers) -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\n" + _head_lines(headers)


def _request(
    method: bytes, target: bytes, headers: _Headers, body: bytes, *, chunked: bool = False
) -> bytes:
    head = _head(method, target, headers)
    if chunked:
        data = b"".join(
            b"%x\r\n%s\r\n" % (len(c), c) for c in _pieces(random.Random(len(body)), body)
        )
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + data + b"0\r\n\r\n"
    if any(name.lower() == b"content-length" for name, _ in headers):
        return head + b"\r\n" + body
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # no timestamp: the same every run


def _pieces(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` in 1 to 4 non-empty pieces."""
    if len(data) < 2:
        return [data] if data else []
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 3))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _split(rng: random.Random, data: bytes) -> tuple[bytes, ...]:
    """Most cases go in one write; some in several, to exercise the incremental parser."""
    return tuple(_pieces(rng, data)) if rng.random() < 0.3 else (data,)


# -- JSON values ------------------------------------------------------------------------------


def _containers(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            yield node
            stack.extend(node.values() if isinstance(node, dict) else node)


def _replace_somewhere(
    rng: random.Random, value: Any, new: Any, *, strings_only: bool = False
) -> None:
    """Put ``new`` in place of one member of one container of ``value`` (or add it)."""
    spots: list[tuple[Any, Any]] = []
    for node in _containers(value):
        members = node.items() if isinstance(node, dict) else enumerate(node)
        spots.extend((node, k) for k, v in members if not strings_only or isinstance(v, str))
    if not spots:
        if isinstance(value, dict):
            value["fuzz"] = new
        return
    node, key = rng.choice(spots)
    node[key] = new


def _add_key_somewhere(rng: random.Random, value: Any, key: str) -> None:
    dicts = [node for node in _containers(value) if isinstance(node, dict)]
    if dicts:
        rng.choice(dicts)[key] = "x"


def _odd_value(rng: random.Random, raws: list[str]) -> Any:
    """A value proto3 JSON or Python's json cannot take at face value; raw text via ``raws``."""
    how = rng.randrange(6)
    if how == 0:
        raws.append(
            rng.choice(
                ("NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0")  # noqa: RUF005 - one literal over lines
                + ("123456789012345678901234567890", "-9223372036854775809", "1E5", "0.0")
                + ("18446744073709551616", "1.7976931348623157e308", "5e-324")
            )
        )
        return f"\x00R{len(raws) - 1}\x00"
    if how == 1:
        return rng.choice(("", "x" * rng.choice((1000, 100_000)), "1.5s", "-5", "true", "null"))
    if how == 2:
        return rng.choice((True, False, None, 0, -1, 2**63, 2**64, 1.5, -0.0, 10**30))
    if how == 3:
        return [rng.choice((1, "a", None, {}, []))] * rng.choice((0, 1, 1000))
    if how == 4:
        return {rng.choice(("unknownField", "generation_config", "", "__proto__", "@type")): 1}
    return _random_json(rng, 3)


def _random_json(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.4:
        return rng.choice(
            (None, True, False, 0, -1, 3.25, 2**70, "", "text", "é☃\u2028", "\x00", "\\")
        )
    if roll < 0.7:
        return [_random_json(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    keys = ("a", "contents", "parts", "text", "role", "", "ü", "x" * 50, "generationConfig")
    return {rng.choice(keys): _random_json(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def _nested_text(rng: random.Random, depth: int, shape: str) -> str:
    if shape == "objects":
        return '{"a":' * depth + "1" + "}" * depth
    if shape == "lists":
        return "[" * depth + "1" + "]" * depth
    if shape == "mixed":
        return '{"a":[' * (depth // 2) + "1" + "]}" * (depth // 2)
    if shape == "keys":
        opened = "".join(f'{{"k{i}":' for i in range(depth))
        return opened + '"leaf"' + "}" * depth
    levels = max(1, depth // 2)  # a schema: two objects per level of properties
    return '{"type":"OBJECT","properties":{"a":' * levels + '{"type":"STRING"}' + "}}" * levels


def _with_raws(body: bytes, raws: list[str]) -> bytes:
    """Put raw JSON text where ``\\x00R<i>\\x00`` (a whole string) or ``\\x00S<i>\\x00`` (inside
    one) placeholders were serialised."""
    for i, raw in enumerate(raws):
        whole = f'"\\u0000R{i}\\u0000"'.encode()
        body = body.replace(whole, raw.encode()).replace(f"\x00R{i}\x00".encode(), raw.encode())
        inside = f"\\u0000S{i}\\u0000".encode()
        body = body.replace(inside, raw.encode()).replace(f"\x00S{i}\x00".encode(), raw.encode())
    return body


# ---------------------------------------------------------------------------------------------
# Sending a case and reading the answer


@dataclass
class Answer:
    """How the server answered one case."""

    outcome: str  # answered | closed | reset | hung_up | timeout | garbled
    status: int | None = None
    content_type: str = ""
    body: bytes = b""


async def send(port: int, case: Case) -> Answer:
    """Send ``case`` on a fresh connection and read the first answer (bounded in time)."""
    try:
        async with asyncio.timeout(CASE_TIMEOUT):
            return await _send(port, case)
    except TimeoutError:
        return Answer("timeout")


async def _send(port: int, case: Case) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        try:
            for piece in case.pieces:
                writer.write(piece)
                await writer.drain()
                if len(case.pieces) > 1:
                    await asyncio.sleep(0)
            if case.hang_up in ("mid_request", "before_answer"):
                writer.transport.abort()
                return Answer("hung_up")
            if case.half_close and writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass  # the server may answer and close before it has read everything
        if case.hang_up == "mid_answer":
            with contextlib.suppress(ConnectionError):
                await reader.read(1 + len(case.pieces[0]) % 300)
            writer.transport.abort()
            return Answer("hung_up")
        try:
            return await _read_answer(reader, head=case.head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            partial = getattr(exc, "partial", b"")
            return Answer("closed" if not partial else "garbled", body=bytes(partial[:200]))
        except ConnectionError:
            return Answer("reset")
    finally:
        writer.transport.abort()


async def _read_answer(reader: asyncio.StreamReader, *, head: bool) -> Answer:
    while True:
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ValueError(status_line)
        status = int(parts[1])
        headers: dict[bytes, bytes] = {}
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if not 100 <= status < 200 or status == 101:
            break
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    if head or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        body = b""
        while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    else:
        body = await reader.read()
    return Answer("answered", status, content_type, body)


def body_problem(answer: Answer) -> str | None:
    """Why an answer's body is not what Vertex sends, or None."""
    if answer.status is None or not answer.body:
        return None
    try:
        if answer.status == 200:
            if answer.content_type.startswith("text/event-stream"):
                wire.decode_sse(answer.body)
            elif answer.body.startswith(b"["):
                wire.decode_array(answer.body)
            elif answer.content_type.startswith("application/json"):
                json.loads(answer.body)
            return None
        if not answer.content_type.startswith("application/json"):
            return None  # aiohttp's own plain 400 for HTTP it cannot parse
        value = json.loads(answer.body)
    except (ValueError, wire.FramingError) as exc:
        return f"{answer.status} body does not decode: {exc}"
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    error = value.get("error") if isinstance(value, dict) else None
    if not isinstance(error, dict) or error.get("code") != answer.status:
        return f"{answer.status} body is not an error envelope: {answer.body[:120]!r}"
    if not isinstance(error.get("message"), str) or not isinstance(error.get("status"), str):
        return f"{answer.status} envelope lacks message or status: {answer.body[:120]!r}"
    return None


# ---------------------------------------------------------------------------------------------
# What the server logged


class LogTrap(logging.Handler):
    """Keeps every record of ``LOGGERS`` (at DEBUG) while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogTrap:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.setLevel(self._levels.get(name, logging.NOTSET))

    def problems(self, requests: int) -> list[str]:
        out: list[str] = []
        for record in self.records:
            text = self.format(record)
            shown = text[:300]
            if record.exc_info or record.stack_info or TRACEBACK in text:
                out.append(f"log record with a traceback: {shown}")
            elif "\n" in record.getMessage():
                out.append(f"log record over several lines: {shown!r}")
            for secret in SECRETS:
                if secret in text:
                    out.append(f"secret in a log line: {shown!r}")
        if len(self.records) > requests:
            out.append(f"{len(self.records)} log records for {requests} requests")
        return out


def journal_leaks(server: MockVertexServer) -> list[str]:
    """Journal entries holding a secret (checked on their ``to_json()``)."""
    out = []
    for exchange in server.journal():
        kept = json.dumps(exchange.to_json(), default=str)
        for secret in SECRETS:
            if secret in kept:
                out.append(f"secret in the journal: {kept[:300]}")
    return out


# ---------------------------------------------------------------------------------------------
# A run


@dataclass
class Report:
    """The tally of a run and everything found wrong in it."""

    seed: int
    cases: int = 0
    requests: int = 0
    seconds: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, status/outcome)
    failures: list[str] = field(default_factory=list)
    log_records: int = 0
    tracebacks: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def record(self, index: int, case: Case, answer: Answer) -> None:
        self.cases += 1
        self.requests += case.requests
        self.kinds[case.kind] += 1
        self.outcomes[answer.outcome] += 1
        if answer.status is not None:
            self.statuses[answer.status] += 1
        self.answers[case.kind, str(answer.status or answer.outcome)] += 1
        where = f"case {index} ({case.kind})"
        if answer.status is not None and answer.status >= 500:
            self.failures.append(f"{where}: {answer.status} {answer.body[:200]!r}")
        elif answer.outcome in ("timeout", "garbled"):
            self.failures.append(f"{where}: {answer.outcome} {answer.body[:100]!r}")
        elif (problem := body_problem(answer)) is not None:
            self.failures.append(f"{where}: {problem}")


async def _run_cases(
    port: int, maker: CaseMaker, start: int, stop: int, concurrency: int, report: Report
) -> None:
    indexes = iter(range(start, stop))

    async def worker() -> None:
        for index in indexes:
            case = maker.make(index)
            report.record(index, case, await send(port, case))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _valid_request(port: int) -> Answer:
    target = (
        b"/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash"
        b":generateContent"
    )
    body = b'{"contents": [{"role": "user", "parts": [{"text": "still there?"}]}]}'
    headers = [(b"Host", b"127.0.0.1"), (b"Authorization", b"Bearer " + SECRET_TOKEN.encode())]
    headers.append((b"Connection", b"close"))
    return await send(port, Case("final", (_request(b"POST", target, headers, body),)))


def run(
    server: MockVertexServer,
    requests: int,
    *,
    seed: int = 0,
    concurrency: int = 16,
    trap: LogTrap | None = None,
) -> Report:
    """Send ``requests`` cases to a started ``server`` (its own thread) and check everything."""
    maker = CaseMaker(seed)
    report = Report(seed)
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        trap = trap or stack.enter_context(LogTrap())
        for start in range(0, requests, BATCH):
            stop = min(requests, start + BATCH)
            asyncio.run(_run_cases(server.port, maker, start, stop, concurrency, report))
            report.failures += journal_leaks(server)
        final = asyncio.run(_valid_request(server.port))
        time.sleep(0.2)  # let the server finish logging the last hang-ups
        report.seconds = time.monotonic() - began
        if final.status != 200:
            report.failures.append(f"a valid request at the end got {final}")
        report.failures += [f"handler bug kept by the server: {e!r}" for e in server.state.errors]
        report.failures += trap.problems(report.requests + 1)
        report.log_records = len(trap.records)
        report.tracebacks = sum(
            1 for r in trap.records if r.exc_info or TRACEBACK in trap.format(r)
        )
    return report


def _print(report: Report) -> None:
    print(f"seed {report.seed}: {report.cases:,} cases, {report.requests:,} requests on the wire,")
    print(f"  {report.seconds:.1f} s ({report.cases / max(report.seconds, 1e-9):,.0f} cases/s)")
    print("kinds:    " + ", ".join(f"{k} {n}" for k, n in sorted(report.kinds.items())))
    print("outcomes: " + ", ".join(f"{k} {n}" for k, n in sorted(report.outcomes.items())))
    print("statuses: " + ", ".join(f"{k} {n}" for k, n in sorted(report.statuses.items())))
    for kind in sorted(report.kinds):
        seen = sorted((a, n) for (k, a), n in report.answers.items() if k == kind)
        print(f"  {kind:<13}" + ", ".join(f"{a} {n}" for a, n in seen))
    print(f"5xx: {report.server_errors}  tracebacks: {report.tracebacks}  ", end="")
    print(f"log records: {report.log_records}  problems: {len(report.failures)}")
    for line in report.failures[:40]:
        print("  " + line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2,000 requests")
    args = parser.parse_args(argv)
    count = 2000 if args.quick else args.requests
    with MockVertexServer() as server:
        report = run(server, count, seed=args.seed, concurrency=args.concurrency)
    _print(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

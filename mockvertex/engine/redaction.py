"""What the journal may keep of a request's query and headers: every credential removed, and
a short keyed digest of the one presented, so a report can tell a 401 retried with the same
token from one retried with a fresh token."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Iterable, Mapping
from functools import cache

__all__ = ["SECRET_HEADERS", "SECRET_QUERY", "Redaction", "Redactions", "redact"]

SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "cookie", "proxy-authorization"})
SECRET_QUERY = frozenset({"key", "access_token"})  # API keys and tokens sent in the URL
#: Hex digits kept of a credential's keyed digest: enough to tell tokens apart in one test.
_TOKEN_DIGEST_HEX = 8


@cache
def _process_key() -> bytes:
    """The per-process key of credential digests, made on first use (never at import)."""
    return secrets.token_bytes(32)


def _digest(credential: str, key: bytes) -> str:
    mac = hmac.new(key, credential.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:_TOKEN_DIGEST_HEX]


def _items(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    # A mapping's items (a dict, a multidict), without the slower check against Mapping's ABC.
    items = getattr(pairs, "items", None)
    if items is not None:
        return items()  # type: ignore[no-any-return]
    return pairs  # type: ignore[return-value]


#: What :func:`redact` gives: query, headers, what was removed, the credential's digest.
Redaction = tuple[dict[str, str], dict[str, str], tuple[str, ...], str | None]


def redact(
    query: Mapping[str, str] | Iterable[tuple[str, str]],
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    key: bytes | None = None,
) -> Redaction:
    """``(query, headers, redacted, token_digest)`` with every credential removed.

    The digest is an HMAC-SHA256 of the credential presented, keyed per process (or by
    ``key``), cut to a few hex digits: the bearer token if there is one, else the API key from
    ``x-goog-api-key`` or the ``key`` parameter, else an ``access_token`` parameter. A later
    value of a repeated name replaces an earlier one.
    """
    kept_headers: dict[str, str] = {}
    kept_query: dict[str, str] = {}
    removed: list[str] = []
    bearer = api_key = url_token = None
    for name, value in _items(headers):
        lower = name.lower()
        if lower not in SECRET_HEADERS:
            kept_headers[name] = value
            continue
        removed.append(f"header:{lower}")
        if lower == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif lower == "x-goog-api-key" and value:
            api_key = value
    for name, value in _items(query):
        if name not in SECRET_QUERY:
            kept_query[name] = value
            continue
        removed.append(f"query:{name}")
        if name == "key" and value and api_key is None:
            api_key = value
        elif name == "access_token" and value:
            url_token = value
    if bearer is not None:
        credential = f"bearer:{bearer}"
    elif api_key is not None:
        credential = f"key:{api_key}"
    elif url_token is not None:
        credential = f"bearer:{url_token}"
    else:
        return kept_query, kept_headers, tuple(dict.fromkeys(removed)) if removed else (), None
    digest = _digest(credential, key if key is not None else _process_key())
    return kept_query, kept_headers, tuple(dict.fromkeys(removed)), digest


class Redactions:
    """:func:`redact` with a bounded memory of the query and header sets seen last, keyed per
    journal (``token_key``): the same pairs give the same (shared) redaction, and with it the
    number of characters they hold. The memory holds the pairs as sent, credentials included,
    as the request itself does; :meth:`clear` forgets them."""

    def __init__(self, token_key: bytes | None = None, *, max_sets: int = 256) -> None:
        self.token_key = token_key
        self.max_sets = max_sets
        self._known: dict[object, tuple[Redaction, int]] = {}

    def of(
        self,
        query: Mapping[str, str] | Iterable[tuple[str, str]],
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
    ) -> tuple[Redaction, int]:
        """The redaction of ``query`` and ``headers``, and their length in characters."""
        key = (tuple(_items(query)), tuple(_items(headers)))
        known = self._known.get(key)
        if known is None:
            size = sum(map(len, _flat(itertools.chain(*key))))
            known = (redact(key[0], key[1], key=self.token_key), size)
            if len(self._known) >= self.max_sets:
                self._known.clear()
            self._known[key] = known
        return known

    def clear(self) -> None:
        self._known.clear()


_flat = itertools.chain.from_iterable

"""The API's request side that is not a body: which framing and enum encoding a call asks for.

Google's system parameter ``alt`` (or ``$alt``) chooses the response format of a call; the
server answers with it and the client asks with it, from this one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mockvertex.contract.errors import InvalidArgument
from mockvertex.contract.wire import Framing

__all__ = ["StreamMode", "stream_mode", "unary_int_enums"]


@dataclass(frozen=True)
class StreamMode:
    """The framing a streaming call asked for, and whether enums are to be sent as integers."""

    framing: Framing
    int_enums: bool


# Query parameters: the ``alt`` system parameter
#
# Google's system parameters take ``alt`` or ``$alt`` ("Alternative response format. Supported
# values are json (default), media, proto, sse"; cloud.google.com/apis/docs/system-parameters).
# The gapic REST transport sends ``$alt=json;enum-encoding=int`` on every call
# (google/api_core/rest_helpers.py ``transcode_request``: ``query_params_json["$alt"] =
# "json;enum-encoding=int"``), URL-encoded as ``%24alt=json%3Benum-encoding%3Dint``. No other
# spelling of ``enum-encoding`` appears in api_core or the aiplatform transports.

_ENUM_INT = "enum-encoding=int"


def _alt_error(value: str) -> InvalidArgument:
    if value == "media":
        # Real text, measured on Drive for alt=media on a method without a byte stream
        # (brekkylab/backlot#309); the front end is shared, Vertex not checked.
        return InvalidArgument('Unsupported alt type "media" for non byte stream request.')
    # Real text from the Gemini API front end for a streamGenerateContent call with a bad alt
    # (iamsrikanthnani/pluely#30), whose body was array-wrapped. ``alt=proto`` is a valid Google
    # value (a protobuf body) that the mock does not serve; it gets the same refusal.
    return InvalidArgument(f"Invalid value \"{value}\" for query parameter 'alt'")


def _alt(query: Mapping[str, str]) -> tuple[str | None, bool]:
    """The ``alt`` format (None when absent) and whether ``enum-encoding=int`` was given."""
    plain, dollar = "alt" in query, "$alt" in query
    if not plain and not dollar:
        return None, False
    value = query["alt"] if plain else query["$alt"]
    if plain and dollar and query["$alt"] != value:
        # Unconfirmed wording: no real response for conflicting alt/$alt was found.
        shown = " and ".join(f'"{v}"' for v in sorted((value, query["$alt"])))
        raise InvalidArgument(f"Conflicting values for query parameter 'alt': {shown}")
    if value == "sse" or value == "json":  # the usual forms: no parameters to look at
        return value, False
    fmt, *params = value.split(";")
    int_enums = False
    for param in params:
        if param != _ENUM_INT:
            raise _alt_error(value)
        int_enums = True
    if fmt not in ("json", "sse"):
        raise _alt_error(value)
    return fmt, int_enums


# The four possible answers, built once (StreamMode is frozen).
_STREAM_MODES = {
    (sse, int_enums): StreamMode(Framing.SSE if sse else Framing.ARRAY, int_enums)
    for sse in (False, True)
    for int_enums in (False, True)
}


def stream_mode(query: Mapping[str, str]) -> StreamMode:
    """The framing ``streamGenerateContent`` must answer with, from its (decoded) query.

    ``alt=sse`` gives SSE; no ``alt`` or ``alt=json`` gives the JSON array; the suffix
    ``;enum-encoding=int`` asks for integer enums. Anything else raises ``InvalidArgument``,
    which the real front end answers before looking at the request body or credentials, with
    the envelope array-wrapped (the framing a missing ``alt`` would get).
    """
    fmt, int_enums = _alt(query)
    return _STREAM_MODES[fmt == "sse", int_enums]


def unary_int_enums(query: Mapping[str, str]) -> bool:
    """Whether a unary call (``generateContent``, ``countTokens``) asked for integer enums.

    ``alt=sse`` on a unary method is refused: no client sends it, and what the real server
    does with it is unconfirmed, so the mock reports it rather than guessing.
    """
    fmt, int_enums = _alt(query)
    if fmt == "sse":
        raise _alt_error(query.get("$alt", query.get("alt", "sse")))
    return int_enums

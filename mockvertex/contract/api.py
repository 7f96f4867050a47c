"""The API's request side that is not a body: where a call goes, which framing and enum
encoding it asks for.

Google's system parameter ``alt`` (or ``$alt``) chooses the response format of a call; the
server answers with it and the client asks with it, from this one definition. The model URLs
(``model_path``, ``vertex_base_url``) are the ones the server routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mockvertex.contract.errors import InvalidArgument
from mockvertex.contract.wire import Framing

__all__ = [
    "GLOBAL_LOCATION",
    "StreamMode",
    "model_path",
    "stream_mode",
    "stream_query",
    "unary_int_enums",
    "vertex_base_url",
]

#: The location served by the location-less host ``aiplatform.googleapis.com``.
GLOBAL_LOCATION = "global"
# The same tuples as validation's METHODS and API_VERSIONS (a test holds them equal); not
# imported from there, so building a URL loads no schema machinery.
_METHODS = ("generateContent", "streamGenerateContent", "countTokens")
_API_VERSIONS = ("v1", "v1beta1")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


def vertex_base_url(location: str) -> str:
    """The Vertex host for a location: ``https://{location}-aiplatform.googleapis.com``.

    ``global`` is served by ``https://aiplatform.googleapis.com`` (google-genai's
    ``_api_client.py`` builds both forms the same way).
    """
    if location == GLOBAL_LOCATION:
        return "https://aiplatform.googleapis.com"
    if not _SEGMENT.fullmatch(location) or "." in location or "@" in location:
        raise ValueError(f"not a Vertex location: {location!r}")
    return f"https://{location}-aiplatform.googleapis.com"


def model_path(
    model: str,
    method: str,
    *,
    project: str | None = None,
    location: str = "us-central1",
    api_version: str = "v1",
    publisher: str = "google",
) -> str:
    """The path of a model method, ``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}``
    followed by ``:{method}``.

    Without a project it is the location-less form (``/v1/publishers/google/models/{m}:...``,
    Vertex express mode). ``model`` may also be a full resource name
    (``projects/.../models/m`` or ``publishers/google/models/m``), used as it is.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, not {method!r}")
    if api_version not in _API_VERSIONS:
        raise ValueError(f"api_version must be one of {', '.join(_API_VERSIONS)}")
    if "/" in model:
        parts = model.split("/")
        if not (
            (len(parts) == 4 and parts[0] == "publishers" and parts[2] == "models")
            or (len(parts) == 8 and (parts[0], parts[2], parts[4], parts[6]) == _RESOURCE_KINDS)
        ) or not all(_SEGMENT.fullmatch(p) for p in parts):
            raise ValueError(f"not a publisher model resource name: {model!r}")
        return f"/{api_version}/{model}:{method}"
    for name, value in (("model", model), ("publisher", publisher), ("location", location)):
        if not _SEGMENT.fullmatch(value):
            raise ValueError(f"{name} is not a resource name segment: {value!r}")
    resource = f"publishers/{publisher}/models/{model}"
    if project is not None:
        if not _SEGMENT.fullmatch(project):
            raise ValueError(f"project is not a resource name segment: {project!r}")
        resource = f"projects/{project}/locations/{location}/{resource}"
    return f"/{api_version}/{resource}:{method}"


_RESOURCE_KINDS = ("projects", "locations", "publishers", "models")


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


def stream_query(framing: Framing, *, int_enums: bool = False) -> dict[str, str]:
    """The query a streaming call sends to ask for ``framing``: the inverse of ``stream_mode``.

    SSE is ``alt=sse``; the streamed array is the default (no ``alt``), or
    ``$alt=json;enum-encoding=int`` for integer enums, as the gapic REST transport sends it.
    """
    if framing is Framing.UNARY:
        raise ValueError("a streaming call is framed as SSE or as the array")
    fmt = "sse" if framing is Framing.SSE else "json"
    if int_enums:
        return {"$alt": f"{fmt};{_ENUM_INT}"}
    return {"alt": "sse"} if framing is Framing.SSE else {}

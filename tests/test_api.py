"""Tests for mockvertex.contract.api's URL side: hosts, model paths, and the alt a call sends."""

from __future__ import annotations

import pytest

from mockvertex.contract import validation
from mockvertex.contract.api import (
    _API_VERSIONS,
    _METHODS,
    StreamMode,
    model_path,
    stream_mode,
    stream_query,
    vertex_base_url,
)
from mockvertex.contract.wire import Framing


def test_the_url_vocabulary_agrees_with_the_validator() -> None:
    assert _METHODS == validation.METHODS
    assert _API_VERSIONS == validation.API_VERSIONS


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ],
)
def test_vertex_base_url(location: str, url: str) -> None:
    assert vertex_base_url(location) == url


@pytest.mark.parametrize("location", ["", "evil.example.com/x", "us central1", "a@b"])
def test_vertex_base_url_refuses_what_is_not_a_location(location: str) -> None:
    with pytest.raises(ValueError, match="not a Vertex location"):
        vertex_base_url(location)


def test_model_path_located() -> None:
    assert model_path("gemini-2.0-flash", "generateContent", project="p", location="us-east5") == (
        "/v1/projects/p/locations/us-east5/publishers/google/models/gemini-2.0-flash"
        ":generateContent"
    )


def test_model_path_without_a_project_is_the_express_form() -> None:
    assert model_path("gemini-2.0-flash", "countTokens", api_version="v1beta1") == (
        "/v1beta1/publishers/google/models/gemini-2.0-flash:countTokens"
    )


@pytest.mark.parametrize(
    "resource",
    [
        "publishers/google/models/gemini-2.0-flash",
        "projects/p/locations/global/publishers/google/models/gemini-2.0-flash-001",
    ],
)
def test_model_path_takes_a_full_resource_name(resource: str) -> None:
    assert model_path(resource, "streamGenerateContent") == (
        f"/v1/{resource}:streamGenerateContent"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "m", "method": "predict"}, "method must be one of"),
        ({"model": "m", "method": "countTokens", "api_version": "v2"}, "api_version"),
        ({"model": "a/b", "method": "countTokens"}, "resource name"),
        ({"model": "projects/p/x/l/publishers/g/models/m", "method": "countTokens"}, "resource"),
        ({"model": "m?alt=media", "method": "countTokens"}, "model is not"),
        ({"model": "m", "method": "countTokens", "project": "p/../q"}, "project is not"),
        ({"model": "m", "method": "countTokens", "project": "p", "location": ""}, "location"),
    ],
)
def test_model_path_refuses_bad_segments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_path(**kwargs)


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
@pytest.mark.parametrize("int_enums", [False, True])
def test_stream_query_is_the_inverse_of_stream_mode(framing: Framing, *, int_enums: bool) -> None:
    query = stream_query(framing, int_enums=int_enums)

    assert stream_mode(query) == StreamMode(framing, int_enums)


def test_stream_query_spells_what_clients_send() -> None:
    assert stream_query(Framing.SSE) == {"alt": "sse"}
    assert stream_query(Framing.ARRAY) == {}
    assert stream_query(Framing.ARRAY, int_enums=True) == {"$alt": "json;enum-encoding=int"}


def test_stream_query_refuses_unary() -> None:
    with pytest.raises(ValueError, match="SSE or"):
        stream_query(Framing.UNARY)

"""Hypothesis strategies for Vertex request bodies, valid and invalid, per model.

Built on the compiled message types of ``mockvertex.contract.protojson`` (field names in both
casings, which fields repeat, enums and their numbers, bytes, durations, maps), not on the
JSON Schemas: hypothesis-jsonschema reads drafts 4-7 without recursive ``$ref``, and the shipped
schemas are 2020-12 and recursive through ``Schema``. The model-side rules come from the
profiles (``mockvertex/schemas/models.json``) and follow ``mockvertex.contract.validation``.

``generate_content_requests`` and ``count_tokens_requests`` draw valid bodies
(``conformance.bodies``); ``invalid_requests`` draws a valid body and gives it one targeted
defect (``conformance.mutations``), as a ``Mutation`` that says what the target must answer.
The public name of this module is ``mockvertex.strategies``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from mockvertex.conformance.bodies import (
    Builder,
    Casing,
    Context,
    Form,
    context,
    drawn_requests,
    encode,
    form_of,
)
from mockvertex.conformance.mutations import KINDS, Kind
from mockvertex.contract.profiles import ProfileRegistry

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy

__all__ = [
    "MUTATION_KINDS",
    "Casing",
    "Mutation",
    "count_tokens_requests",
    "generate_content_requests",
    "invalid_requests",
    "mutation_kinds",
]


# ------------------------------------------------------------------------------------ Mutation


@dataclass(frozen=True, kw_only=True)
class Mutation:
    """A request body with one targeted defect, and the answer a target owes it.

    ``body`` is the JSON to send: a mapping, or bytes when the defect is in the JSON text
    itself. ``expected_field`` is the snake_case path the target must name in its
    ``google.rpc.BadRequest`` field violations, as Google writes it
    (``generation_config.temperature``, ``contents[0].parts[1]``); ``""`` is the request as a
    whole, ``None`` a refusal that names no field (a JSON syntax error). ``expected_message``
    is a regular expression the error's message must match in full (``re.fullmatch``, ``.``
    matching newlines), as strict as the evidence for Vertex's wording, or ``None`` where that
    wording is not known. ``model``, ``method`` and ``api_version`` say where to send it.
    """

    body: bytes | Mapping[str, Any]
    kind: str
    expected_http: int = 400
    expected_status: str = "INVALID_ARGUMENT"
    expected_field: str | None
    expected_message: str | None
    model: str
    method: str
    api_version: str

    def body_bytes(self) -> bytes:
        """The body as sent: ``body`` itself, or the mapping as compact UTF-8 JSON."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()

    def message_matches(self, message: str) -> bool:
        """Whether an error message is the one expected (always, when none is known)."""
        if self.expected_message is None:
            return True
        return re.fullmatch(self.expected_message, message, re.DOTALL) is not None


# ----------------------------------------------------------------------------- valid bodies


def generate_content_requests(
    model: str = "gemini-2.0-flash",
    api_version: str = "v1",
    *,
    casing: Casing = "camel",
    single_objects: bool = False,
    int_enums: bool = False,
    profiles: ProfileRegistry | None = None,
    max_turns: int = 2,
    max_parts: int = 3,
) -> SearchStrategy[dict[str, Any]]:
    """Valid ``GenerateContentRequest`` bodies for ``model`` (``generateContent`` and
    ``streamGenerateContent`` take the same body).

    A body holds a conversation of up to ``2 * max_turns + 1`` turns of up to ``max_parts``
    parts: text, inline data (text, a PNG image), files (image, PDF, audio, video with
    ``videoMetadata``), function calls and their responses, and code execution parts where
    the model has code execution; function declarations with parameter schemas, a tool
    config, safety settings, a generation config within the model's limits (temperature,
    topP, topK, candidateCount, maxOutputTokens, stop sequences, response MIME type and
    schema, thinking budget), a system instruction and labels, each where the model supports
    it. ``casing`` names the fields in camelCase, snake_case or a mix of both;
    ``single_objects`` sends a one-element list as the bare element at random; ``int_enums``
    sends every enum as its number. An unknown model raises ``NotFound``.

    >>> from hypothesis import given, settings
    >>> from mockvertex import validate_request
    >>> from mockvertex.strategies import generate_content_requests
    >>> @settings(max_examples=25, database=None)
    ... @given(generate_content_requests("gemini-2.5-flash", casing="snake", int_enums=True))
    ... def test_every_body_is_valid(body):
    ...     validate_request(body, model="gemini-2.5-flash")
    >>> test_every_body_is_valid()
    """
    ctx = context(model, api_version, "generateContent", profiles, max_turns, max_parts)
    form = form_of(casing, single_objects=single_objects, int_enums=int_enums)
    strategy: SearchStrategy[dict[str, Any]] = drawn_requests(ctx, form)
    return strategy


def count_tokens_requests(
    model: str = "gemini-2.0-flash",
    api_version: str = "v1",
    *,
    casing: Casing = "camel",
    single_objects: bool = False,
    int_enums: bool = False,
    profiles: ProfileRegistry | None = None,
    max_turns: int = 2,
    max_parts: int = 3,
) -> SearchStrategy[dict[str, Any]]:
    """Valid ``CountTokensRequest`` bodies for ``model``: the contents, system instruction,
    tools and generation config a ``GenerateContentRequest`` would carry (the fields
    CountTokensRequest has), in the same forms as ``generate_content_requests``.

    >>> from hypothesis import given, settings
    >>> from mockvertex import validate_request
    >>> from mockvertex.strategies import count_tokens_requests
    >>> @settings(max_examples=25, database=None)
    ... @given(count_tokens_requests("gemini-1.5-pro", single_objects=True))
    ... def test_every_body_is_valid(body):
    ...     assert "safetySettings" not in body
    ...     validate_request(body, model="gemini-1.5-pro", method="countTokens")
    >>> test_every_body_is_valid()
    """
    ctx = context(model, api_version, "countTokens", profiles, max_turns, max_parts)
    form = form_of(casing, single_objects=single_objects, int_enums=int_enums)
    strategy: SearchStrategy[dict[str, Any]] = drawn_requests(ctx, form)
    return strategy


# --------------------------------------------------------------------------- invalid bodies


MUTATION_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS)


def mutation_kinds(
    model: str = "gemini-2.0-flash",
    api_version: str = "v1",
    *,
    method: str = "generateContent",
    profiles: ProfileRegistry | None = None,
) -> tuple[str, ...]:
    """The mutation kinds that apply to ``model`` and ``method`` (a thinking-budget range
    needs a thinking model, an unsupported system instruction a model without them, ...).

    >>> from mockvertex.strategies import mutation_kinds
    >>> "thinking_off_unsupported" in mutation_kinds("gemini-2.5-pro")
    True
    >>> "unsupported_thinking" in mutation_kinds("gemini-2.5-pro")
    False
    """
    ctx = context(model, api_version, method, profiles, 2, 3)
    return tuple(k.name for k in KINDS if k.applies(ctx))


@st.composite
def _mutations(draw: DrawFn, ctx: Context, form: Form, kinds: tuple[Kind, ...]) -> Mutation:
    kind = draw(st.sampled_from(kinds))
    body = Builder(draw, ctx, kind.needs).request()
    if kind.stage == "canonical":
        outcome = kind.apply(draw, ctx, body, form)
        sent: dict[str, Any] = encode(draw, body, ctx.root, form)
    else:
        sent = encode(draw, body, ctx.root, form)
        outcome = kind.apply(draw, ctx, sent, form)
    return Mutation(
        body=outcome.body if outcome.body is not None else sent,
        kind=kind.name,
        expected_field=outcome.field,
        expected_message=outcome.message,
        model=ctx.model,
        method=ctx.method,
        api_version=ctx.api_version,
    )


def invalid_requests(
    model: str = "gemini-2.0-flash",
    api_version: str = "v1",
    *,
    method: str = "generateContent",
    kinds: Sequence[str] | None = None,
    casing: Casing = "camel",
    single_objects: bool = False,
    int_enums: bool = False,
    profiles: ProfileRegistry | None = None,
    max_turns: int = 2,
    max_parts: int = 3,
) -> SearchStrategy[Mutation]:
    """Invalid request bodies for ``model`` and ``method``, each a valid body with one
    targeted defect, as ``Mutation`` values that know the answer: HTTP 400,
    ``INVALID_ARGUMENT``, the field path and, where Vertex's wording is known, the message.

    ``kinds`` restricts the defects to some of ``MUTATION_KINDS`` (those that apply to the
    model: see ``mutation_kinds``); ``casing``, ``single_objects`` and ``int_enums`` shape
    the body as in ``generate_content_requests``, and a defect in the JSON form (an unknown
    name, a wrong type) is made in that shape. Raises ``ValueError`` for an unknown kind or
    when none of ``kinds`` applies to the model.

    >>> import pytest
    >>> from hypothesis import given, settings
    >>> from mockvertex import InvalidArgument, validate_request
    >>> from mockvertex.strategies import invalid_requests
    >>> @settings(max_examples=25, database=None)
    ... @given(invalid_requests("gemini-2.0-flash", kinds=["unknown_field", "out_of_range"]))
    ... def test_each_defect_is_reported_where_it_is(m):
    ...     with pytest.raises(InvalidArgument) as info:
    ...         validate_request(m.body, model=m.model, method=m.method)
    ...     assert [v.field for v in info.value.violations] == [m.expected_field]
    ...     assert m.message_matches(info.value.message)
    >>> test_each_defect_is_reported_where_it_is()
    """
    ctx = context(model, api_version, method, profiles, max_turns, max_parts)
    form = form_of(casing, single_objects=single_objects, int_enums=int_enums)
    if kinds is not None:
        unknown = sorted(set(kinds) - set(MUTATION_KINDS))
        if unknown:
            raise ValueError(f"unknown mutation kinds: {', '.join(unknown)}")
    chosen = tuple(k for k in KINDS if k.applies(ctx) and (kinds is None or k.name in kinds))
    if not chosen:
        raise ValueError(f"none of the mutation kinds {list(kinds or ())} apply to {model}")
    strategy: SearchStrategy[Mutation] = _mutations(ctx, form, chosen)
    return strategy

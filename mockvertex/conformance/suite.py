"""The conformance suite: one test per property, collected with
``pytest --pyargs mockvertex.conformance.suite -p mockvertex.conformance.plugin`` (what
``mockvertex conform`` runs) or through the checkout's ``conformance/`` modules.

Each test checks one property of ``mockvertex.conformance.properties`` against the session's
target (``--target``); the fault tests run where the target has the mock's control plane and
report themselves not applicable elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from mockvertex.conformance.clients import FAULT_CASES, HTTP_CASES

if TYPE_CHECKING:
    from mockvertex.conformance.plugin import Conformance

__all__ = [
    "test_array_framing",
    "test_camel_case_keys",
    "test_chunks_match_schema",
    "test_clients_raise_alike_on_faults",
    "test_clients_read_alike",
    "test_count_tokens_matches_usage",
    "test_error_envelope",
    "test_error_envelope_of_injected_errors",
    "test_finish_and_usage_last",
    "test_int_enums_when_asked",
    "test_invalid_never_5xx",
    "test_model_version_present",
    "test_sse_and_array_agree",
    "test_sse_framing",
    "test_text_deltas",
    "test_usage_sums",
    "test_verdict_matches_validator",
]

F = TypeVar("F", bound=Callable[..., None])


def checks(name: str, *, needs_control: bool = False) -> Callable[[F], F]:
    """Mark a test as checking the property ``name`` (the report groups outcomes by it);
    ``needs_control``: it injects faults, so it runs only on a mock's control plane."""

    def mark(test: F) -> F:
        test.__conformance_property__ = name  # type: ignore[attr-defined]
        test.__conformance_needs_control__ = needs_control  # type: ignore[attr-defined]
        return test

    return mark


@checks("verdict-matches-validator")
def test_verdict_matches_validator(conformance: Conformance) -> None:
    conformance.check("verdict-matches-validator")


@checks("invalid-never-5xx")
def test_invalid_never_5xx(conformance: Conformance) -> None:
    conformance.check("invalid-never-5xx")


@checks("error-envelope")
def test_error_envelope(conformance: Conformance) -> None:
    conformance.check("error-envelope")


@checks("error-envelope", needs_control=True)
@pytest.mark.parametrize("case", HTTP_CASES)
def test_error_envelope_of_injected_errors(conformance: Conformance, case: str) -> None:
    conformance.injected_envelope(case)


@checks("sse-framing")
def test_sse_framing(conformance: Conformance) -> None:
    conformance.check("sse-framing")


@checks("array-framing")
def test_array_framing(conformance: Conformance) -> None:
    conformance.check("array-framing")


@checks("int-enums-when-asked")
def test_int_enums_when_asked(conformance: Conformance) -> None:
    conformance.check("int-enums-when-asked")


@checks("chunks-match-schema")
def test_chunks_match_schema(conformance: Conformance) -> None:
    conformance.check("chunks-match-schema")


@checks("camel-case-keys")
def test_camel_case_keys(conformance: Conformance) -> None:
    conformance.check("camel-case-keys")


@checks("text-deltas")
def test_text_deltas(conformance: Conformance) -> None:
    conformance.check("text-deltas")


@checks("finish-and-usage-last")
def test_finish_and_usage_last(conformance: Conformance) -> None:
    conformance.check("finish-and-usage-last")


@checks("usage-sums")
def test_usage_sums(conformance: Conformance) -> None:
    conformance.check("usage-sums")


@checks("count-tokens-matches-usage")
def test_count_tokens_matches_usage(conformance: Conformance) -> None:
    conformance.check("count-tokens-matches-usage")


@checks("model-version-present")
def test_model_version_present(conformance: Conformance) -> None:
    conformance.check("model-version-present")


@checks("sse-and-array-agree")
def test_sse_and_array_agree(conformance: Conformance) -> None:
    conformance.check("sse-and-array-agree")


@checks("clients-read-alike")
def test_clients_read_alike(conformance: Conformance) -> None:
    conformance.check("clients-read-alike")


@checks("clients-raise-alike-on-faults", needs_control=True)
@pytest.mark.parametrize("mode", ["unary", "sse"])
@pytest.mark.parametrize("case", FAULT_CASES)
def test_clients_raise_alike_on_faults(conformance: Conformance, case: str, mode: str) -> None:
    conformance.fault(case, mode)

"""Hypothesis strategies for Vertex AI Gemini request bodies, valid and invalid, per model.

Install with ``pip install 'mockvertex[conformance]'`` (Hypothesis is not a core dependency;
``import mockvertex`` never loads it). The strategies live in
``mockvertex.conformance.strategies``; this module is their public name.

>>> from hypothesis import given
>>> from mockvertex.strategies import generate_content_requests, invalid_requests
"""

from __future__ import annotations

try:
    from mockvertex.conformance.strategies import (
        MUTATION_KINDS,
        Casing,
        Mutation,
        count_tokens_requests,
        generate_content_requests,
        invalid_requests,
        mutation_kinds,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess
    if exc.name != "hypothesis":
        raise
    raise ModuleNotFoundError(
        "mockvertex.strategies needs Hypothesis: pip install 'mockvertex[conformance]'",
        name=exc.name,
    ) from exc

__all__ = [
    "MUTATION_KINDS",
    "Casing",
    "Mutation",
    "count_tokens_requests",
    "generate_content_requests",
    "invalid_requests",
    "mutation_kinds",
]

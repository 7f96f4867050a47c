"""Request validation throughput on one core: validate_request vs json.loads and schema libraries.

Two requests: the seed doc's banana-bread request (gemini-1.0-pro) and a synthetic 50-turn chat
with 20 function declarations (gemini-2.0-flash). For each, ops/s of:

* ``json.loads`` of the request bytes: the floor, parsing alone;
* ``mockvertex.contract.validation.validate_request`` of the request bytes: parse, proto3-JSON walk,
  normalization and the model's own checks;
* ``jsonschema`` ``Draft202012Validator`` (built once) on ``json.loads`` of the *normalized* body;
* ``fastjsonschema`` (compiled once) on ``json.loads`` of the normalized body.

The schema libraries get the normalized body because the raw seed body uses forms only a
proto3 parser accepts (a single object for a repeated field, snake_case names). Both of them
parse too, so every row is bytes in, verdict out. The last column is each row's ops/s divided
by validate_request's.

Run: ``python bench/bench_validation.py [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import jsonschema
from _common import pin_to_cpu, print_table, seed_request

from mockvertex.contract.resources import schema
from mockvertex.contract.validation import validate_request
from mockvertex.engine.instance import WORDS

TARGET_SEED_OPS = 5_000
_PARAM_TYPES = ("STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY", "ENUM")


def synthetic_chat(turns: int = 50, functions: int = 20, words: int = 40) -> bytes:
    """A long chat: alternating user/model text turns and many typed function declarations."""
    rng = random.Random(20261106)
    contents = [
        {
            "role": "user" if i % 2 == 0 else "model",
            "parts": [{"text": " ".join(rng.choice(WORDS) for _ in range(words))}],
        }
        for i in range(turns - 1 if turns % 2 == 0 else turns)
    ]
    contents.append({"role": "user", "parts": [{"text": "And what should I do next?"}]})
    declarations = []
    for f in range(functions):
        properties: dict[str, Any] = {}
        for p in range(rng.randint(3, 5)):
            kind = rng.choice(_PARAM_TYPES)
            prop: dict[str, Any] = {"description": f"parameter {p} of function {f}"}
            if kind == "ENUM":
                prop.update(type="STRING", enum=["low", "medium", "high"])
            elif kind == "ARRAY":
                prop.update(type="ARRAY", items={"type": "STRING"})
            else:
                prop["type"] = kind
            properties[f"param_{p}"] = prop
        declarations.append(
            {
                "name": f"tool_{f:02d}",
                "description": f"Function number {f}, which does one useful thing.",
                "parameters": {
                    "type": "OBJECT",
                    "properties": properties,
                    "required": sorted(properties)[:2],
                },
            }
        )
    body = {
        "contents": contents,
        "systemInstruction": {"parts": [{"text": "You are a helpful kitchen assistant."}]},
        "tools": [{"functionDeclarations": declarations}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "safetySettings": [
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"},
        ],
        "generationConfig": {"temperature": 0.7, "topP": 0.95, "maxOutputTokens": 1024},
    }
    return json.dumps(body).encode("utf-8")


def _ops_per_second(fn: Callable[[], object], seconds: float, repeats: int) -> float:
    """Best-of-``repeats`` rate, each repeat a loop of about ``seconds / repeats``."""
    fn()
    n = 1
    while True:  # calibrate: enough calls for one repeat
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / repeats / 4:
            break
        n *= 2
    n = max(1, int(n * (seconds / repeats) / max(elapsed, 1e-9)))
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def _fastjsonschema(doc: Any) -> tuple[Callable[[Any], Any] | None, str]:
    try:
        import fastjsonschema
    except ImportError:
        return None, "fastjsonschema is not installed"
    try:
        return fastjsonschema.compile(doc), ""
    except Exception as exc:  # any compile failure is the finding we report
        return None, f"fastjsonschema cannot compile the schema: {type(exc).__name__}: {exc}"


def _rejects(check: Callable[[Any], Any], body: Any) -> bool:
    try:
        check(body)
    except Exception:
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    args = parser.parse_args(argv)
    seconds, repeats = (0.15, 3) if args.quick else (2.0, 5)
    pinned = pin_to_cpu(0)

    doc = schema("v1/GenerateContentRequest.schema.json")
    draft = jsonschema.Draft202012Validator(doc)
    fast, fast_note = _fastjsonschema(doc)

    seed_model, seed_bytes = seed_request()
    cases = [
        ("seed banana bread", seed_model, seed_bytes),
        ("50-turn chat + 20 functions", "gemini-2.0-flash", synthetic_chat()),
    ]
    notes: list[str] = []
    rows: list[list[object]] = []
    seed_rate = 0.0
    for label, model, raw in cases:
        normalized = validate_request(raw, model=model)
        norm_bytes = json.dumps(normalized).encode("utf-8")
        draft.validate(normalized)  # the normalized body must satisfy the schema...
        broken = copy.deepcopy(normalized)  # a type error deep inside the last turn
        broken["contents"][-1]["parts"][0]["text"] = 5
        if not _rejects(draft.validate, broken):  # ...and the schema must be doing work
            notes.append(f"{label}: jsonschema accepted a broken body")
        if fast is not None:
            fast(normalized)
            if not _rejects(fast, broken):
                notes.append(f"{label}: fastjsonschema accepted a broken body")

        def ours(raw: bytes = raw, model: str = model) -> object:
            return validate_request(raw, model=model)

        def loads(raw: bytes = raw) -> object:
            return json.loads(raw)

        def with_jsonschema(nb: bytes = norm_bytes) -> None:
            draft.validate(json.loads(nb))

        measured: list[tuple[str, float]] = [
            ("json.loads (floor)", _ops_per_second(loads, seconds, repeats)),
            ("mockvertex validate_request", _ops_per_second(ours, seconds, repeats)),
            ("jsonschema Draft202012", _ops_per_second(with_jsonschema, seconds, repeats)),
        ]
        if fast is not None:

            def with_fast(nb: bytes = norm_bytes, compiled: Any = fast) -> None:
                compiled(json.loads(nb))

            measured.append(("fastjsonschema", _ops_per_second(with_fast, seconds, repeats)))
        ours_rate = measured[1][1]
        if label.startswith("seed"):
            seed_rate = ours_rate
        for name, rate in measured:
            rows.append([label, f"{len(raw):,} B", name, rate, f"{rate / ours_rate:.2f}x"])
        if fast is None:
            rows.append([label, f"{len(raw):,} B", "fastjsonschema", float("nan"), "n/a"])

    python = sys.version.split()[0]
    print(f"request validation, one core ({pinned}), best of {repeats}, Python {python}")
    print_table(["request", "size", "validator", "ops/s", "vs validate_request"], rows)
    if fast_note:
        notes.append(fast_note)
    for note in notes:
        print(f"note: {note}")
    verdict = "meets" if seed_rate >= TARGET_SEED_OPS else "MISSES"
    goal = f"{TARGET_SEED_OPS:,}/s"
    print(f"seed request: {seed_rate:,.0f} validations/s ({verdict} the {goal} goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

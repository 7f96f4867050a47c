"""``mockvertex validate``: exit codes, one line per violation naming its path, the server's
exact envelope with --json, stdin, and usage errors that name what is wrong without a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mockvertex.cli import main
from mockvertex.contract.errors import StatusError
from mockvertex.contract.validation import validate_request

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "fixtures" / "requests"

# Each sample request: the model and method it is meant for, and the field paths of its
# violations (empty: valid). "" is the path of a top-level violation.
SAMPLES: dict[str, tuple[str, str, list[str]]] = {
    "seed_banana_bread": ("gemini-1.0-pro", "streamGenerateContent", []),
    "seed_pirate_chat": ("gemini-1.0-pro", "streamGenerateContent", []),
    "seed_daisy_image": ("gemini-1.0-pro-vision", "streamGenerateContent", []),
    "seed_find_theaters": ("gemini-1.0-pro", "generateContent", []),
    "snake_case_litellm": ("gemini-2.0-flash", "generateContent", []),
    "gapic_int_enums": ("gemini-2.0-flash", "streamGenerateContent", []),
    "count_tokens_sdk": ("gemini-2.0-flash", "countTokens", []),
    "bad_role": ("gemini-2.0-flash", "generateContent", ["contents[1].role"]),
    "unknown_field": ("gemini-2.0-flash", "generateContent", [""]),
    "unknown_field_nested": ("gemini-2.0-flash", "generateContent", ["generation_config"]),
    "unknown_field_object": ("gemini-2.0-flash", "generateContent", [""]),
    "list_for_scalar": ("gemini-2.0-flash", "generateContent", ["generation_config"]),
    "bad_threshold": ("gemini-2.0-flash", "generateContent", ["safety_settings[0].threshold"]),
    "bad_base64": (
        "gemini-2.0-flash",
        "generateContent",
        ["contents[0].parts[0].inline_data.data"],
    ),
    "two_data_fields": ("gemini-2.0-flash", "generateContent", ["contents[0].parts[0]"]),
    "empty_contents": ("gemini-2.0-flash", "generateContent", ["contents"]),
    "top_k_out_of_range": ("gemini-2.0-flash", "generateContent", ["generation_config.top_k"]),
    "bad_function_name": (
        "gemini-2.0-flash",
        "generateContent",
        [
            "tools[0].function_declarations[0].name",
            "tools[0].function_declarations[0].parameters.properties[0].key",
        ],
    ),
    "function_turns_out_of_order": (
        "gemini-2.0-flash",
        "generateContent",
        ["contents[2]", "contents[3]"],
    ),
    "system_role_in_contents": ("gemini-2.0-flash", "generateContent", ["contents[0].role"]),
    "thinking_budget_zero_pro": (
        "gemini-2.5-pro",
        "generateContent",
        ["generation_config.thinking_config.thinking_budget"],
    ),
    "schema_without_type": (
        "gemini-2.0-flash",
        "generateContent",
        [
            "tools[0].function_declarations[0].parameters.properties[0].value",
            "tools[0].function_declarations[0].parameters.properties[1].value",
        ],
    ),
    "replayed_model_turn": ("gemini-2.5-flash", "streamGenerateContent", []),
    "several_violations": (
        "gemini-2.0-flash",
        "generateContent",
        [
            "contents[0].role",
            "contents[0].parts[0].text",
            "generation_config.temperature",
            "generation_config.candidate_count",
            "generation_config.stop_sequences",
        ],
    ),
}


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, stdin=io.StringIO(stdin or ""))
    return code, out.getvalue(), err.getvalue()


def sample(name: str) -> str:
    return str(REQUESTS / f"{name}.json")


def server_error(path: str, **kwargs: Any) -> StatusError:
    """The error validate_request raises for a file: what the server would answer."""
    with pytest.raises(StatusError) as info:
        validate_request(Path(path).read_bytes(), **kwargs)
    return info.value


def test_every_sample_request_is_described_here() -> None:
    assert {p.stem for p in REQUESTS.glob("*.json")} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_validates_as_documented(name: str) -> None:
    model, method, paths = SAMPLES[name]
    code, out, err = run("validate", "--model", model, "--method", method, sample(name))
    assert err == ""
    label = sample(name)
    if not paths:
        assert (code, out) == (0, f"{label}: OK\n")
        return
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == len(paths)
    for line, path in zip(lines, paths, strict=True):
        assert line.startswith(f"{label}: INVALID_ARGUMENT: ")
        if path:
            assert path in line
    exc = server_error(label, model=model, method=method)
    assert [v.field for v in exc.violations] == paths


def test_a_violation_line_is_file_status_path_and_message() -> None:
    code, out, _ = run("validate", sample("bad_role"))
    assert code == 1
    assert out == (
        f"{sample('bad_role')}: INVALID_ARGUMENT: contents[1].role: "
        "Please use a valid role: user, model.\n"
    )


def test_a_message_that_quotes_its_path_is_not_prefixed_twice() -> None:
    _, out, _ = run("validate", sample("bad_threshold"))
    assert out.count("safety_settings[0].threshold") == 1
    assert out.startswith(
        f"{sample('bad_threshold')}: INVALID_ARGUMENT: Invalid value at 'safety_settings[0]."
    )


def test_valid_and_invalid_files_together_exit_1_and_report_each_in_order() -> None:
    code, out, err = run("validate", sample("snake_case_litellm"), sample("bad_role"))
    assert code == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"{sample('snake_case_litellm')}: OK"
    assert lines[1].startswith(f"{sample('bad_role')}: INVALID_ARGUMENT: contents[1].role: ")


def test_the_default_model_is_gemini_2_0_flash() -> None:
    # candidateCount 8 is valid on gemini-2.0-flash (1-8) and not on gemini-1.5-pro (1 only).
    body = json.dumps(
        {"contents": {"parts": {"text": "x"}}, "generationConfig": {"candidateCount": 8}}
    )
    assert run("validate", "-", stdin=body)[0] == 0
    assert run("validate", "--model", "gemini-1.5-pro", "-", stdin=body)[0] == 1


def test_a_multi_line_message_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"contents": [,]}', encoding="utf-8")
    code, out, _ = run("validate", str(path))
    assert code == 1
    assert out == (
        f"{path}: INVALID_ARGUMENT: Invalid JSON payload received. Unexpected token. | "
        '{"contents": [,]} |               ^\n'
    )


# ---------------------------------------------------------------------------------- stdin


def test_stdin_is_read_with_a_dash() -> None:
    body = Path(sample("bad_role")).read_text(encoding="utf-8")
    code, out, _ = run("validate", "-", stdin=body)
    assert code == 1
    assert out.startswith("<stdin>: INVALID_ARGUMENT: contents[1].role: ")
    assert run("validate", "-", stdin='{"contents": {"parts": {"text": "Hi"}}}')[:2] == (
        0,
        "<stdin>: OK\n",
    )


def test_stdin_bytes_are_read_from_the_binary_buffer() -> None:
    raw = '\ufeff{"contents": {"parts": {"text": "Grüß dich"}}}'.encode()
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="ascii")  # the bytes, not this decoding
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "-"], out=out, err=err, stdin=stdin) == 0
    assert out.getvalue() == "<stdin>: OK\n"


# ----------------------------------------------------------------------------------- --json


def test_json_prints_exactly_the_envelope_the_server_sends() -> None:
    path = sample("several_violations")
    code, out, _ = run("validate", "--json", path)
    assert code == 1
    expected = server_error(path, model="gemini-2.0-flash").to_json()
    assert out == expected + "\n"
    envelope = json.loads(out)
    assert envelope["error"]["code"] == 400
    assert envelope["error"]["status"] == "INVALID_ARGUMENT"
    violations = envelope["error"]["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == SAMPLES["several_violations"][2]


def test_json_heads_each_file_when_there_are_several() -> None:
    code, out, _ = run("validate", "--json", sample("bad_role"), sample("unknown_field"))
    assert code == 1
    first = server_error(sample("bad_role"), model="gemini-2.0-flash").to_json()
    second = server_error(sample("unknown_field"), model="gemini-2.0-flash").to_json()
    assert out == (
        f"==> {sample('bad_role')} <==\n{first}\n==> {sample('unknown_field')} <==\n{second}\n"
    )


def test_json_prints_nothing_for_a_valid_body() -> None:
    assert run("validate", "--json", sample("snake_case_litellm")) == (0, "", "")


def test_an_unknown_model_is_not_found() -> None:
    code, out, _ = run("validate", "--model", "gemini-9", sample("seed_banana_bread"))
    assert code == 1
    assert out == (
        f"{sample('seed_banana_bread')}: NOT_FOUND: Publisher Model "
        "`projects/PROJECT/locations/LOCATION/publishers/google/models/gemini-9` was not found "
        "or your project does not have access to it. Please ensure you are using a valid model "
        "version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions\n"
    )
    code, out, _ = run("validate", "--json", "--model", "gemini-9", sample("seed_banana_bread"))
    assert json.loads(out)["error"] == {
        "code": 404,
        "message": json.loads(out)["error"]["message"],
        "status": "NOT_FOUND",
    }


# ------------------------------------------------------------------------ method, version


def test_method_selects_the_request_type() -> None:
    assert run("validate", "--method", "countTokens", sample("count_tokens_sdk"))[0] == 0
    code, out, _ = run("validate", sample("count_tokens_sdk"))
    assert code == 1
    assert 'Unknown name "model": Cannot find field.' in out


def test_api_version_selects_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "model_config.json"
    body = {
        "contents": {"parts": {"text": "Hi"}},
        "generationConfig": {"modelConfig": {"featureSelectionPreference": "BALANCED"}},
    }
    path.write_text(json.dumps(body), encoding="utf-8")
    assert run("validate", "--api-version", "v1beta1", str(path))[:2] == (0, f"{path}: OK\n")
    code, out, _ = run("validate", "--api-version", "v1", str(path))
    assert code == 1
    assert "Unknown name \"modelConfig\" at 'generation_config': Cannot find field." in out


# ------------------------------------------------------------------------------- profiles


def test_a_profile_file_adds_models() -> None:
    profiles = str(ROOT / "fixtures" / "profiles" / "extend.json")
    args = ("validate", "--model", "my-tuned-flash", sample("snake_case_litellm"))
    assert run(*args)[0] == 1  # not a built-in model
    assert run(*args[:1], "--profiles", profiles, *args[1:])[:2] == (
        0,
        f"{sample('snake_case_litellm')}: OK\n",
    )


def test_a_bad_profile_file_is_a_usage_error_naming_file_field_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    family = {
        "family": "mine",
        "extends": "gemini-1.5-pro",
        "limits": {"topK": {"min": 5, "max": 5}},
    }
    path.write_text(json.dumps({"format": 1, "models": {"mine": family}}), encoding="utf-8")
    code, out, err = run("validate", "--profiles", str(path), sample("bad_role"))
    assert (code, out) == (2, "")
    rule = "min must be below max (max is exclusive)"
    assert err == f"mockvertex: error: {path}: models.mine.limits.topK: {rule}\n"


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["validate", "--bogus", "x.json"], "unrecognized arguments: --bogus"),
        (["validate", "--method", "predict", "x.json"], "invalid choice: 'predict'"),
        (["validate", "--api-version", "v2", "x.json"], "invalid choice: 'v2'"),
        (["validate"], "the following arguments are required: FILE"),
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_the_complaint_on_err(argv: list[str], complaint: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert "usage: mockvertex" in err
    assert complaint in err


def test_help_goes_to_out_and_exits_0() -> None:
    code, out, err = run("validate", "--help")
    assert code == 0
    assert err == ""
    assert out.startswith("usage: mockvertex validate")
    assert "--api-version" in out


def test_an_unreadable_file_exits_2_naming_it_and_the_others_are_still_checked(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.json"
    code, out, err = run("validate", str(missing), str(tmp_path), sample("snake_case_litellm"))
    assert code == 2
    assert err.splitlines() == [
        f"mockvertex: error: cannot read {missing}: No such file or directory",
        f"mockvertex: error: cannot read {tmp_path}: Is a directory",
    ]
    assert out == f"{sample('snake_case_litellm')}: OK\n"


def test_an_unreadable_file_outranks_an_invalid_one(tmp_path: Path) -> None:
    code, _, _ = run("validate", sample("bad_role"), str(tmp_path / "missing.json"))
    assert code == 2


# ------------------------------------------------------------------------------ a real run


def test_python_dash_m_mockvertex_validate_in_a_subprocess() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mockvertex",
            "validate",
            "--model",
            "gemini-1.0-pro",
            sample("seed_banana_bread"),
            sample("bad_role"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{sample('seed_banana_bread')}: OK",
        f"{sample('bad_role')}: INVALID_ARGUMENT: contents[1].role: Please use a valid role: "
        "user, model.",
    ]


def test_a_subprocess_usage_error_has_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mockvertex", "validate", "/nonexistent/body.json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "mockvertex: error: cannot read /nonexistent/body.json: No such file or directory\n"
    )

"""The ``mockvertex`` command: ``serve`` the mock, ``validate`` request bodies, ``conform`` (the
conformance suite against the mock, Vertex or any URL), and control subcommands (``health``,
``scenario``, ``fault``, ``quota``, ``journal``, ``report``, ``reset``, ...) that drive a
running mock over its control plane."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mockvertex.contract.errors import DataFileError, StatusError
from mockvertex.contract.validation import API_VERSIONS, METHODS

if TYPE_CHECKING:
    from mockvertex.remote import RemoteMock

__all__ = ["main"]

DEFAULT_MODEL = "gemini-2.0-flash"

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockvertex",
        description="Contract-testing mock server and request validator for Vertex AI Gemini.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="validate request bodies as Vertex would",
        description="Validate generateContent / countTokens request bodies as Vertex would. "
        "Exit 0 when every body is valid, 1 when any is invalid, 2 on usage errors.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="JSON body file, or - for stdin")
    validate.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    validate.add_argument("--method", choices=METHODS, default="generateContent")
    validate.add_argument("--api-version", choices=API_VERSIONS, default="v1")
    validate.add_argument(
        "--profiles", action="append", default=[], metavar="FILE", help="extra model profiles"
    )
    validate.add_argument(
        "--json", action="store_true", help="print the error envelope as the server sends it"
    )

    serve = sub.add_parser(
        "serve",
        help="run the mock server",
        description="Serve the Vertex AI Gemini API on a local socket until interrupted.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="default: 8080 (0: any free port)")
    serve.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="FILE|NAME",
        help="scenario file, or the name of a built-in scenario (repeatable)",
    )
    serve.add_argument(
        "--auth",
        default="vertex",
        metavar="vertex|none|token=VALUE",
        help="vertex (default): a Bearer token is required; none; token=VALUE: only that token",
    )
    serve.add_argument(
        "--profiles", action="append", default=[], metavar="FILE", help="extra model profiles"
    )
    serve.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="SPEC",
        help="per-minute budgets of every session, e.g. rpm=60,tpm=100000 or "
        "rpm=5,model=gemini-2.5-* (repeatable; a later spec wins for the models it matches)",
    )
    _add_generate(sub)
    _add_control(sub)
    _add_conform(sub)
    _add_proxy(sub)
    return parser


def _read(name: str, stdin: TextIO) -> bytes:
    if name == "-":
        return stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    return Path(name).read_bytes()


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from mockvertex.contract.profiles import ProfileRegistry
    from mockvertex.contract.validation import validate_request

    try:
        registry = ProfileRegistry.builtin().with_files(*args.profiles)
    except DataFileError as exc:
        print(f"mockvertex: error: {exc}", file=err)
        return EXIT_USAGE
    status = EXIT_OK
    several = len(args.files) > 1
    for name in args.files:
        label = "<stdin>" if name == "-" else name
        try:
            body = _read(name, stdin)
        except OSError as exc:
            print(f"mockvertex: error: cannot read {label}: {exc.strerror or exc}", file=err)
            status = EXIT_USAGE
            continue
        try:
            validate_request(
                body,
                model=args.model,
                method=args.method,
                api_version=args.api_version,
                profiles=registry,
            )
        except StatusError as exc:
            status = max(status, EXIT_INVALID)
            if args.json:
                if several:
                    print(f"==> {label} <==", file=out)
                print(exc.to_json(), file=out)
            else:
                for line in _describe(exc):
                    print(f"{label}: {exc.status}: {line}", file=out)
            continue
        if not args.json:
            print(f"{label}: OK", file=out)
    return status


def _describe(exc: StatusError) -> list[str]:
    """One line per violation, each naming its field path; the message when there are none."""
    if not exc.violations:
        return [exc.message.replace("\n", " | ")]
    lines = []
    for v in exc.violations:
        text = v.description.replace("\n", " | ")
        lines.append(f"{v.field}: {text}" if v.field and f"'{v.field}'" not in text else text)
    return lines


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    stdin = stdin or sys.stdin
    parser = _parser()
    try:  # argparse prints to sys.stdout / sys.stderr itself: send that to out / err
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        return int(exc.code or 0)
    if args.command == "validate":
        return _validate(args, out, err, stdin)
    if args.command == "generate":
        return _generate(args, out, err, stdin)
    if args.command in _CONTROL_COMMANDS:
        return _control(args, out, err, stdin)
    if args.command == "conform":
        return _conform(args, out, err)
    if args.command == "proxy":
        return _proxy(args, out, err)
    return _serve(args, out, err)


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mockvertex.config import ServerConfig, parse_auth
    from mockvertex.contract.resources import builtin_scenario_names
    from mockvertex.engine.quota import parse_quota
    from mockvertex.server.runner import MockVertexServer

    try:
        auth, token = parse_auth(args.auth)
        for spec in args.quota:
            parse_quota(spec)
    except ValueError as exc:
        print(f"mockvertex: error: {exc}", file=err)
        return EXIT_USAGE
    builtins = set(builtin_scenario_names())
    config = ServerConfig(
        host=args.host,
        port=args.port,
        auth=auth,
        token=token,
        scenario_files=tuple(s for s in args.scenario if s not in builtins),
        builtin_scenarios=tuple(s for s in args.scenario if s in builtins),
        profile_files=tuple(args.profiles),
        quotas=tuple(args.quota),
    )
    try:
        server = MockVertexServer(config)
    except DataFileError as exc:
        print(f"mockvertex: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        server.start()
    except OSError as exc:
        print(f"mockvertex: error: cannot listen on {args.host}:{args.port}: {exc}", file=err)
        return EXIT_USAGE
    from mockvertex.server.adc import write_adc_file

    # An interrupt may come as soon as the last line is out (a script read it): be ready for
    # it from the first line on.
    try:
        credentials = write_adc_file(server.url)
        print(f"mockvertex serving the Vertex AI Gemini API on {server.url}", file=out)
        print(f"Control plane: {server.url}/_mockvertex/v1 (mockvertex health --url URL)", file=out)
        print("Point google-genai at it with environment variables only:", file=out)
        for line in env_lines(server.url):
            print(f"  {line}", file=out)
        print(
            "Or keep project and location in code, genai.Client(vertexai=True, project=..., "
            "location=...), with:",
            file=out,
        )
        print(f"  export GOOGLE_VERTEX_BASE_URL={server.url}", file=out)
        print(f"  export GOOGLE_APPLICATION_CREDENTIALS={credentials}", file=out)
        out.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def env_lines(url: str) -> list[str]:
    """Shell lines that point ``genai.Client()`` at a mock at ``url``, with no code change.

    google-genai reads ``GOOGLE_GEMINI_BASE_URL`` (not the Vertex one) when Vertex mode comes
    from ``GOOGLE_GENAI_USE_VERTEXAI``, so both are set. With project and location only in the
    environment it would treat the mock as a gateway and post to the bare base URL, so the
    recipe uses an API key (Vertex express mode, the location-less path) instead.
    """
    return [
        "export GOOGLE_GENAI_USE_VERTEXAI=true",
        "export GOOGLE_API_KEY=mockvertex",
        f"export GOOGLE_VERTEX_BASE_URL={url}",
        f"export GOOGLE_GEMINI_BASE_URL={url}",
        "unset GOOGLE_CLOUD_PROJECT GOOGLE_CLOUD_LOCATION",
    ]


# ---------------------------------------------------------------------------------------------
# generate: the seed's curl and Python samples as one command, on mockvertex.client


def _add_generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    generate = sub.add_parser(
        "generate",
        help="call generateContent (or stream it) on Vertex or the mock",
        description="Send one prompt to Vertex AI (or any URL speaking its API, like the mock) "
        "and print the answer. Credentials: --token or MOCKVERTEX_TOKEN (a static token, for "
        "the mock), else Application Default Credentials. Exit 0 on an answer (a blocked one "
        "included), 1 when the request is invalid or the API refused it, 2 on usage errors.",
    )
    generate.add_argument("prompt", metavar="PROMPT", help="the prompt text, or - for stdin")
    generate.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    generate.add_argument(
        "--stream", action="store_true", help="streamGenerateContent (SSE), text as it arrives"
    )
    generate.add_argument(
        "--json", action="store_true", help="print the raw response (one chunk per line)"
    )
    generate.add_argument("--base-url", metavar="URL", help="default: Vertex's host for --location")
    generate.add_argument("--project", metavar="P", help="default: the ADC project")
    generate.add_argument("--location", metavar="L", default="us-central1")
    generate.add_argument("--api-version", choices=API_VERSIONS, default="v1")
    generate.add_argument("--temperature", type=float, metavar="T")
    generate.add_argument("--max-output-tokens", type=int, metavar="N")
    generate.add_argument("--top-p", type=float, metavar="P")
    generate.add_argument("--top-k", type=float, metavar="K")
    generate.add_argument("--system", metavar="TEXT", help="a system instruction")
    generate.add_argument("--token", metavar="TOKEN", help="a static bearer token")
    generate.add_argument(
        "--verbose", "-v", action="store_true", help="log each attempt (never the token)"
    )


def _generation_config(args: argparse.Namespace) -> dict[str, float | int]:
    fields = {
        "temperature": args.temperature,
        "maxOutputTokens": args.max_output_tokens,
        "topP": args.top_p,
        "topK": args.top_k,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _generate(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    import json
    import logging

    from mockvertex.client.core import text_request
    from mockvertex.client.credentials import application_default
    from mockvertex.client.sync import VertexClient
    from mockvertex.config import client_token

    prompt = stdin.read() if args.prompt == "-" else args.prompt
    request = text_request(
        prompt, system_instruction=args.system, generation_config=_generation_config(args)
    )
    token = args.token or client_token()
    credentials = None
    project = args.project
    if token is None:
        try:
            credentials, adc_project = application_default()
        except StatusError:
            print(
                "mockvertex: error: no credentials: pass --token TOKEN or set MOCKVERTEX_TOKEN "
                "(any token for the mock), or run `gcloud auth application-default login`",
                file=err,
            )
            return EXIT_USAGE
        project = project or adc_project
    if project is None and args.base_url is None:
        print("mockvertex: error: --project is required to call Vertex", file=err)
        return EXIT_USAGE
    handler = logging.StreamHandler(err)
    logger = logging.getLogger("mockvertex.client")
    level = logger.level
    if args.verbose:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        client = VertexClient(
            project=project,
            location=args.location,
            base_url=args.base_url,
            api_version=args.api_version,
            token=token,
            credentials=credentials,
        )
    except ValueError as exc:
        print(f"mockvertex: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        with client:
            if args.stream:
                stream = client.stream_generate_content(args.model, request)
                for chunk in stream:
                    text = json.dumps(chunk.raw, ensure_ascii=False) if args.json else chunk.text
                    if text:
                        print(text, end="\n" if args.json else "", file=out, flush=True)
                response = stream.response()
                if not args.json and response.text:
                    print(file=out)
            else:
                response = client.generate_content(args.model, request)
                if args.json:
                    print(json.dumps(response.raw, indent=2, ensure_ascii=False), file=out)
                elif response.text:
                    print(response.text, file=out)
    except StatusError as exc:
        if args.stream and not args.json and exc.partial is not None and exc.partial.text:
            print(file=out)  # end the partial line before the error
        if exc.attempts == 0:  # refused locally: nothing was sent
            for line in _describe(exc):
                print(f"mockvertex: {exc.status}: {line}", file=err)
        else:
            tries = "1 attempt" if exc.attempts == 1 else f"{exc.attempts} attempts"
            message = exc.message.replace("\n", " | ")
            print(
                f"mockvertex: error: {exc.http_status} {exc.status}: {message} ({tries})", file=err
            )
        return EXIT_INVALID
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    why = response.why_no_text()
    if why is not None:
        print(f"mockvertex: no text: {why}", file=err)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Control subcommands: drive a running mock over its control plane (for shell-driven CI)

_CONTROL_COMMANDS = frozenset(
    {"health", "sessions", "scenario", "fault", "quota", "journal", "report", "reset", "errors"}
)


def _add_control(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--url",
        metavar="URL",
        help="the running mock (default: $MOCKVERTEX_URL, else http://127.0.0.1:8080)",
    )
    scoped = argparse.ArgumentParser(add_help=False, parents=[where])
    scoped.add_argument(
        "--session",
        metavar="NAME",
        help="the session (a project id, key-<digest>, or an x-mockvertex-session name); "
        "default: the global scope",
    )
    tail = (
        " Exit 0 on success, 1 when the server refused the request, 2 on usage errors or "
        "when no mock answers at the URL."
    )

    def add(
        name: str, help: str, parents: list[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + "." + tail, parents=parents
        )

    add("health", "check that a mock is running and answering", [where])
    add("sessions", "list the sessions a running mock has seen", [where])

    scenario = add("scenario", "add, list or remove scenarios of a running mock", [])
    scenario_sub = scenario.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_one = scenario_sub.add_parser(
        "add", help="add a scenario file or built-in", parents=[scoped]
    )
    add_one.add_argument(
        "source", metavar="FILE|NAME", help="scenario file (- for stdin), or a built-in's name"
    )
    scenario_sub.add_parser("list", help="the scenarios and their uses left", parents=[scoped])
    remove = scenario_sub.add_parser("remove", help="drop one scenario", parents=[scoped])
    remove.add_argument("name", metavar="NAME")
    scenario_sub.add_parser(
        "clear", help="drop every scenario (global: back to configured)", parents=[scoped]
    )

    fault = add("fault", "inject a one-step fault into a running mock", [])
    fault_sub = fault.add_subparsers(dest="action", required=True, metavar="ACTION")
    fault_add = fault_sub.add_parser(
        "add",
        help='add a scenario step as a fault, e.g. \'{"error": {"code": 429}}\'',
        parents=[scoped],
    )
    fault_add.add_argument("step", metavar="JSON", help="the step as JSON, @FILE, or - for stdin")
    fault_add.add_argument("--match", metavar="JSON", help="the scenario match, as JSON")
    fault_add.add_argument("--name", metavar="NAME", help="default: fault-N")
    fault_sub.add_parser("kinds", help="the fault kinds and their parameters", parents=[where])

    quota = add("quota", "set, show or lift per-minute quotas of a running mock", [])
    quota_sub = quota.add_subparsers(dest="action", required=True, metavar="ACTION")
    quota_set = quota_sub.add_parser(
        "set", help="set a budget, e.g. rpm=60,tpm=100000", parents=[scoped]
    )
    quota_set.add_argument("spec", metavar="SPEC", help="rpm=N,tpm=N,model=GLOB (rpm, tpm or both)")
    quota_sub.add_parser("show", help="the specs and the remaining budgets", parents=[scoped])
    quota_sub.add_parser("lift", help="lift the scope's quotas", parents=[scoped])

    journal = add("journal", "print the journal of a running mock (JSON)", [scoped])
    journal.add_argument("--jsonl", action="store_true", help="one JSON object per line")

    report = add("report", "print the retry report of a running mock", [scoped])
    report.add_argument("--json", action="store_true", help="the report as JSON")
    report.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a report threshold, e.g. storm_attempts=5 (repeatable)",
    )
    report.add_argument(
        "--strict", action="store_true", help="exit 1 when the report has a failing finding"
    )

    reset = add("reset", "reset a running mock (or one session), per resource", [scoped])
    reset.add_argument(
        "--only",
        metavar="LIST",
        help="comma-separated resources: scenarios, journal, quota, errors (default: all)",
    )

    add("errors", "print the server-side errors of a running mock; exit 1 if any", [scoped])


def _control(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from mockvertex.config import control_url
    from mockvertex.remote import RemoteMock, Unreachable

    url = (args.url or control_url()).rstrip("/")
    with RemoteMock(url) as mock:
        try:
            return _run_control(mock, args, out, err, stdin)
        except Unreachable as exc:
            print(f"mockvertex: error: {exc.message}", file=err)
            return EXIT_USAGE
        except StatusError as exc:
            for line in _describe(exc):
                print(f"mockvertex: error: {exc.status}: {line}", file=err)
            return EXIT_INVALID
        except (DataFileError, ValueError, OSError) as exc:
            print(f"mockvertex: error: {exc}", file=err)
            return EXIT_USAGE


def _json_argument(text: str, what: str, stdin: TextIO) -> object:
    import json

    if text == "-":
        text = stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None


def _run_control(
    mock: RemoteMock, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO
) -> int:
    import json

    from mockvertex.engine.session import RESOURCES

    def show(value: object) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False), file=out)

    command = args.command
    if command == "health":
        health = mock.health()
        print(
            f"{health.get('status')}: mockvertex {health.get('version')} at {mock.url}, "
            f"{health.get('sessions')} session(s)",
            file=out,
        )
        return EXIT_OK
    if command == "sessions":
        for name in mock.sessions():
            print(name, file=out)
        return EXIT_OK
    if command == "fault" and args.action == "kinds":
        show(mock.faults())
        return EXIT_OK
    scope = mock.global_scope() if args.session is None else mock.session(args.session)
    label = "global scope" if args.session is None else f"session {args.session}"
    action = getattr(args, "action", None)
    if command == "scenario":
        if action == "add":
            source = args.source
            if source == "-":
                source = _json_argument("-", "the scenario", stdin)
                if not isinstance(source, dict):
                    raise ValueError("the scenario must be a JSON object")
            added = scope.add_scenario(source)
            print(f"added scenario {added.name} to the {label}", file=out)
        elif action == "list":
            show(scope.scenarios())
        elif action == "remove":
            scope.remove_scenario(args.name)
            print(f"removed scenario {args.name} from the {label}", file=out)
        else:
            scope.clear_scenarios()
            print(f"cleared the scenarios of the {label}", file=out)
        return EXIT_OK
    if command == "fault":
        step = _json_argument(args.step, "the step", stdin)
        match = None if args.match is None else _json_argument(args.match, "--match", stdin)
        if not isinstance(step, dict) or not (match is None or isinstance(match, dict)):
            raise ValueError("the step and --match must be JSON objects")
        fault = scope.add_fault(step, match=match, name=args.name)
        print(f"added fault {fault.name} to the {label}", file=out)
        return EXIT_OK
    if command == "quota":
        if action == "set":
            scope.set_quota(args.spec)
            print(f"set quota {args.spec} on the {label}", file=out)
        elif action == "lift":
            scope.set_quota(None)
            print(f"lifted the quotas of the {label}", file=out)
        else:
            show(scope.quota())
        return EXIT_OK
    if command == "journal":
        if args.jsonl:
            for entry in scope.journal():
                print(entry.to_jsonl(), file=out)
        else:
            show([entry.to_json() for entry in scope.journal()])
        return EXIT_OK
    if command == "report":
        thresholds: dict[str, str] = {}
        for item in args.threshold:
            name, eq, value = item.partition("=")
            if not eq or not name.strip():
                raise ValueError(f"--threshold {item!r} is not NAME=VALUE, e.g. storm_attempts=5")
            thresholds[name.strip()] = value.strip()
        data = scope.server_report(thresholds)
        if args.json:
            show(data)
        else:
            print(scope.server_report(thresholds, table=True).rstrip("\n"), file=out)
        failing = [
            f
            for call in data.get("calls", [])
            for f in call.get("findings", [])
            if f.get("severity") == "fail"
        ]
        return EXIT_INVALID if args.strict and failing else EXIT_OK
    if command == "reset":
        names = (
            list(RESOURCES)
            if args.only is None
            else [n.strip() for n in args.only.split(",") if n.strip()]
        )
        unknown = [n for n in names if n not in RESOURCES]
        if unknown or not names:
            raise ValueError(
                f"--only {args.only!r}: name resources from {', '.join(RESOURCES)}, "
                "separated by commas"
            )
        scope.reset(**{r: r in names for r in RESOURCES})
        print(f"reset {', '.join(r for r in RESOURCES if r in names)} of the {label}", file=out)
        return EXIT_OK
    errors = scope.errors()
    for text in errors:
        print(text, file=out)
    if not errors:
        print(f"no server-side errors in the {label}", file=out)
    return EXIT_INVALID if errors else EXIT_OK


# ---------------------------------------------------------------------------------------------
# conform: the conformance suite, from the installed package


def _add_conform(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conform = sub.add_parser(
        "conform",
        help="run the conformance suite against the mock, Vertex or any URL",
        description="Run the conformance kit's suite (pytest --pyargs "
        "mockvertex.conformance.suite) against the mock started in-process, Vertex AI, or any "
        "server speaking the Vertex REST API. Exit status: pytest's (0 when every property "
        "holds). Arguments after -- go to pytest as they are (e.g. -- -k framing -x).",
    )
    conform.add_argument("--target", default="mock", metavar="mock|vertex|URL")
    conform.add_argument("--project", help="the Vertex project (--target vertex)")
    conform.add_argument("--location", default="us-central1", help="default: us-central1")
    conform.add_argument(
        "--token",
        metavar="VALUE|adc|none",
        help="credentials for a URL: a static bearer token, adc, or none (the default, but "
        "for a mockvertex, which gets a token)",
    )
    conform.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    conform.add_argument(
        "--conformance-profile",
        "--profile",
        dest="profile",
        choices=("ci", "dev", "live"),
        help="default: ci against a mockvertex, live against Vertex or another URL",
    )
    conform.add_argument(
        "--conformance-examples", "--examples", dest="examples", type=int, metavar="N"
    )
    conform.add_argument(
        "--divergence-report",
        "--report",
        dest="report",
        metavar="PATH",
        help="the JSON report (a .txt table beside it); default against a non-mock target: "
        "./mockvertex-divergences.json",
    )
    conform.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _conform(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import importlib.util
    import os  # os.devnull only

    # Found, not imported: pytest would warn that it cannot rewrite what is already loaded.
    if importlib.util.find_spec("hypothesis") is None or importlib.util.find_spec("pytest") is None:
        print(
            "mockvertex: error: conform needs the conformance extra: "
            "pip install 'mockvertex[conformance]'",
            file=err,
        )
        return EXIT_USAGE
    import pytest

    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    argv = [
        # The kit's own configuration only: no ini file, conftest or cache from the current
        # directory, none of the mock's fixtures, no async plugins (the suite is synchronous).
        "-c", os.devnull,
        "--rootdir", str(Path.cwd()),
        "--noconftest",
        "-p", "no:cacheprovider",
        "-p", "no:mockvertex",
        "-p", "no:asyncio",
        "-p", "no:aiohttp",
        "-p", "mockvertex.conformance.plugin",
        # This command is mockvertex itself, so the package is loaded before pytest can
        # rewrite its asserts; the suite's checks raise their own messages and need no rewrite.
        "-W", "ignore:Module already imported so cannot be rewritten; mockvertex"
        ":pytest.PytestAssertRewriteWarning",
        "--pyargs", "mockvertex.conformance.suite",
        "--target", args.target,
        "--location", args.location,
        "--model", args.model,
    ]  # fmt: skip
    for flag, value in (
        ("--project", args.project),
        ("--token", args.token),
        ("--conformance-profile", args.profile),
        ("--conformance-examples", args.examples),
        ("--divergence-report", args.report),
    ):
        if value is not None:
            argv += [flag, str(value)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return int(pytest.main([*argv, *extra]))


def _add_proxy(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proxy = sub.add_parser(
        "proxy",
        help="forward to Vertex, validating both ways, recording redacted cassettes",
        description="Forward every Vertex call to the upstream, streaming each chunk as it "
        "arrives; validate requests and responses (findings on /_mockvertex/v1/findings); "
        "with --record, write a redacted cassette and the scenario that replays it.",
    )
    proxy.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    proxy.add_argument("--port", type=int, default=8081, help="default: 8081 (0: any free port)")
    proxy.add_argument(
        "--upstream",
        metavar="URL",
        help="default: the regional Vertex endpoint of the location in each path",
    )
    proxy.add_argument("--record", metavar="DIR", help="write DIR/NAME.cassette.json and NAME.json")
    proxy.add_argument("--cassette", default="cassette", metavar="NAME", help="default: cassette")
    proxy.add_argument(
        "--mode",
        default="all",
        metavar="none|once|new|all",
        help="record mode (default all): none replays only and a miss is an error; once records "
        "a new cassette, replays an existing one; new replays matches, records the rest",
    )
    proxy.add_argument(
        "--check", choices=("warn", "reject"), default="warn", help="what an invalid request gets"
    )
    proxy.add_argument(
        "--redact-regex", action="append", default=[], metavar="REGEX", help="(repeatable)"
    )
    proxy.add_argument(
        "--redact-path",
        action="append",
        default=[],
        metavar="PATH",
        help="JSON path in requests and chunks, e.g. contents[*].parts[*].text (repeatable)",
    )
    proxy.add_argument(
        "--volatile",
        action="append",
        default=[],
        metavar="PATH",
        help="request body path that matching ignores (repeatable)",
    )
    proxy.add_argument(
        "--timing", type=float, default=1.0, help="replay pacing: 1 as recorded, 0 none"
    )
    proxy.add_argument(
        "--adc",
        action="store_true",
        help="send Application Default Credentials for requests that bring none",
    )


def _proxy(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mockvertex.engine.cassette import RecordMode, parse_rules
    from mockvertex.server.proxy import ProxyConfig, ProxyServer

    token = None
    try:
        rules = parse_rules(
            [{"regex": r} for r in args.redact_regex] + [{"path": p} for p in args.redact_path],
            "--redact",
        )
        if args.adc:
            from mockvertex.client.credentials import application_default

            source = application_default()[0]
            token = source.token
        config = ProxyConfig(
            upstream=args.upstream,
            check=args.check,
            record_dir=None if args.record is None else Path(args.record),
            cassette=args.cassette,
            mode=RecordMode.parse(args.mode),
            rules=tuple(rules),
            volatile=tuple(args.volatile),
            timing=args.timing,
            token=token,
            host=args.host,
            port=args.port,
        )
        server = ProxyServer(config)
    except (ValueError, StatusError) as exc:  # DataFileError is a ValueError
        print(f"mockvertex: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        server.start()
    except OSError as exc:
        print(f"mockvertex: error: cannot listen on {args.host}:{args.port}: {exc}", file=err)
        return EXIT_USAGE
    try:
        print(f"mockvertex proxy on {server.url} -> {args.upstream or 'Vertex'}", file=out)
        print(f"Findings: {server.url}/_mockvertex/v1/findings", file=out)
        out.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK

"""The ``mockvertex`` command: ``serve`` the mock, ``validate`` request bodies."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mockvertex.contract.errors import DataFileError, StatusError
from mockvertex.contract.validation import API_VERSIONS, METHODS

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
    _add_generate(sub)
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
    return _serve(args, out, err)


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mockvertex.config import ServerConfig, parse_auth
    from mockvertex.contract.resources import builtin_scenario_names
    from mockvertex.server.runner import MockVertexServer

    try:
        auth, token = parse_auth(args.auth)
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

    credentials = write_adc_file(server.url)
    print(f"mockvertex serving the Vertex AI Gemini API on {server.url}", file=out)
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
    try:
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

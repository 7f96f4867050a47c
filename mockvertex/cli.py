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

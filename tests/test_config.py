"""ServerConfig and parse_auth: defaults, the MOCKVERTEX_* environment, and bad auth text."""

from __future__ import annotations

import dataclasses
import os

import pytest

from mockvertex.config import DEFAULT_MAX_BODY_BYTES, ServerConfig, parse_auth


def test_defaults() -> None:
    config = ServerConfig()
    assert (config.host, config.port, config.auth, config.token) == ("127.0.0.1", 0, "vertex", None)
    assert config.scenario_files == ()
    assert config.builtin_scenarios == ()
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert config.max_body_bytes > 20 * 1024 * 1024  # room for 20 MB of inline data as base64


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ServerConfig().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vertex", ("vertex", None)),
        ("none", ("none", None)),
        ("token=abc", ("token", "abc")),
        ("token=a=b c", ("token", "a=b c")),
    ],
)
def test_parse_auth(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_auth(text) == expected


@pytest.mark.parametrize("text", ["", "token=", "token", "Vertex", "NONE", "bearer", " none"])
def test_parse_auth_errors(text: str) -> None:
    with pytest.raises(
        ValueError, match="--auth must be 'vertex', 'none' or 'token=VALUE'"
    ) as info:
        parse_auth(text)
    assert repr(text) in str(info.value)


def test_with_auth() -> None:
    config = ServerConfig(port=9).with_auth("token=t")
    assert (config.auth, config.token, config.port) == ("token", "t", 9)
    assert config.with_auth("none") == ServerConfig(port=9, auth="none")


def test_from_env_empty_is_the_defaults() -> None:
    assert ServerConfig.from_env({}) == ServerConfig()


def test_from_env_reads_every_variable() -> None:
    environ = {
        "MOCKVERTEX_HOST": "0.0.0.0",
        "MOCKVERTEX_PORT": "8089",
        "MOCKVERTEX_AUTH": "token=sekrit",
        "MOCKVERTEX_SCENARIOS": os.pathsep.join(["a.json", "", "dir/b.json"]),
        "UNRELATED": "x",
    }
    config = ServerConfig.from_env(environ)
    assert config.host == "0.0.0.0"
    assert config.port == 8089
    assert (config.auth, config.token) == ("token", "sekrit")
    assert config.scenario_files == ("a.json", "dir/b.json")


def test_from_env_empty_scenarios_means_none() -> None:
    assert ServerConfig.from_env({"MOCKVERTEX_SCENARIOS": ""}).scenario_files == ()


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKVERTEX_PORT", "7001")
    monkeypatch.setenv("MOCKVERTEX_AUTH", "none")
    config = ServerConfig.from_env()
    assert (config.port, config.auth) == (7001, "none")


def test_from_env_does_not_touch_os_environ_when_given_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOCKVERTEX_PORT", "7001")
    assert ServerConfig.from_env({}).port == 0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MOCKVERTEX_AUTH": "oauth"}, "--auth"),
        ({"MOCKVERTEX_PORT": "eighty"}, "invalid literal"),
    ],
)
def test_from_env_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig.from_env(environ)

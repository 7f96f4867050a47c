"""The control plane under ``/_mockvertex/`` and the local OAuth token endpoint."""

from __future__ import annotations

from aiohttp import web

from mockvertex.contract import protojson, wire
from mockvertex.contract.errors import DataFileError, InvalidArgument, StatusError
from mockvertex.engine.scenario import load_scenario
from mockvertex.server.http import STATE, envelope_response

__all__ = ["journal", "scenarios", "token_endpoint"]


async def journal(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        state.journal.clear()
        return web.json_response({"cleared": True})
    return web.json_response([e.to_json() for e in state.journal.entries()])


async def scenarios(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        state.reset()
        return web.json_response({"reset": True})
    if request.method == "POST":
        raw = await request.read()
        try:
            body = protojson.decode_json(raw)
            scenario = load_scenario(body)
        except DataFileError as exc:
            return envelope_response(
                InvalidArgument(f"{exc.field or '<root>'}: {exc.rule}"), wire.Framing.UNARY
            )
        except StatusError as exc:
            return envelope_response(exc, wire.Framing.UNARY)
        state.book.add(scenario)
        return web.json_response({"added": scenario.name}, status=200)
    return web.json_response(state.book.snapshot())


async def token_endpoint(request: web.Request) -> web.Response:
    """A local OAuth2 token endpoint, so credential files can point their token_uri here."""
    state = request.app[STATE]
    token = state.config.token if state.config.auth == "token" else "mockvertex-token"
    return web.json_response(
        {"access_token": token, "expires_in": 3600, "token_type": "Bearer", "scope": ""}
    )

"""The companion's HTTP side (aiohttp): the page, ``/api/status``, the POST commands, a server-sent
event stream, pairing, and the auth middleware in front of all of it."""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any

from aiohttp import web

from edge.control.client import ControlUnavailable
from edge.circumplex import CIRCUMPLEX
from edge.web.auth import COOKIE, Limiter, TokenStore, same_origin
from edge.web.hub import Hub

log = logging.getLogger(__name__)

HUB = web.AppKey("hub", Hub)
TOKENS = web.AppKey("tokens", TokenStore)
LIMITER = web.AppKey("limiter", Limiter)
COMMANDS = {"like": (), "skip": (), "pause": (), "resume": (), "mood": ("mood", "minutes"),
            "volume": ("volume",), "strategy": ("strategy",)}
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
KEEPALIVE_S = 15.0
UNPAIRED = """<!doctype html><meta name="viewport" content="width=device-width">
<title>moodplayer: not paired</title><body style="font-family:sans-serif;max-width:30em;margin:2em auto">
<h1>Not paired</h1><p>On the player, run <code>python -m edge web token</code> and open the pairing link it
prints on this phone (or scan it from there).</p></body>"""


def make_app(hub: Hub, tokens: TokenStore, limiter: Limiter | None = None) -> web.Application:
    app = web.Application(middlewares=[_auth], client_max_size=16 * 1024)
    app[HUB], app[TOKENS], app[LIMITER] = hub, tokens, limiter or Limiter()
    app.router.add_get("/", _page)
    app.router.add_get("/pair", _pair)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/history", _history)
    app.router.add_get("/api/events", _events)
    for op in COMMANDS:
        app.router.add_post(f"/api/{op}", _command)
    return app


def _client(request: web.Request) -> str:
    return request.remote or "?"


@web.middleware
async def _auth(request: web.Request, handler) -> web.StreamResponse:
    if request.path == "/pair":
        return await handler(request)
    tokens, limiter = request.app[TOKENS], request.app[LIMITER]
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = bearer or request.cookies.get(COOKIE, "")
    if token and limiter.blocked(_client(request)):
        return _error(429, "too many wrong tokens from this address; wait a minute")
    if not tokens.check(token):
        if token:
            limiter.fail(_client(request))
        if request.path == "/" and not bearer:
            return web.Response(status=401, text=UNPAIRED, content_type="text/html")
        return _error(401, "pair first (python -m edge web token), or send Authorization: Bearer TOKEN")
    if request.method != "GET" and not bearer and not same_origin(request.headers, request.scheme, request.host):
        return _error(403, "cross-site request refused: use the page, or send Authorization: Bearer TOKEN")
    return await handler(request)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _pair(request: web.Request) -> web.StreamResponse:
    tokens, limiter = request.app[TOKENS], request.app[LIMITER]
    if limiter.blocked(_client(request)):
        return _error(429, "too many wrong tokens from this address; wait a minute")
    token = request.query.get("token", "")
    if not tokens.check(token):
        limiter.fail(_client(request))
        return _error(401, "wrong or old pairing token: run python -m edge web token for the current link")
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=365 * 86400, path="/")
    return response


def _read_static(name: str) -> bytes:
    return resources.files("edge.web").joinpath("static", name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    return web.Response(body=_read_static("index.html"), content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_read_static(name), content_type=STATIC[name])


async def _status(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        reply = await hub.command({"op": "status"})
    except ControlUnavailable as e:
        return web.json_response({"error": str(e), "connected": False, "status": hub.status}, status=503)
    return web.json_response({**reply["status"], "connected": True})


async def _history(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response({"connected": hub.connected, "history": hub.history})


async def _command(request: web.Request) -> web.Response:
    op = request.path.rsplit("/", 1)[1]
    body: Any = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body must be JSON, e.g. {\"mood\": \"sad\", \"minutes\": 30}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    try:
        reply = await request.app[HUB].command({"op": op, **{k: body[k] for k in COMMANDS[op] if k in body}})
    except ControlUnavailable as e:
        return _error(503, str(e))
    return web.json_response(reply, status=200 if reply.get("ok") else 400)


async def _events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    q = hub.subscribe()
    try:
        hello = {"type": "hello", "connected": hub.connected, "status": hub.status, "history": hub.history,
                 "circumplex": CIRCUMPLEX}
        await response.write(_sse(hello))
        while hub.subscribed(q):
            try:
                event = await asyncio.wait_for(q.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(_sse(event))
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(q)
    return response


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"

"""The companion's HTTP side (aiohttp): the page, ``/api/status``, the POST commands, a server-sent
event stream, pairing, and in front of all of it a guard (Host check, security headers, busy marks for
the connection cap) and the auth middleware. Bodies are read with aiohttp's ``client_max_size`` and a
timeout, and parsed with the control protocol's strict ``loads`` and ``check``: any body that is not a
valid command is a 400 that says why, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any

from aiohttp import web

from edge.circumplex import CIRCUMPLEX
from edge.control import protocol
from edge.control.client import ControlUnavailable
from edge.web.auth import COOKIE, Limiter, TokenStore, same_origin
from edge.web.guard import CSP, Doorman, host_allowed, served_names
from edge.web.hub import Hub

log = logging.getLogger(__name__)

HUB = web.AppKey("hub", Hub)
TOKENS = web.AppKey("tokens", TokenStore)
LIMITER = web.AppKey("limiter", Limiter)
DOORMAN = web.AppKey("doorman", Doorman)
NAMES = web.AppKey("names", frozenset)
MAX_BODY = 4096  # bytes in a command's body (aiohttp's client_max_size: more is a 413)
BODY_TIMEOUT_S = 5.0  # to send a command's body (more is a 408)
COMMANDS = {"like": (), "skip": (), "pause": (), "resume": (), "mood": ("mood", "minutes"),
            "volume": ("volume",), "strategy": ("strategy",), "privacy": ("on",)}
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
KEEPALIVE_S = 15.0
UNPAIRED = """<!doctype html><meta name="viewport" content="width=device-width">
<title>moodplayer: not paired</title><body style="font-family:sans-serif;max-width:30em;margin:2em auto">
<h1>Not paired</h1><p>On the player, run <code>python -m edge web token</code> and open the pairing link it
prints on this phone (or scan it from there).</p></body>"""


def make_app(hub: Hub, tokens: TokenStore, limiter: Limiter | None = None, *,
             names: frozenset[str] | None = None, doorman: Doorman | None = None) -> web.Application:
    """The app; ``names`` are the Host names it answers to besides IP addresses (``guard.served_names``);
    ``doorman`` is the connection cap that this app's requests mark busy."""
    app = web.Application(middlewares=[_guard, _auth], client_max_size=MAX_BODY)
    app[HUB], app[TOKENS], app[LIMITER] = hub, tokens, limiter or Limiter()
    app[NAMES] = names if names is not None else served_names("127.0.0.1")
    if doorman is not None:
        app[DOORMAN] = doorman
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
async def _guard(request: web.Request, handler) -> web.StreamResponse:
    """Host check (DNS rebinding), the headers every answer carries, and the busy mark for the cap."""
    if not host_allowed(request.host, request.app[NAMES]):
        return _secured(request, _error(421, f"this companion does not answer to Host {request.host[:60]!r}; "
                                            "use its address or name (web.hosts lists more names)"))
    doorman = request.app.get(DOORMAN)
    if doorman is not None:
        doorman.busy(request.transport)
    try:
        response = await handler(request)
    except web.HTTPException as e:  # 404, 413, the pairing redirect: raised, and secured on the way
        _secure(request, e.headers)
        raise
    finally:
        if doorman is not None:
            doorman.done(request.transport)
    return _secured(request, response)


def _secured(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if not response.prepared:  # the event stream sets its own before it starts
        _secure(request, response.headers)
    return response


def _secure(request: web.Request, headers) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"  # /pair has the token in its URL
    if request.path.startswith("/api/") or request.path == "/pair":
        headers["Cache-Control"] = "no-store"


@web.middleware
async def _auth(request: web.Request, handler) -> web.StreamResponse:
    if request.path == "/pair":
        return await handler(request)
    tokens, limiter = request.app[TOKENS], request.app[LIMITER]
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = bearer or request.cookies.get(COOKIE, "")
    if not tokens.check(token):  # a valid token is never locked out: the limit is on guesses
        if token and limiter.blocked(_client(request)):
            return _error(429, "too many wrong tokens from this address; wait a minute")
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
    token = request.query.get("token", "")
    if not tokens.check(token):
        if limiter.blocked(_client(request)):
            return _error(429, "too many wrong tokens from this address; wait a minute")
        limiter.fail(_client(request))
        return _error(401, "wrong or old pairing token: run python -m edge web token for the current link")
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=365 * 86400, path="/")
    raise response


def _read_static(name: str) -> bytes:
    return resources.files("edge.web").joinpath("static", name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    return web.Response(body=_read_static("index.html"), content_type="text/html",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": CSP})


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_read_static(name), content_type=STATIC[name])


async def _status(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        status = await hub.refresh()
    except ControlUnavailable as e:
        return web.json_response({"error": str(e), "connected": False, "status": hub.status}, status=503)
    return web.json_response({**status, "connected": True})


async def _history(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response({"connected": hub.connected, "history": hub.history})


async def _command(request: web.Request) -> web.Response:
    op = request.path.rsplit("/", 1)[1]
    body: Any = {}
    if request.can_read_body:
        try:
            raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)  # client_max_size: else a 413
            body = protocol.loads(raw) if raw.strip() else {}
        except TimeoutError:
            return _error(408, f"the body took longer than {BODY_TIMEOUT_S:g} s to arrive")
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the body is over {MAX_BODY} bytes; a command needs far fewer")
        except protocol.BadRequest as e:
            return _error(400, f"the body must be UTF-8 JSON, e.g. {{\"mood\": \"sad\", \"minutes\": 30}}: {e}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    hub = request.app[HUB]
    if not hub.connected or hub.status is None:
        return _error(503, "the camera process is not reachable (reconnecting)")
    try:
        command = protocol.check({"op": op, **{k: body[k] for k in COMMANDS[op] if k in body}},
                                 hub.status.get("labels") or ())
    except protocol.BadRequest as e:
        return _error(400, str(e))
    try:
        reply = await hub.commands.submit(command)
    except ControlUnavailable as e:
        return _error(503, str(e))
    return web.json_response(reply, status=200 if reply.get("ok") else 400)


async def _events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
    await response.prepare(request)
    q = hub.subscribe()
    try:
        hello = {"type": "hello", "connected": hub.connected, "status": hub.status, "history": hub.history,
                 "circumplex": CIRCUMPLEX}
        await response.write(_sse(hello))
        while hub.subscribed(q):
            try:
                event = await asyncio.wait_for(q.get(), KEEPALIVE_S)
            except TimeoutError:
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

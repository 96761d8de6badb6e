"""``python -m edge web``: the companion (page, API, MQTT); ``python -m edge web token``: the pairing link."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Sequence

log = logging.getLogger("edge.web")

EPILOG = """\
examples:
  python -m edge --source clip.mp4 --loop --realtime --control-socket /tmp/mp.sock   # the camera process
  python -m edge web --control-socket /tmp/mp.sock          # the page on http://127.0.0.1:8080/
  python -m edge web token                                   # the token and the link that pairs a phone
  python -m edge web --listen 0.0.0.0:8080 --mqtt-host homeassistant.local   # LAN and Home Assistant
"""

HEADERS_TIMEOUT_S = 10.0  # to send a request's headers, and to keep an idle connection
BACKLOG = 128  # connections the kernel holds before the companion accepts them
FLAGS = {"--listen": "web.listen", "--state-dir": "web.state_dir", "--control-socket": "control.socket",
         "--mqtt-host": "mqtt.host", "--mqtt-port": "mqtt.port"}


def _parser(token: bool) -> argparse.ArgumentParser:
    if token:
        parser = argparse.ArgumentParser(prog="python -m edge web token",
                                         description="Print the companion's access token and a pairing link "
                                                     "(opening it once sets a cookie on the phone).")
        parser.add_argument("--new", action="store_true", help="make a new token: every paired phone must pair "
                                                               "again")
        parser.add_argument("--host", help="host name or address for the link (default: from web.listen, or "
                                           "this machine's LAN address when it listens on all)")
    else:
        parser = argparse.ArgumentParser(prog="python -m edge web", epilog=EPILOG,
                                         formatter_class=argparse.RawDescriptionHelpFormatter,
                                         description="Serve a phone page, a JSON API and (optionally) MQTT for "
                                                     "Home Assistant, steering the camera process through its "
                                                     "control socket.")
        parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--config", help="the TOML config ([web], [mqtt], [control] sections)")
    for flag, key in FLAGS.items():
        if not token or key.startswith("web."):
            parser.add_argument(flag, dest=key, metavar="VALUE", help=f"{key} (overrides the config)")
    return parser


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    token = bool(argv) and argv[0] == "token"
    args = _parser(token).parse_args(argv[1:] if token else argv)
    from edge import config as configs

    try:
        cfg = configs.load(args.config, {k: v for k, v in vars(args).items() if "." in k and v is not None})
    except configs.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if token:
        return _token(cfg, args.new, args.host)
    from edge.logs import setup_logging

    setup_logging(args.verbose)
    if not cfg.control.socket:
        print("error: the companion needs the camera process's socket: --control-socket PATH (or control.socket "
              "in the config), the same path `python -m edge --control-socket PATH` uses", file=sys.stderr)
        return 2
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print("error: the companion needs aiohttp and paho-mqtt: pip install -e '.[web]'", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(cfg))
    except OSError as e:
        print(f"error: can't serve on {cfg.web.listen}: {e.strerror or e}; choose another web.listen", file=sys.stderr)
        return 2
    return 0


def _token(cfg, new: bool, host: str | None) -> int:
    from edge.web.auth import TokenStore, state_dir
    from edge.web.config import split_listen

    store = TokenStore(state_dir(cfg.web.state_dir))
    try:
        value = store.rotate() if new else store.token()
    except PermissionError as e:
        print(f"error: {e}; run this as the companion's user: sudo -u moodplayer-web ... python -m edge web token",
              file=sys.stderr)
        return 2
    listen_host, port = split_listen(cfg.web.listen)
    host = host or (_lan_address() if listen_host in ("0.0.0.0", "::") else listen_host)
    shown = f"[{host}]" if ":" in host else host
    print(f"token: {value}\npair a phone (open once): http://{shown}:{port}/pair?token={value}")
    if new:
        print("(a new token: phones paired before must pair again)")
    return 0


def _lan_address() -> str:
    """This machine's address on its default route (a UDP connect sends no packet), else its name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


def page_url(listen: str) -> str:
    """The phone page's address as Home Assistant's device page links it ("" when it listens on loopback
    only: no other machine could open it)."""
    from edge.web.config import split_listen

    host, port = split_listen(listen)
    if host in ("0.0.0.0", "::"):
        host = _lan_address()
    elif host in ("127.0.0.1", "::1", "localhost"):
        return ""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


async def _serve(cfg) -> None:
    from aiohttp import web

    from edge.web.app import make_app
    from edge.web.auth import TokenStore, state_dir
    from edge.web.config import split_listen
    from edge.web.guard import Doorman, connection_cap, served_names
    from edge.web.hub import Hub

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tokens = TokenStore(state_dir(cfg.web.state_dir))
    tokens.token()  # made on first start
    hub = Hub(cfg.control.socket)
    bridge = None
    if cfg.mqtt.host:
        from edge.web.mqtt import MqttBridge

        bridge = MqttBridge(cfg.mqtt, hub, loop, page_url(cfg.web.listen))
        bridge.start()
    host, port = split_listen(cfg.web.listen)
    runner: web.AppRunner
    doorman = Doorman(lambda: runner.server, connection_cap(cfg.web.max_connections))
    app = make_app(hub, tokens, names=served_names(host, cfg.web.host_names()), doorman=doorman)
    # keepalive_timeout: aiohttp arms it when a connection opens, so it is also the limit for sending the
    # first request's headers (a slow client is closed after it); the body has its own (app.BODY_TIMEOUT_S).
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=HEADERS_TIMEOUT_S)
    await runner.setup()
    server = await loop.create_server(doorman.factory, host, port, backlog=BACKLOG, reuse_address=True)
    log.info("serving on http://%s:%d/ (pair a phone: python -m edge web token); camera process: %s; "
             "at most %d connections", host, port, cfg.control.socket, doorman.cap)
    try:
        await hub.run(stop)
    finally:
        if bridge is not None:
            bridge.stop()
        server.close()
        await runner.cleanup()
        log.info("stopped")

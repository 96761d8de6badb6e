"""MQTT for Home Assistant (paho-mqtt): retained state, discovery configs, availability with a last will,
and commands. paho's own thread connects and reconnects with backoff; nothing here ever waits for the
broker, so a broker that is down or goes away changes nothing for the page or the camera loop.

Topics (``base`` = ``mqtt.topic``, default ``moodplayer/<hostname>``)::

    <base>/state          retained JSON, as /api/status
    <base>/availability   "online" / "offline" (the last will; offline too while the camera process is away)
    <base>/command        like | skip | pause | resume | {"mood": "sad", "minutes": 30} | {"mood": null}
                          | {"volume": 0.5} | {"strategy": "uplift"} | {"privacy": true}
    <discovery>/device/<device>/config                  retained discovery, mqtt.discovery_form = "device"
    <discovery>/<platform>/<device>/<name>/config       retained discovery, mqtt.discovery_form = "entity"
    <discovery>/status    Home Assistant's birth message: "online" re-publishes discovery and state

The entities and the two discovery forms: edge/web/discovery.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge import __version__
from edge.control import protocol
from edge.web import discovery as ha
from edge.web.config import MqttConfig
from edge.web.guard import Throttled
from edge.web.hub import Hub

log = logging.getLogger(__name__)

OVERRIDE_MINUTES = ha.OVERRIDE_MINUTES
ATTRIBUTES_EVERY_S = 10.0
CAMERA = ha.CAMERA  # the select's option that clears the override
PLAIN_COMMANDS = ("like", "skip", "pause", "resume")
MAX_PAYLOAD = 1024  # bytes in a command (Home Assistant's are under 100): a longer one is dropped unread
MAX_QUEUED = 1000  # messages paho keeps for the broker while it is away (it drops the rest)


def device_name(cfg: MqttConfig) -> str:
    name = cfg.topic.rsplit("/", 1)[-1] if cfg.topic else socket.gethostname()
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "moodplayer"


class MqttBridge:
    """Mirrors ``hub`` onto the broker and forwards commands to it (on the asyncio ``loop``)."""

    def __init__(self, cfg: MqttConfig, hub: Hub, loop: asyncio.AbstractEventLoop, page: str = "") -> None:
        """``page``: the phone page's address, for Home Assistant's device page ("" = none)."""
        self.cfg, self.hub, self.loop, self.page = cfg, hub, loop, page
        self.device = device_name(cfg)
        self.base = cfg.topic or f"moodplayer/{self.device}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"moodplayer-{self.device}")
        if cfg.username:
            password = Path(cfg.password_file).read_text().strip() if cfg.password_file else None
            self.client.username_pw_set(cfg.username, password)
        self.client.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(MAX_QUEUED)  # a broker away for a day costs bounded memory
        self._ignored = Throttled(log)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._labels: tuple[str, ...] = ()
        self._sent: tuple[Any, float] | None = None  # (what the last state said, when)
        hub.listeners.append(self._on_hub_event)

    def topic(self, name: str) -> str:
        return f"{self.base}/{name}"

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        self.client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", self.cfg.host, self.cfg.port, self.base)

    def stop(self) -> None:
        if self.client.is_connected():
            self.client.publish(self.topic("availability"), "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho's thread -----------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("MQTT: the broker refused the connection (%s); check mqtt.username and password_file", reason)
            return
        log.info("MQTT: connected to %s:%d", self.cfg.host, self.cfg.port)
        client.subscribe(self.topic("command"), qos=1)
        client.subscribe(self.birth_topic, qos=1)
        self._sent = None  # a restarted broker may have lost the retained state
        self._announce()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        log.warning("MQTT: disconnected (%s); retrying in the background", reason)

    @property
    def birth_topic(self) -> str:
        return f"{self.cfg.discovery}/status"

    def _on_birth(self, payload: bytes) -> None:
        """Home Assistant (re)started: it asks every device to announce itself again (its MQTT docs)."""
        if payload.strip() == b"online":
            log.info("MQTT: Home Assistant is online: publishing discovery and state again")
            self.loop.call_soon_threadsafe(self._reannounce)

    def _reannounce(self) -> None:
        self._sent = None
        self._announce()

    def _on_message(self, client, userdata, message) -> None:
        """Never raises (an exception would end paho's thread, and MQTT with it); never waits."""
        if message.topic == self.birth_topic:
            self._on_birth(message.payload)
            return
        try:
            if message.retain:  # left on the topic by someone, maybe long ago: never acted on, and cleared
                if message.payload:
                    self._ignored.warn(f"retained {message.topic}", "MQTT: ignored a retained command on %s and "
                                       "cleared it (commands are never retained)", message.topic)
                    client.publish(message.topic, b"", qos=1, retain=True)
                return
            if not message.payload:  # a retained message being cleared
                return
            request = parse_command(message.payload)
        except ValueError as e:
            self._ignored.warn(message.topic, "MQTT: ignored a command on %s: %s", message.topic, e)
            return
        except Exception:
            log.exception("MQTT: a command on %s failed", message.topic)
            return
        self.hub.commands.offer(request, self.loop)  # rate-limited and coalesced on the asyncio thread

    # -- the asyncio thread ------------------------------------------------------------------------

    def _on_hub_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in ("status", "link"):
            self._publish_state()

    def _announce(self) -> None:
        status = self.hub.status or {}
        labels = tuple(status.get("labels") or ())
        if labels:
            self._labels = labels
        device = ha.Device(self.device, self.base, self._labels, self.page, self.cfg.area)
        for topic, config in ha.configs(self.cfg.discovery_form, self.cfg.discovery, device).items():
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)
        self._publish_state()

    def _publish_state(self) -> None:
        status = self.hub.status
        if status and tuple(status.get("labels") or ()) != self._labels and self.client.is_connected():
            self._announce()  # the select's options come from the model's labels
            return
        self.client.publish(self.topic("availability"), "online" if self.hub.connected else "offline", retain=True)
        if status and self._due(status, force=not self.client.is_connected() or self._sent is None):
            self.client.publish(self.topic("state"), json.dumps({**status, "version": __version__}), retain=True)

    def _due(self, status: dict[str, Any], force: bool) -> bool:
        """Publish a change of mood, song, source, override or settings at once; the drifting valence and
        arousal at most every ``ATTRIBUTES_EVERY_S`` (Home Assistant records every state it gets)."""
        key = tuple(status.get(k) for k in ("mood", "source", "song", "volume", "paused", "strategy", "faces",
                                            "privacy", "camera_device", "model"))
        key += ((status.get("override") or {}).get("mood"),)
        now = time.monotonic()
        if force or self._sent is None or key != self._sent[0] or now - self._sent[1] >= ATTRIBUTES_EVERY_S:
            self._sent = (key, now)
            return True
        return False


def parse_command(payload: bytes) -> dict[str, Any]:
    """The socket request for an MQTT command payload; ``ValueError`` (saying why, never quoting the
    payload) for one it does not take: over ``MAX_PAYLOAD`` bytes, not UTF-8, not a command."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"{len(payload)} bytes, more than a command's {MAX_PAYLOAD}")
    text = payload.decode("utf-8", "replace").strip()
    if text in PLAIN_COMMANDS:
        return {"op": text}
    try:
        body = protocol.loads(payload)
    except protocol.BadRequest as e:
        raise ValueError(f"use one of {', '.join(PLAIN_COMMANDS)} or a JSON object ({e})") from None
    if not isinstance(body, dict):
        raise ValueError("a JSON command is an object")
    if "mood" in body:
        mood = None if body["mood"] in (None, CAMERA) else body["mood"]
        if not isinstance(mood, (str, type(None))):
            raise ValueError('"mood" is a label, "camera" or null')
        request = {"op": "mood", "mood": mood, "minutes": body.get("minutes", OVERRIDE_MINUTES)}
    else:
        op = next((op for op in ("volume", "strategy", "privacy") if op in body), None)
        if op is None:
            raise ValueError('a JSON command has "mood", "volume", "strategy" or "privacy"')
        request = {"op": op, "on" if op == "privacy" else op: body[op]}
    labels = [request["mood"]] if isinstance(request.get("mood"), str) else []  # the loop checks the label
    return protocol.check(request, labels)


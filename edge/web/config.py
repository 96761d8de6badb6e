"""The companion's ``[web]`` and ``[mqtt]`` settings (light: no aiohttp import), registered in edge.config
next to ``[control]`` so one TOML file serves both processes."""

from __future__ import annotations

from dataclasses import dataclass

from edge.settings import key

DISCOVERY_FORMS = ("device", "entity")  # edge.web.discovery.FORMS (kept light: no import of it here)


def split_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8080"`` for IPv6) as (host, port); ``ValueError`` says what is wrong."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"web.listen must be HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080, got {listen!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host:
        raise ValueError(f"web.listen needs a host (0.0.0.0 for every address), got {listen!r}")
    return host, int(port)


@dataclass(frozen=True)
class WebConfig:
    listen: str = key("127.0.0.1:8080", "HOST:PORT the phone page and API listen on "
                      "(0.0.0.0:8080: every address, your choice)")
    state_dir: str = key("", "folder of the access token (empty: $STATE_DIRECTORY, else /var/lib/moodplayer-web "
                         "where this user can write, else ~/.local/state/moodplayer-web)")
    hosts: str = key("", "more Host names the page answers to, comma-separated (e.g. a DNS name; addresses, "
                         "localhost and this machine's name always work)")
    max_connections: int = key(256, "open HTTP connections at most (8..65536; lowered to stay under the "
                                    "open-file limit; over it, the oldest idle one is closed)")

    def __post_init__(self) -> None:
        split_listen(self.listen)
        if not 8 <= self.max_connections <= 65536:
            raise ValueError(f"web.max_connections must be 8..65536, got {self.max_connections}")

    def host_names(self) -> tuple[str, ...]:
        return tuple(h.strip() for h in self.hosts.split(",") if h.strip())


@dataclass(frozen=True)
class MqttConfig:
    host: str = key("", "MQTT broker host for Home Assistant (empty: no MQTT)")
    port: int = key(1883, "MQTT broker TCP port (1..65535)")
    username: str = key("", "MQTT user name (empty: connect without one)")
    password_file: str = key("", "file holding the broker password, which keeps it out of the config (empty: none)")
    topic: str = key("", "base topic, no wildcards or trailing / (empty: moodplayer/<hostname>)")
    discovery: str = key("homeassistant", "Home Assistant's MQTT discovery prefix")
    discovery_form: str = key("device", "how entities are announced: device (one message, Home Assistant "
                                        "2024.11+) | entity (one message per entity, any Home Assistant)")
    area: str = key("", "the area Home Assistant suggests for the device, e.g. Living Room ('' = none)")

    def __post_init__(self) -> None:
        if self.discovery_form not in DISCOVERY_FORMS:
            raise ValueError(f"mqtt.discovery_form must be one of {', '.join(DISCOVERY_FORMS)} (device: Home "
                             f"Assistant 2024.11 or later; entity: older ones), got {self.discovery_form!r}")
        if len(self.area) > 100:
            raise ValueError(f"mqtt.area must be at most 100 characters, got {len(self.area)}")
        if not 0 < self.port < 65536:
            raise ValueError(f"mqtt.port must be 1..65535, got {self.port}")
        if any(c in self.topic for c in "#+") or self.topic.endswith("/"):
            raise ValueError(f"mqtt.topic must be a plain topic without wildcards or a trailing /, got {self.topic!r}")

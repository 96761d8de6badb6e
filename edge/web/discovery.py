"""Home Assistant MQTT discovery for moodplayer: the entities, and the two forms of announcing them.

Every entity reads the one retained state topic (``<base>/state``, the camera process's status JSON)
and is available while ``<base>/availability`` says ``online``. Commands go to ``<base>/command``.

=====================  ==============  ==============================================================
entity (object id)     platform        what
=====================  ==============  ==============================================================
mood                   sensor          ``device_class: enum``, ``options`` = the model's labels +
                                       ``uncertain`` (a coloured timeline in history; no state_class)
valence, arousal       sensor          -1..1, ``state_class: measurement`` (graphs, statistics)
confidence             sensor          %, measurement
faces                  sensor          faces seen, measurement
song                   sensor          the song's title (else its file name); title, artist, path as attributes
like, skip             button          feedback on the song playing
mood_override          select          ``camera`` or a label: holds that mood for 30 minutes
strategy               select          match | uplift
volume                 number          0..100 %, a slider
pause                  switch          on = paused
privacy                switch          on = the camera device is closed ("stop watching")
camera                 binary_sensor   diagnostic, connectivity: a camera is delivering frames
model, version         sensor          diagnostic: the model's name, the companion's version
=====================  ==============  ==============================================================

Forms (``mqtt.discovery_form``):

- ``device`` (the default): one retained message ``<prefix>/device/<id>/config`` with ``dev``, ``o``
  and ``cmps`` (Home Assistant 2024.11 and later). One message makes or updates the whole device at
  once, and the shared options (state and availability topics) are said once.
- ``entity``: one retained message per entity, ``<prefix>/<platform>/<id>/<object id>/config``,
  which every Home Assistant since 2023.8 reads (older ones ignore the ``o`` origin block).

Both carry the same ``unique_id`` per entity (``moodplayer_<id>_<object id>``), which depends only on
the device id (from ``mqtt.topic`` or the host name): stable across restarts, so Home Assistant keeps
the entities, their history and the user's renames. The entity id a new entity gets is
``<platform>.moodplayer_<id>_<object id>``: the per-entity form says so with ``object_id`` (what the
releases before 2024.11 read), the device form with ``default_entity_id`` (``object_id`` is deprecated
since 2025.10 and ignored since 2026.4; releases between 2024.11 and 2025.9 drop the key and derive the
same id from the device's and the entity's names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.music.config import STRATEGIES

CAMERA = "camera"  # the override select's option that gives the mood back to the camera
OVERRIDE_MINUTES = 30
UNCERTAIN = "uncertain"
FORMS = ("device", "entity")
ORIGIN = {"name": "moodplayer", "sw_version": __version__}


@dataclass(frozen=True)
class Device:
    """The device Home Assistant shows: ``id`` (topic-safe), ``base`` topic, and what its page lists."""

    id: str
    base: str
    labels: tuple[str, ...] = ()
    page: str = ""  # configuration_url: the phone page ("" = none reachable)
    area: str = ""  # suggested_area

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"identifiers": [f"moodplayer_{self.id}"], "name": f"moodplayer {self.id}",
                                "manufacturer": "moodplayer", "model": "camera mood player",
                                "sw_version": __version__}
        if self.page:
            info["configuration_url"] = self.page
        if self.area:
            info["suggested_area"] = self.area
        return info


def _measure(name: str, key: str, icon: str, unit: str | None = None, scale: float = 1.0) -> dict[str, Any]:
    value = f"value_json.{key}" if scale == 1.0 else f"(value_json.{key} * {scale:g}) | round(0)"
    config = {"name": name, "icon": icon, "state_class": "measurement", "platform": "sensor",
              "value_template": f"{{{{ {value} if value_json.{key} is not none else 'None' }}}}"}
    if unit:
        config["unit_of_measurement"] = unit
    return config


def entities(device: Device) -> dict[str, dict[str, Any]]:
    """object id -> the entity's config (with ``platform``), without the shared topics."""
    command = f"{device.base}/command"
    labels = [label for label in device.labels if label != UNCERTAIN]
    diagnostic = {"entity_category": "diagnostic"}
    return {
        "mood": {"platform": "sensor", "name": "Mood", "icon": "mdi:emoticon-outline", "device_class": "enum",
                 "options": [*labels, UNCERTAIN],
                 "value_template": "{{ value_json.mood if value_json.mood else '" + UNCERTAIN + "' }}",
                 "json_attributes_topic": f"{device.base}/state",
                 "json_attributes_template": "{{ {'valence': value_json.valence, 'arousal': value_json.arousal, "
                                             "'source': value_json.source, 'confidence': value_json.confidence} "
                                             "| tojson }}"},
        "valence": _measure("Valence", "valence", "mdi:emoticon-happy-outline"),
        "arousal": _measure("Arousal", "arousal", "mdi:lightning-bolt-outline"),
        "confidence": _measure("Confidence", "confidence", "mdi:percent-outline", "%", 100),
        "faces": _measure("Faces", "faces", "mdi:account-group"),
        "song": {"platform": "sensor", "name": "Song", "icon": "mdi:music", "value_template": "{{ value_json.song_name }}",
                 "json_attributes_topic": f"{device.base}/state",
                 "json_attributes_template": "{{ {'title': value_json.title, 'artist': value_json.artist, "
                                             "'path': value_json.song} | tojson }}"},
        "like": {"platform": "button", "name": "Like", "icon": "mdi:heart", "command_topic": command,
                 "payload_press": "like"},
        "skip": {"platform": "button", "name": "Skip", "icon": "mdi:skip-next", "command_topic": command,
                 "payload_press": "skip"},
        "mood_override": {
            "platform": "select", "name": "Mood override", "icon": "mdi:emoticon-cool-outline", "command_topic": command,
            "options": [CAMERA, *labels],
            "value_template": "{{ value_json.override.mood if value_json.override else '" + CAMERA + "' }}",
            "command_template": '{"mood": "{{ value }}", "minutes": ' + str(OVERRIDE_MINUTES) + "}"},
        "strategy": {"platform": "select", "name": "Strategy", "icon": "mdi:compass-outline", "command_topic": command,
                     "options": list(STRATEGIES), "value_template": "{{ value_json.strategy }}",
                     "command_template": '{"strategy": "{{ value }}"}'},
        "volume": {"platform": "number", "name": "Volume", "icon": "mdi:volume-high", "command_topic": command,
                   "min": 0, "max": 100, "step": 1, "mode": "slider", "unit_of_measurement": "%",
                   "value_template": "{{ (value_json.volume * 100) | round(0) if value_json.volume is not none "
                                     "else 'None' }}",
                   "command_template": '{"volume": {{ value / 100 }}}'},
        "pause": {"platform": "switch", "name": "Pause", "icon": "mdi:pause", "command_topic": command,
                  "payload_on": "pause", "payload_off": "resume", "state_on": "ON", "state_off": "OFF",
                  "value_template": "{{ 'ON' if value_json.paused else 'OFF' }}"},
        "privacy": {"platform": "switch", "name": "Privacy", "icon": "mdi:cctv-off", "command_topic": command,
                    "payload_on": '{"privacy": true}', "payload_off": '{"privacy": false}',
                    "state_on": "ON", "state_off": "OFF",
                    "value_template": "{{ 'ON' if value_json.privacy else 'OFF' }}"},
        "camera": {"platform": "binary_sensor", "name": "Camera", "device_class": "connectivity", **diagnostic,
                   "value_template": "{{ 'ON' if value_json.camera_device == 'on' else 'OFF' }}"},
        "model": {"platform": "sensor", "name": "Model", "icon": "mdi:brain", **diagnostic,
                  "value_template": "{{ value_json.model }}"},
        "version": {"platform": "sensor", "name": "Version", "icon": "mdi:information-outline", **diagnostic,
                    "value_template": "{{ value_json.version }}"},
    }


def unique_id(device: Device, object_id: str) -> str:
    return f"moodplayer_{device.id}_{object_id}"


def _shared(device: Device) -> dict[str, Any]:
    return {"availability_topic": f"{device.base}/availability", "state_topic": f"{device.base}/state"}


def per_entity(prefix: str, device: Device) -> dict[str, dict[str, Any]]:
    """topic -> payload, one retained config per entity (every Home Assistant with MQTT discovery)."""
    out = {}
    for object_id, config in entities(device).items():
        config = dict(config)
        platform = config.pop("platform")
        payload = {**_shared(device), **config, "unique_id": unique_id(device, object_id),
                   "object_id": unique_id(device, object_id), "device": device.info(), "origin": ORIGIN}
        if platform == "button":
            payload.pop("state_topic")
        out[f"{prefix}/{platform}/{device.id}/{object_id}/config"] = payload
    return out


def device_based(prefix: str, device: Device) -> dict[str, dict[str, Any]]:
    """topic -> payload: the one device message (Home Assistant 2024.11+); shared topics said once."""
    components = {}
    for object_id, config in entities(device).items():  # default_entity_id: object_id's successor (2025.10)
        components[object_id] = {**config, "unique_id": unique_id(device, object_id),
                                 "default_entity_id": f"{config['platform']}.{unique_id(device, object_id)}"}
    payload = {"dev": device.info(), "o": ORIGIN, **_shared(device), "cmps": components}
    return {f"{prefix}/device/{device.id}/config": payload}


def configs(form: str, prefix: str, device: Device) -> dict[str, dict[str, Any]]:
    """The retained discovery messages of ``form`` (``device`` or ``entity``)."""
    if form not in FORMS:
        raise ValueError(f"mqtt.discovery_form must be one of {', '.join(FORMS)}, got {form!r}")
    return device_based(prefix, device) if form == "device" else per_entity(prefix, device)

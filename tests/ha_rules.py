"""Home Assistant's own rules for MQTT discovery payloads, per platform, transcribed from its source
(homeassistant/components/mqtt/*.py, sensor/__init__.py, binary_sensor/__init__.py of Home Assistant Core
2024.1.6, and mqtt/sensor.py's ``validate_sensor_state_and_device_class_config`` and mqtt/discovery.py's
device-based discovery of later releases). ``problems(platform, config)`` lists what Home Assistant would
refuse or log as an error; tests/homeassistant/run.sh checks the same payloads with a real Home Assistant.
"""

from __future__ import annotations

import re
from typing import Any

#: homeassistant/components/sensor/const.py SensorDeviceClass (the ones a mood player could use).
SENSOR_DEVICE_CLASSES = {"enum", "timestamp", "date", "duration", "power_factor", "signal_strength",
                         "sound_pressure", "temperature", "humidity", "battery", "data_size", "data_rate"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}  # SensorStateClass
BINARY_DEVICE_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                         "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
                         "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
                         "tamper", "update", "vibration", "window"}  # BinarySensorDeviceClass
ENTITY_CATEGORIES = {"config", "diagnostic"}  # homeassistant/helpers/entity.py EntityCategory
NUMBER_MODES = {"auto", "box", "slider"}
#: The platforms device-based discovery accepts (mqtt/const.py SUPPORTED_COMPONENTS, the ones used here).
PLATFORMS = {"sensor", "binary_sensor", "button", "select", "number", "switch"}
COMMANDED = {"button", "select", "number", "switch"}  # command_topic is vol.Required in their schemas


def _topic_ok(topic: Any) -> bool:  # mqtt/util.py valid_publish_topic / valid_subscribe_topic
    return isinstance(topic, str) and bool(topic) and "\0" not in topic and len(topic.encode()) <= 65535


def problems(platform: str, config: dict[str, Any]) -> list[str]:
    """What Home Assistant would refuse in ``config`` for ``platform`` (empty: accepted)."""
    out: list[str] = []
    if platform not in PLATFORMS:
        return [f"unknown platform {platform!r}"]
    if platform in COMMANDED and not (_topic_ok(config.get("command_topic")) and "#" not in config["command_topic"]
                                      and "+" not in config["command_topic"]):
        out.append("command_topic is required and must be a publishable topic")
    for key in ("state_topic", "availability_topic", "json_attributes_topic"):
        if key in config and not _topic_ok(config[key]):
            out.append(f"{key} must be a topic")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        out.append("unique_id: required (device-based discovery) and what keeps the entity across restarts")
    category = config.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        out.append(f"entity_category {category!r} is not one of {sorted(ENTITY_CATEGORIES)}")
    if platform == "sensor":
        out += _sensor(config)
    elif platform == "binary_sensor":
        if config.get("device_class") not in (None, *BINARY_DEVICE_CLASSES):
            out.append(f"binary_sensor device_class {config['device_class']!r} is unknown")
    elif platform == "select":
        options = config.get("options")
        if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
            out.append("select options: a non-empty list of strings is required")
    elif platform == "number":
        if not config.get("min", 1) < config.get("max", 100):  # mqtt/number.py validate_config
            out.append("number: 'max' must be > 'min'")
        if float(config.get("step", 1)) < 1e-3:
            out.append("number: step must be at least 0.001")
        if config.get("mode", "auto") not in NUMBER_MODES:
            out.append(f"number: mode must be one of {sorted(NUMBER_MODES)}")
    return out


def _sensor(config: dict[str, Any]) -> list[str]:
    out = []
    device_class, state_class = config.get("device_class"), config.get("state_class")
    unit, options = config.get("unit_of_measurement"), config.get("options")
    if device_class not in (None, *SENSOR_DEVICE_CLASSES):
        out.append(f"sensor device_class {device_class!r} is unknown")
    if state_class not in (None, *STATE_CLASSES):
        out.append(f"sensor state_class {state_class!r} is unknown")
    if config.get("entity_category") == "config":  # mqtt/mixins.py validate_sensor_entity_category
        out.append("a sensor's entity_category can't be config")
    if options is not None:  # mqtt/sensor.py validate_sensor_state_and_device_class_config
        if not options:
            out.append("An empty options list is not allowed")
        if state_class or unit:
            out.append("Specifying `options` is not allowed together with the `state_class` or "
                       "`unit_of_measurement` option")
        if device_class != "enum":
            out.append("The option `options` must be used together with device class `enum`")
    if device_class == "enum" and (state_class or unit):  # sensor/__init__.py: a non-numeric device class
        out.append("an enum sensor can't have a state_class or a unit (it is not numeric)")
    return out


def device_problems(payload: dict[str, Any]) -> list[str]:
    """A device-based discovery message (``<prefix>/device/<id>/config``, Home Assistant 2024.11+): ``dev``
    with identifiers, ``o`` with a name, ``cmps`` of components each with ``platform``; the root's shared
    options (topics) apply to every component."""
    out = []
    dev, origin, components = payload.get("dev"), payload.get("o"), payload.get("cmps")
    if not isinstance(dev, dict) or not dev.get("identifiers"):
        out.append("dev: a device with identifiers is required")
    if not isinstance(origin, dict) or not origin.get("name"):
        out.append("o: an origin with a name is required")
    if not isinstance(components, dict) or not components:
        return out + ["cmps: a non-empty object of components is required"]
    shared = {k: v for k, v in payload.items() if k not in ("dev", "o", "cmps")}
    for object_id, component in components.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", object_id):
            out.append(f"cmps: {object_id!r} is not a valid object id")
        platform = component.get("platform")
        if "object_id" in component:  # mqtt/entity.py since 2025.10: a deprecation warning, ignored from 2026.4
            out.append(f"{object_id}: object_id is deprecated, use default_entity_id")
        default = component.get("default_entity_id")
        if default is not None and not re.fullmatch(rf"{platform}\.[a-z0-9_]+", str(default)):
            out.append(f"{object_id}: default_entity_id must be {platform}.<lowercase id>, got {default!r}")
        out += [f"{object_id}: {p}" for p in problems(platform, {**shared, **component})]
    return out

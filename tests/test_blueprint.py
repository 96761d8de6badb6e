"""The Home Assistant blueprint in blueprints/: valid YAML (with Home Assistant's ``!input`` tag) that meets
the blueprint schema's keys, as home-assistant/core's ``homeassistant/components/blueprint/schemas.py``
declares them (``BLUEPRINT_SCHEMA``, ``BLUEPRINT_INPUT_SCHEMA``, ``BLUEPRINT_INPUT_SECTION_SCHEMA``,
``unique_input_validator``, ``version_validator``), rewritten here as plain checks (a stand-in: Home
Assistant itself is not installed), and an automation whose every ``!input`` is declared and used. A real
Home Assistant loads it and runs an automation from it in tests/homeassistant/run.sh (not in the default run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.types import EMOTIONS
from edge.web import discovery as ha

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = ROOT / "blueprints" / "automation" / "moodplayer" / "mood_playlist.yaml"

BLUEPRINT_KEYS = {"name", "description", "domain", "source_url", "author", "homeassistant", "input", "discovery"}
INPUT_KEYS = {"name", "description", "default", "selector"}
SECTION_KEYS = {"name", "icon", "description", "collapsed", "input"}
#: Selector types used here, with the options Home Assistant's selectors accept for them.
SELECTORS = {"entity": {"filter", "multiple", "include_entities", "exclude_entities", "reorder"},
             "number": {"min", "max", "step", "unit_of_measurement", "mode"},
             "select": {"options", "custom_value", "multiple", "mode", "translation_key", "sort"},
             "text": {"multiline", "type", "suffix", "prefix", "autocomplete", "multiple"}}
AUTOMATION_KEYS = {"blueprint", "alias", "description", "mode", "max", "max_exceeded", "variables", "trigger_variables",
                   "triggers", "conditions", "actions", "trace"}


class Input(str):
    """A ``!input name`` reference."""


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader plus Home Assistant's ``!input`` tag."""


Loader.add_constructor("!input", lambda loader, node: Input(loader.construct_scalar(node)))


def load() -> dict:
    return yaml.load(BLUEPRINT.read_text(), Loader=Loader)  # noqa: S506 (a SafeLoader subclass)


def inputs(declared: dict) -> dict[str, dict | None]:
    """Every input, out of its section; a name declared twice fails (``unique_input_validator``)."""
    found: dict[str, dict | None] = {}
    for key, value in declared.items():
        items = value["input"].items() if value and "input" in value else [(key, value)]
        for name, spec in items:
            assert name not in found, f"input {name} declared twice"
            found[name] = spec
    return found


def references(node) -> set[str]:
    if isinstance(node, Input):
        return {str(node)}
    if isinstance(node, dict):
        return set().union(*map(references, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(references, node)) if node else set()
    return set()


def test_the_blueprint_meets_home_assistants_blueprint_schema() -> None:
    data = load()
    meta = data["blueprint"]
    assert set(meta) <= BLUEPRINT_KEYS and isinstance(meta["name"], str) and meta["domain"] == "automation"
    assert isinstance(meta["description"], str) and "sensor.moodplayer_" in meta["description"]
    version = meta["homeassistant"]["min_version"]
    assert isinstance(version, str) and len(version.split(".")) == 3 and all(p.isdigit() for p in version.split("."))
    assert tuple(map(int, version.split("."))) >= (2024, 10, 0)  # triggers:/actions: and input sections
    for key, value in meta["input"].items():
        if value and "input" in value:
            assert set(value) <= SECTION_KEYS, key
            assert all(isinstance(value.get(k, ""), str) for k in ("name", "icon", "description"))
    for name, spec in inputs(meta["input"]).items():
        assert spec is None or set(spec) <= INPUT_KEYS, name
        [(kind, options)] = spec["selector"].items()
        assert kind in SELECTORS and set(options or {}) <= SELECTORS[kind], (name, kind)


def test_the_automation_uses_exactly_the_declared_inputs() -> None:
    data = load()
    declared = inputs(data["blueprint"]["input"])
    body = {k: v for k, v in data.items() if k != "blueprint"}
    assert set(body) <= AUTOMATION_KEYS and {"triggers", "actions"} <= set(body)
    assert references(body) == set(declared)
    assert references(data["blueprint"]) == set()  # no !input inside the metadata


def test_it_fits_moodplayers_mood_sensor() -> None:
    data = load()
    declared = inputs(data["blueprint"]["input"])
    assert set(data["variables"]["playlists"]) == set(EMOTIONS)  # a playlist for every mood, no other
    assert {m for m in EMOTIONS if declared[m]["default"] == ""} == set(EMOTIONS)  # empty: change nothing
    [trigger] = data["triggers"]
    assert trigger["trigger"] == "state" and trigger["entity_id"] == "mood_sensor"
    assert "to" in trigger and trigger["to"] is None  # a new mood only, never the drifting attributes
    [action] = data["actions"]
    assert action["action"] == "media_player.play_media" and action["target"]["entity_id"] == "media_player"
    sensor_filter = declared["mood_sensor"]["selector"]["entity"]["filter"][0]
    assert sensor_filter == {"domain": "sensor", "integration": "mqtt"}
    # The sensor the description names is the one moodplayer's MQTT discovery announces.
    device = ha.Device("livingroom", "moodplayer/livingroom", tuple(EMOTIONS))
    configs = ha.configs("entity", "homeassistant", device)
    mood = next(c for topic, c in configs.items() if topic.startswith("homeassistant/sensor/") and
                c["object_id"].endswith("_mood"))
    assert mood["object_id"].startswith("moodplayer_") and "sensor.moodplayer_<device>_mood" in \
        data["blueprint"]["description"]
    (payload,) = ha.configs("device", "homeassistant", device).values()  # the default form says the same id
    assert payload["cmps"]["mood"]["default_entity_id"] == "sensor.moodplayer_livingroom_mood"

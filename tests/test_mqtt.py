"""The companion's MQTT side against a real mosquitto on a free loopback port: Home Assistant discovery and
retained state, commands honoured by the real loop, and the broker killed and restarted mid-run."""

from __future__ import annotations

import json
import shutil
import signal
import threading

import pytest

from benchmarks import clips
from tests import ha_rules
from tests.web_rig import (
    Http,
    free_port,
    of_type,
    read_events,
    short_dir,
    start_broker,
    start_companion,
    start_loop,
    token,
    wait_for,
)

mqtt = pytest.importorskip("paho.mqtt.client", reason="the companion needs the web extra: pip install -e '.[web]'")
BASE = "moodplayer/testpi"
DEVICE_TOPIC = "homeassistant/device/testpi/config"


class Listener:
    """A real MQTT client that records the last payload of every topic under ``#``."""

    def __init__(self, port: int) -> None:
        self.last: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *a: c.subscribe("#")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        with self.lock:
            self.last[message.topic] = message.payload

    def get(self, topic: str) -> bytes | None:
        with self.lock:
            return self.last.get(topic)

    def json(self, topic: str):
        payload = self.get(topic)
        return json.loads(payload) if payload else None

    def send(self, payload: str) -> None:
        self.client.publish(f"{BASE}/command", payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_discovery_state_commands_and_a_broker_that_dies_and_comes_back(tmp_path):
    folder = short_dir()
    port, web_port = free_port(), free_port()
    broker = start_broker(tmp_path, port)
    video = clips.empty_video(tmp_path / "empty.mp4", 50)
    events = tmp_path / "events.jsonl"
    config = tmp_path / "web.toml"
    config.write_text(f'[mqtt]\ntopic = "{BASE}"\n')
    loop = start_loop(video, folder / "c.sock", events, tmp_path / "loop.log", "--music-state-dir",
                      str(tmp_path / "loop-state"))
    web = start_companion(folder / "c.sock", web_port, tmp_path / "state", tmp_path / "web.log", "--config",
                          str(config), "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port))
    listener = Listener(port)
    http = Http(web_port)
    bearer, _ = token(tmp_path / "state", web_port)
    try:  # the default form: one device message
        device = wait_for(lambda: listener.json(DEVICE_TOPIC), 20, "device discovery", web)
        assert ha_rules.device_problems(device) == [], device
        assert device["state_topic"] == f"{BASE}/state" and device["availability_topic"] == f"{BASE}/availability"
        mood = device["cmps"]["mood"]
        assert "valence" in mood["json_attributes_template"] and mood["unique_id"] == "moodplayer_testpi_mood"
        assert device["cmps"]["mood_override"]["options"][0] == "camera"
        assert "sad" in device["cmps"]["mood_override"]["options"]
        assert listener.get("homeassistant/sensor/testpi/mood/config") is None  # not both forms
        wait_for(lambda: listener.get(f"{BASE}/availability") == b"online", 10, "online")
        assert wait_for(lambda: listener.json(f"{BASE}/state"), 10, "state")["mood"] == "uncertain"

        listener.send('{"mood": "sad", "minutes": 30}')
        wait_for(lambda: (listener.json(f"{BASE}/state") or {}).get("source") == "override", 20, "override state")
        wait_for(lambda: (listener.json(f"{BASE}/state") or {}).get("song"), 20, "a song in the state")
        listener.send("skip")
        wait_for(lambda: of_type(read_events(events), "skip"), 20, "the skip in the events log", loop)

        # The broker dies: the page, the API and the loop carry on; it comes back: so does MQTT.
        frames = len(of_type(read_events(events), "frame"))
        broker.stop(signal.SIGKILL)
        assert http.bearer("POST", "/api/like", bearer)[0] == 200
        wait_for(lambda: of_type(read_events(events), "like"), 20, "a like from the page's API", loop)
        wait_for(lambda: len(of_type(read_events(events), "frame")) >= frames + 20, 30, "frames without a broker", loop)
        assert http.bearer("GET", "/api/status", bearer)[0] == 200
        listener.close()
        broker = start_broker(tmp_path, port)  # empty: no persistence, the retained messages are gone
        listener = Listener(port)
        wait_for(lambda: listener.get(f"{BASE}/availability") == b"online", 40, "online again", web)
        assert wait_for(lambda: listener.json(DEVICE_TOPIC), 10, "discovery again")["cmps"]["mood"]["name"] == "Mood"
        wait_for(lambda: listener.json(f"{BASE}/state"), 10, "state again")
        listener.send('{"mood": null}')
        wait_for(lambda: [e for e in of_type(read_events(events), "override") if e.get("reason") == "cleared"], 20,
                 "the override cleared over MQTT", loop)
        assert web.popen.poll() is None and loop.popen.poll() is None
        # A clean stop says offline (retained), as the last will would if it died.
        web.stop()
        wait_for(lambda: listener.get(f"{BASE}/availability") == b"offline", 10, "offline")
    finally:
        listener.close()
        web.stop()
        loop.stop()
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_commands_parse_like_home_assistant_sends_them():
    from edge.web.mqtt import parse_command

    assert parse_command(b"skip") == {"op": "skip"}
    assert parse_command(b'{"mood": "sad", "minutes": 30}') == {"op": "mood", "mood": "sad", "minutes": 30}
    assert parse_command(b'{"mood": "camera", "minutes": 30}')["mood"] is None  # the select's "camera"
    assert parse_command(b'{"volume": 0.3}') == {"op": "volume", "volume": 0.3}
    assert parse_command(b'{"privacy": true}') == {"op": "privacy", "on": True}
    for bad in (b"dance", b"[1]", b'{"colour": "red"}'):
        with pytest.raises(ValueError):
            parse_command(bad)


ENTITIES = {"sensor": ["mood", "valence", "arousal", "confidence", "faces", "song", "model", "version"],
            "button": ["like", "skip"], "select": ["mood_override", "strategy"], "number": ["volume"],
            "switch": ["pause", "privacy"], "binary_sensor": ["camera"]}


def entity_topics() -> dict[str, str]:
    return {name: f"homeassistant/{platform}/testpi/{name}/config"
            for platform, names in ENTITIES.items() for name in names}


def test_every_payload_passes_home_assistants_rules_in_both_forms():
    from edge.web import discovery as ha

    device = ha.Device("testpi", BASE, ("angry", "happy", "sad"), "http://192.0.2.5:8080/", "Living Room")
    for topic, payload in ha.configs("entity", "homeassistant", device).items():
        platform = topic.split("/")[1]
        assert ha_rules.problems(platform, payload) == [], (topic, payload)
    (payload,) = ha.configs("device", "homeassistant", device).values()
    assert ha_rules.device_problems(payload) == []
    assert payload["dev"]["configuration_url"] == "http://192.0.2.5:8080/"
    assert payload["dev"]["suggested_area"] == "Living Room" and payload["dev"]["sw_version"]
    # the rules are not a rubber stamp: an enum with a state_class, a select without options are refused
    mood = {**payload["cmps"]["mood"], "state_class": "measurement", "unique_id": "x"}
    assert ha_rules.problems("sensor", mood)
    assert ha_rules.problems("select", {"command_topic": "a/b", "unique_id": "x", "options": []})
    with pytest.raises(ValueError, match="discovery_form"):
        ha.configs("both", "homeassistant", device)
    from edge import config as configs

    with pytest.raises(configs.ConfigError, match=r"mqtt.discovery_form must be one of device, entity"):
        configs.load(None, {"mqtt.discovery_form": "both"})
    assert configs.load(None, {}).mqtt.discovery_form == "device"


def test_entity_form_privacy_birth_message_and_a_companion_restart(tmp_path):
    folder = short_dir()
    port, web_port = free_port(), free_port()
    broker = start_broker(tmp_path, port)
    video = clips.empty_video(tmp_path / "empty.mp4", 50)
    events, loop_state = tmp_path / "events.jsonl", tmp_path / "loop-state"
    config = tmp_path / "web.toml"
    config.write_text(f'[mqtt]\ntopic = "{BASE}"\ndiscovery_form = "entity"\narea = "Living Room"\n')
    companion = ("--config", str(config), "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port))
    loop = start_loop(video, folder / "c.sock", events, tmp_path / "loop.log", "--music-state-dir", str(loop_state))
    web = start_companion(folder / "c.sock", web_port, tmp_path / "state", tmp_path / "web.log", *companion)
    listener = Listener(port)
    state = lambda: listener.json(f"{BASE}/state") or {}
    try:
        topics = entity_topics()
        first = {name: wait_for(lambda t=topic: listener.json(t), 20, topic, web) for name, topic in topics.items()}
        for name, payload in first.items():
            assert ha_rules.problems(topics[name].split("/")[1], payload) == [], (name, payload)
            assert payload["availability_topic"] == f"{BASE}/availability" and payload["device"]["suggested_area"]
        labels = wait_for(lambda: state().get("labels"), 20, "state with labels")
        wait_for(lambda: listener.json(topics["mood"])["options"] == [*labels, "uncertain"], 10, "mood options")
        assert "state_class" not in first["mood"] and first["valence"]["state_class"] == "measurement"
        assert listener.get(DEVICE_TOPIC) is None

        listener.send('{"privacy": true}')
        wait_for(lambda: state().get("camera_device") == "off (by the listener)" and state()["privacy"], 20,
                 "privacy on in the state", loop)
        assert json.loads((loop_state / "privacy.json").read_text())["camera_off"] is True

        # Home Assistant restarts (its retained configs are gone from its memory): it says "online" on
        # homeassistant/status; the companion announces itself again. Emptied topics show it did.
        for topic in (topics["mood"], f"{BASE}/state"):
            listener.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        wait_for(lambda: listener.get(topics["mood"]) == b"", 10, "emptied")
        listener.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
        assert wait_for(lambda: listener.json(topics["mood"]), 10, "discovery after the birth message")
        wait_for(lambda: state().get("privacy") is True, 10, "state after the birth message")

        # The companion restarts: the same unique ids, and privacy is still on (the camera process keeps it).
        web.stop()
        listener.last.clear()
        web = start_companion(folder / "c.sock", web_port, tmp_path / "state", tmp_path / "web2.log", *companion)
        again = {name: wait_for(lambda t=topic: listener.json(t), 20, topic, web) for name, topic in topics.items()}
        assert {n: p["unique_id"] for n, p in again.items()} == {n: p["unique_id"] for n, p in first.items()}
        wait_for(lambda: state().get("privacy") is True, 20, "privacy kept across the companion's restart")
        listener.send('{"privacy": false}')
        wait_for(lambda: state().get("camera_device") == "on" and state().get("privacy") is False, 20,
                 "privacy off", loop)
        cams = [e["state"] for e in of_type(read_events(events), "camera")]
        assert cams == ["off (by the listener)", "on"]
    finally:
        listener.close()
        web.stop()
        loop.stop()
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)

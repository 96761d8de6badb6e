"""The companion's MQTT side against a real mosquitto on a free loopback port: Home Assistant discovery and
retained state, commands honoured by the real loop, and the broker killed and restarted mid-run."""

from __future__ import annotations

import json
import shutil
import signal
import threading
from pathlib import Path

import pytest

from benchmarks import clips
from tests.web_rig import (Http, Proc, free_port, of_type, port_open, read_events, short_dir, start_companion,
                           start_loop, token, wait_for)

mqtt = pytest.importorskip("paho.mqtt.client", reason="the companion needs the web extra: pip install -e '.[web]'")
MOSQUITTO = "/usr/sbin/mosquitto"
BASE = "moodplayer/testpi"


def start_broker(folder: Path, port: int) -> Proc:
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"no {MOSQUITTO}: apt install mosquitto")
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = Proc("mosquitto", [MOSQUITTO, "-c", str(conf)], folder / "mosquitto.log")
    wait_for(lambda: port_open(port), 10, "mosquitto listening", broker)
    return broker


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
    loop = start_loop(video, folder / "c.sock", events, tmp_path / "loop.log")
    web = start_companion(folder / "c.sock", web_port, tmp_path / "state", tmp_path / "web.log", "--config",
                          str(config), "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port))
    listener = Listener(port)
    http = Http(web_port)
    bearer, _ = token(tmp_path / "state", web_port)
    try:
        mood = wait_for(lambda: listener.json("homeassistant/sensor/testpi/mood/config"), 20, "mood discovery", web)
        assert mood["state_topic"] == f"{BASE}/state" and "valence" in mood["json_attributes_template"]
        assert mood["availability_topic"] == f"{BASE}/availability" and mood["unique_id"] == "moodplayer_testpi_mood"
        select = wait_for(lambda: listener.json("homeassistant/select/testpi/mood_override/config"), 10, "select")
        assert select["options"][0] == "camera" and "sad" in select["options"]
        for name in ("button/testpi/like", "button/testpi/skip", "sensor/testpi/song"):
            assert wait_for(lambda: listener.json(f"homeassistant/{name}/config"), 10, name)["unique_id"]
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
        assert listener.json("homeassistant/sensor/testpi/mood/config")["name"] == "Mood"
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
    for bad in (b"dance", b"[1]", b'{"colour": "red"}'):
        with pytest.raises(ValueError):
            parse_command(bad)

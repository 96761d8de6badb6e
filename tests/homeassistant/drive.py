"""Drive a real Home Assistant Core against moodplayer (run by tests/homeassistant/run.sh, which says how).

On loopback: a mosquitto broker, the camera loop (a looped clip, real music, its control socket), the
companion with MQTT, and Home Assistant with an MQTT config entry for that broker (written into
``.storage/core.config_entries`` before its first start), a user made with ``hass --script auth`` and
logged in through its login flow for a token (no onboarding: it would pull in the recorder).
Checks that every entity appears with the expected state, then presses like and skip, sets volume,
strategy and the mood override and turns privacy on and off through Home Assistant's services, and
checks in the loop's events log that each reached the loop. Then the blueprint in blueprints/ (copied
into Home Assistant's config folder before the start): Home Assistant lists it (websocket
``blueprint/list``), accepts an automation made from it (the automation editor's REST endpoint), mood
overrides to happy and sad make that automation play their playlists on a media player (a ``universal``
player whose play_media writes the id into an ``input_text``: Home Assistant has no real speaker here),
and angry, left empty, stops at the blueprint's condition (websocket ``trace/list``) and plays nothing.
Where Home Assistant is older than the blueprint's ``min_version`` the summary says so instead.
Prints one summary line; exit 0 pass, 1 a failed check, 77 cannot run here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import clips
from edge import __version__
from tests.web_rig import (
    Proc,
    free_port,
    of_type,
    port_open,
    read_events,
    short_dir,
    start_companion,
    start_loop,
)

DEVICE = "testpi"
BASE = f"moodplayer/{DEVICE}"
MOSQUITTO = "/usr/sbin/mosquitto"
USER, PASSWORD = "moodplayer", "moodplayer-test"
AREA = "Living Room"
BLUEPRINT = ROOT / "blueprints" / "automation" / "moodplayer" / "mood_playlist.yaml"
BLUEPRINT_PATH = "moodplayer/mood_playlist.yaml"  # under <config>/blueprints/automation/
PLAYER, PLAYED = "media_player.living_room_speaker", "input_text.played"
AUTOMATION_ID = "moodplayer_test"
#: The automation's playlists; the other moods, EMPTY_MOOD among them, are left empty (nothing plays for them).
PLAYLISTS = {"happy": "spotify:playlist:moodplayer-test-happy", "sad": "spotify:playlist:moodplayer-test-sad"}
EMPTY_MOOD = "angry"
#: object id -> Home Assistant domain; the entity ids are <domain>.moodplayer_<device>_<object id>.
ENTITIES = {"mood": "sensor", "valence": "sensor", "arousal": "sensor", "confidence": "sensor", "faces": "sensor",
            "song": "sensor", "model": "sensor", "version": "sensor", "like": "button", "skip": "button",
            "mood_override": "select", "strategy": "select", "volume": "number", "pause": "switch",
            "privacy": "switch", "camera": "binary_sensor"}


def entity(name: str) -> str:
    return f"{ENTITIES[name]}.moodplayer_{DEVICE}_{name}"


class Failed(Exception):
    pass


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
        except (OSError, KeyError, ValueError, TypeError):
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise Failed(f"timed out after {timeout:g} s: {what}")


class HomeAssistant:
    """Its REST API on loopback."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.token = ""

    def call(self, method: str, path: str, body: Any = None, form: dict | None = None) -> Any:
        data, headers = None, {}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        if path == "/api/template":
            return text.decode()
        return json.loads(text) if text else None

    def login(self) -> None:
        """Log in as the user ``hass --script auth add`` made (the login flow the frontend uses), then
        trade the code for a token (OAuth2 code grant)."""
        client = self.url + "/"
        flow = self.call("POST", "/auth/login_flow", {"client_id": client, "handler": ["homeassistant", None],
                                                      "redirect_uri": client})
        done = self.call("POST", f"/auth/login_flow/{flow['flow_id']}",
                         {"client_id": client, "username": USER, "password": PASSWORD})
        token = self.call("POST", "/auth/token", form={"grant_type": "authorization_code",
                                                        "code": done["result"], "client_id": client})
        self.token = token["access_token"]

    def states(self) -> dict[str, dict]:
        return {s["entity_id"]: s for s in self.call("GET", "/api/states")}

    def state(self, entity_id: str) -> dict:
        return self.call("GET", f"/api/states/{entity_id}")

    def service(self, domain: str, service: str, **data: Any) -> None:
        self.call("POST", f"/api/services/{domain}/{service}", data)

    def command(self, message: dict) -> Any:
        """One websocket command (``/api/websocket``, authenticated with the token); its result."""
        import aiohttp

        async def run() -> Any:
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    self.url.replace("http", "ws", 1) + "/api/websocket", timeout=30) as ws:
                await ws.receive_json(timeout=30)  # auth_required
                await ws.send_json({"type": "auth", "access_token": self.token})
                if (answer := await ws.receive_json(timeout=30))["type"] != "auth_ok":
                    raise Failed(f"websocket auth: {answer}")
                await ws.send_json({"id": 1, **message})
                answer = await ws.receive_json(timeout=30)
            if not answer.get("success"):
                raise Failed(f"websocket {message['type']}: {answer.get('error')}")
            return answer["result"]

        return asyncio.run(run())


def write_config(folder: Path, http_port: int, broker_port: int, player: bool) -> None:
    """configuration.yaml, the MQTT config entry and the blueprint; with ``player`` the stand-in speaker:
    a universal media player whose play_media writes its media_content_id into input_text.played."""
    (folder / ".storage").mkdir(parents=True)
    (folder / "blueprints" / "automation" / "moodplayer").mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder / "blueprints" / "automation" / BLUEPRINT_PATH)
    (folder / "automations.yaml").write_text("[]\n")
    speaker = ("input_text:\n  played:\n    name: played\n    max: 255\n"
               "media_player:\n  - platform: universal\n    name: Living room speaker\n    commands:\n"
               "      play_media:\n        action: input_text.set_value\n"
               f"        target:\n          entity_id: {PLAYED}\n"
               "        data:\n          value: '{{ media_content_id }}'\n") if player else ""
    (folder / "configuration.yaml").write_text(
        "homeassistant:\n  name: moodplayer test\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
        "  unit_system: metric\n  time_zone: UTC\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {http_port}\n"
        "api:\nauth:\nwebsocket_api:\nconfig:\nautomation: !include automations.yaml\n" + speaker +
        "logger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: info\n")
    entry = {"entry_id": "moodplayertest00000000000000001", "version": 1, "minor_version": 1, "domain": "mqtt",
             "title": "127.0.0.1", "source": "user", "unique_id": None, "disabled_by": None, "options": {},
             "pref_disable_new_entities": False, "pref_disable_polling": False,
             "data": {"broker": "127.0.0.1", "port": broker_port, "discovery": True,
                      "discovery_prefix": "homeassistant"}}
    (folder / ".storage" / "core.config_entries").write_text(json.dumps(
        {"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [entry]}}))


def check_entities(ha: HomeAssistant, labels: list[str], model: str) -> list[str]:
    """Every entity there, available, with the state the loop's status implies."""
    states = until(lambda: (s := ha.states()) and all(entity(n) in s and s[entity(n)]["state"] != "unavailable"
                                                      for n in ENTITIES) and s, 240, "all 16 entities available")
    st = lambda n: states[entity(n)]
    problems = []
    expect = {
        "mood": lambda s: s["state"] in [*labels, "uncertain"] and s["attributes"].get("device_class") == "enum"
        and s["attributes"].get("options", [*labels, "uncertain"]) == [*labels, "uncertain"],  # 2024.1 drops them
        "valence": lambda s: -1 <= float(s["state"]) <= 1 and s["attributes"].get("state_class") == "measurement",
        "arousal": lambda s: -1 <= float(s["state"]) <= 1 and s["attributes"].get("state_class") == "measurement",
        "confidence": lambda s: 0 <= float(s["state"]) <= 100 and s["attributes"].get("unit_of_measurement") == "%",
        "faces": lambda s: int(float(s["state"])) >= 0,
        "model": lambda s: s["state"] == model,
        "version": lambda s: s["state"] == __version__,
        "mood_override": lambda s: s["state"] == "camera" and s["attributes"]["options"] == ["camera", *labels],
        "strategy": lambda s: s["state"] in ("match", "uplift"),
        "volume": lambda s: 0 <= float(s["state"]) <= 100 and s["attributes"].get("max") == 100,
        "pause": lambda s: s["state"] == "off",
        "privacy": lambda s: s["state"] == "off",
        "camera": lambda s: s["state"] == "on" and s["attributes"].get("device_class") == "connectivity",
        "like": lambda s: s["state"] == "unknown",  # a button's state is its last press
        "skip": lambda s: s["state"] == "unknown",
        "song": lambda s: s["state"] is not None,
    }
    mood = entity("mood")
    device = ha.call("POST", "/api/template", {"template": f"{{{{ device_attr(device_id('{mood}'), 'sw_version') }}}}|"
                                                             f"{{{{ area_name('{mood}') }}}}"})
    if device != f"{__version__}|{AREA}":
        problems.append(f"the device's sw_version|area is {device!r}, not {__version__}|{AREA}")
    for name, ok in expect.items():
        try:
            good = ok(st(name))
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            problems.append(f"{entity(name)} = {st(name)['state']!r} {st(name)['attributes']}")
    return problems


def exercise(ha: HomeAssistant, events: Path, loop_state: Path) -> list[str]:
    """Each control through Home Assistant's services, seen in the loop's events log (and back in HA)."""
    done = []

    def seen(what: str, check: Callable[[list[dict]], Any], timeout: float = 60) -> None:
        until(lambda: check(read_events(events)), timeout, what)
        done.append(what)

    ha.service("select", "select_option", entity_id=entity("mood_override"), option="sad")
    seen("override sad", lambda ev: [e for e in of_type(ev, "override") if e.get("mood") == "sad"])
    until(lambda: [e for e in of_type(read_events(events), "song") if e.get("mood") == "sad"], 60, "a sad song")
    until(lambda: ha.state(entity("mood"))["state"] == "sad", 30, "the mood sensor shows the override")
    ha.service("button", "press", entity_id=entity("like"))
    seen("like", lambda ev: of_type(ev, "like"))
    ha.service("button", "press", entity_id=entity("skip"))
    seen("skip", lambda ev: of_type(ev, "skip"))
    ha.service("number", "set_value", entity_id=entity("volume"), value=35)
    seen("volume 35 %", lambda ev: [e for e in of_type(ev, "volume") if abs(e["volume"] - 0.35) < 1e-6])
    until(lambda: float(ha.state(entity("volume"))["state"]) == 35, 30, "the volume back in Home Assistant")
    ha.service("select", "select_option", entity_id=entity("strategy"), option="uplift")
    seen("strategy uplift", lambda ev: [e for e in of_type(ev, "strategy") if e["strategy"] == "uplift"])
    ha.service("switch", "turn_on", entity_id=entity("privacy"))
    seen("privacy on", lambda ev: [e for e in of_type(ev, "camera") if e["state"] == "off (by the listener)"])
    until(lambda: ha.state(entity("camera"))["state"] == "off", 30, "the camera diagnostic shows off")
    until(lambda: ha.state(entity("privacy"))["state"] == "on", 30, "the privacy switch shows on")
    if not json.loads((loop_state / "privacy.json").read_text())["camera_off"]:
        raise Failed("privacy.json does not say camera_off")
    ha.service("switch", "turn_off", entity_id=entity("privacy"))
    seen("privacy off", lambda ev: [e for e in of_type(ev, "camera") if e["state"] == "on"])
    until(lambda: ha.state(entity("camera"))["state"] == "on", 30, "the camera diagnostic shows on")
    ha.service("select", "select_option", entity_id=entity("mood_override"), option="camera")
    seen("override cleared", lambda ev: [e for e in of_type(ev, "override") if e.get("reason") == "cleared"])
    return done


def min_version() -> str:
    """The blueprint's ``homeassistant: min_version`` (read as text: the file has Home Assistant's tags)."""
    found = re.search(r'^\s+min_version:\s*"?([0-9.]+)"?\s*$', BLUEPRINT.read_text(), re.MULTILINE)
    if not found:
        raise Failed(f"{BLUEPRINT}: no homeassistant: min_version")
    return found.group(1)


def older(version: str, than: str) -> bool:
    number = lambda v: tuple(int(p) for p in re.findall(r"\d+", v)[:3])
    return number(version) < number(than)


def check_blueprint(ha: HomeAssistant, version: str) -> str:
    """Home Assistant lists the blueprint, accepts an automation from it, and that automation plays each
    mood's playlist when the mood sensor shows it and nothing for a mood left empty. The summary's words."""
    listed = ha.command({"type": "blueprint/list", "domain": "automation"})
    needs = min_version()
    if older(version, needs):
        said = (listed.get(BLUEPRINT_PATH, {}).get("error") or "listed, not usable").splitlines()[0]
        return f"blueprint needs Home Assistant {needs}, this one is older (blueprint/list: {said}): not run"
    if "metadata" not in listed.get(BLUEPRINT_PATH, {}):
        raise Failed(f"blueprint/list does not load {BLUEPRINT_PATH}: {listed}")
    metadata = listed[BLUEPRINT_PATH]["metadata"]
    if metadata.get("domain") != "automation" or "mood_sensor" not in json.dumps(metadata.get("input")):
        raise Failed(f"blueprint/list's metadata for {BLUEPRINT_PATH}: {metadata}")
    config = {"id": AUTOMATION_ID, "alias": "moodplayer mood playlist", "description": "",
              "use_blueprint": {"path": BLUEPRINT_PATH, "input": {
                  "mood_sensor": entity("mood"), "media_player": PLAYER, "settle": 0, **PLAYLISTS}}}
    try:
        ha.call("POST", f"/api/config/automation/config/{AUTOMATION_ID}", config)
    except urllib.error.HTTPError as e:
        raise Failed(f"Home Assistant refused the automation from the blueprint: {e.code} {e.read()[:300]!r}") from e
    automation = "automation.moodplayer_mood_playlist"
    until(lambda: ha.state(automation)["state"] == "on", 60, f"{automation} on")
    for mood, playlist in PLAYLISTS.items():
        _override(ha, mood)
        try:
            until(lambda p=playlist: ha.state(PLAYED)["state"] == p, 30, f"the automation playing {playlist} on {PLAYER}")
        except Failed as e:
            raise Failed(f"{e} ({PLAYED} is {ha.state(PLAYED)['state']!r})") from e
    empty, last = EMPTY_MOOD, list(PLAYLISTS.values())[-1]
    skipped = lambda: [t for t in ha.command({"type": "trace/list", "domain": "automation", "item_id": AUTOMATION_ID})
                       if t.get("script_execution") == "failed_conditions"]
    before = len(skipped())
    _override(ha, empty)
    until(lambda: len(skipped()) > before, 30, f"a trace of the automation stopping at its condition for {empty}")
    if ha.state(PLAYED)["state"] != last:
        raise Failed(f"{empty} has no playlist, yet {PLAYED} changed to {ha.state(PLAYED)['state']!r}")
    _override(ha, "camera")
    return (f"blueprint {BLUEPRINT_PATH} listed, an automation from it on, {' and '.join(PLAYLISTS)} overrides "
            f"played their playlists on {PLAYER}, {empty} (no playlist) stopped at the condition")


def _override(ha: HomeAssistant, mood: str) -> None:
    ha.service("select", "select_option", entity_id=entity("mood_override"), option=mood)
    if mood != "camera":
        until(lambda: ha.state(entity("mood"))["state"] == mood, 30, f"the mood sensor shows {mood}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hass", required=True, help="the hass executable of Home Assistant's own venv")
    parser.add_argument("--form", default="entity", choices=("entity", "device"), help="mqtt.discovery_form")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and say where it is")
    args = parser.parse_args(argv)
    if not Path(MOSQUITTO).exists():
        print(f"homeassistant: SKIP: no {MOSQUITTO} (apt install mosquitto)")
        return 77
    version = _hass_version(args.hass)
    work = Path(short_dir())
    procs: list[Proc] = []
    summary = f"homeassistant {version} ({args.form} discovery)"
    try:
        broker_port, http_port, web_port = free_port(), free_port(), free_port()
        (work / "mosquitto.conf").write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n")
        procs.append(Proc("mosquitto", [MOSQUITTO, "-c", str(work / "mosquitto.conf")], work / "mosquitto.log"))
        until(lambda: port_open(broker_port), 10, "mosquitto listening")
        events, loop_state = work / "events.jsonl", work / "loop-state"
        video = clips.empty_video(work / "empty.mp4", 50)
        procs.append(start_loop(video, work / "c.sock", events, work / "loop.log", "--music-state-dir",
                                str(loop_state)))
        (work / "web.toml").write_text(f'[mqtt]\ntopic = "{BASE}"\ndiscovery_form = "{args.form}"\narea = "{AREA}"\n')
        procs.append(start_companion(work / "c.sock", web_port, work / "web-state", work / "web.log", "--config",
                                     str(work / "web.toml"), "--mqtt-host", "127.0.0.1", "--mqtt-port",
                                     str(broker_port)))
        write_config(work / "ha", http_port, broker_port, not older(version, min_version()))
        subprocess.run([args.hass, "--script", "auth", "-c", str(work / "ha"), "add", USER, PASSWORD], check=True,
                       capture_output=True, timeout=300)
        started = time.monotonic()
        procs.append(Proc("home assistant", [args.hass, "-c", str(work / "ha"), "--skip-pip"], work / "ha.log"))
        ha = HomeAssistant(http_port)
        until(lambda: port_open(http_port), 300, "Home Assistant's HTTP port")
        until(lambda: _login(ha), 120, "logging in")
        labels, model = _model()
        problems = check_entities(ha, labels, model)
        ready_s = time.monotonic() - started
        if problems:
            raise Failed("entities not as expected: " + "; ".join(problems))
        done = exercise(ha, events, loop_state)
        blueprint = check_blueprint(ha, version)
        for proc in procs[1:3]:
            if proc.popen.poll() is not None:
                raise Failed(f"{proc.name} exited")
        complaints = _complaints(work / "ha.log")
        if complaints:
            raise Failed(f"Home Assistant logged {len(complaints)} MQTT warnings or errors, the first: {complaints[0]}")
        print(f"{summary}: {len(ENTITIES)}/{len(ENTITIES)} entities with the expected state "
              f"({ready_s:.0f} s after start); {len(done)}/{len(done)} controls reached the loop "
              f"({', '.join(done)}); {blueprint}: PASS")
        return 0
    except Failed as e:
        print(f"{summary}: FAIL: {e} (logs in {work})")
        args.keep = True
        return 1
    finally:
        for proc in reversed(procs):
            proc.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _complaints(log: Path) -> list[str]:
    """Home Assistant's warnings and errors about MQTT or moodplayer's entities (bad payloads, templates
    that fail, values outside a select's options...)."""
    return [line for line in log.read_text(errors="replace").splitlines()
            if ("WARNING" in line or "ERROR" in line) and ("mqtt" in line or "moodplayer" in line)]


def _login(ha: HomeAssistant) -> bool:
    try:
        ha.login()
    except urllib.error.HTTPError:  # not up yet
        return False
    return True


def _model() -> tuple[list[str], str]:
    """The shipped model's labels and name (the camera loop runs it)."""
    from edge import bundle as bundles
    from edge.classify import DEFAULT_MODEL

    bundle = bundles.load(DEFAULT_MODEL)
    return list(bundle.labels), bundle.name


def _hass_version(hass: str) -> str:
    return subprocess.run([hass, "--version"], capture_output=True, text=True, timeout=120, check=False).stdout.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env bash
# moodplayer with a real Home Assistant Core (not part of the default test run; docs/web.md says why).
#
#   tests/homeassistant/run.sh                     # Home Assistant 2024.1.6, per-entity discovery
#   HA_VERSION=2025.4.4 HA_PYTHON=python3.13 tests/homeassistant/run.sh --form device   # device discovery
#
# Steps:
#   1. Home Assistant Core $HA_VERSION from PyPI into its own venv (cached under $MOODPLAYER_HA_CACHE,
#      default ~/.cache/moodplayer/homeassistant-<version>), then the requirements that the manifests
#      of the integrations it loads name (mqtt, api, auth, the ones newer releases always load such as
#      frontend, and their dependencies: paho-mqtt, janus, ...), installed up front because Home
#      Assistant starts with --skip-pip;
#   2. tests/homeassistant/drive.py (with this project's venv): on loopback a mosquitto broker, the camera
#      loop on a looped clip, the companion with MQTT, and Home Assistant with an MQTT config entry for
#      that broker, logged in through its REST login flow; checks that all 16 entities appear with the expected
#      state, then presses like and skip, sets volume, strategy and the mood override and turns privacy
#      on and off through Home Assistant's services, and finds each in the loop's events log; then the
#      blueprint (blueprints/automation/moodplayer/mood_playlist.yaml, copied into Home Assistant's
#      config folder before it starts): Home Assistant lists it (websocket blueprint/list), takes an
#      automation made from it (the automation editor's REST endpoint), happy and sad mood overrides make
#      that automation play their playlists on a stand-in speaker (a universal media player whose
#      play_media writes the id into an input_text), and angry (no playlist) stops at the blueprint's
#      condition (its trace) and plays nothing. A Home Assistant older than the blueprint's
#      min_version (2024.1.6 here) says so in the summary instead.
# Prints one summary line. Exit 0 pass; 1 a failed check; 77 cannot run here (no mosquitto, no Python
# for Home Assistant, no network for the first install).
#
# Home Assistant 2024.1 is the last release that runs on Python 3.11, and device-based discovery
# (mqtt.discovery_form = "device") needs 2024.11 or later: with 2024.1 the script uses the per-entity form.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HA_VERSION="${HA_VERSION:-2024.1.6}"
HA_PYTHON="${HA_PYTHON:-python3}"
CACHE="${MOODPLAYER_HA_CACHE:-${HOME:-/root}/.cache/moodplayer}/homeassistant-$HA_VERSION"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

# The requirements of the integrations drive.py loads, and of their dependencies, from their manifests.
REQUIREMENTS='
import json, pathlib, homeassistant.bootstrap as b, homeassistant.components as c
todo = ["mqtt", "api", "auth", "http", "logger", "system_log", *getattr(b, "DEFAULT_INTEGRATIONS", ())]
base, seen, reqs = pathlib.Path(c.__path__[0]), set(), set()
while todo:
    name = todo.pop()
    if name not in seen:
        seen.add(name)
        manifest = json.loads((base / name / "manifest.json").read_text())
        reqs.update(manifest.get("requirements", []))
        todo += manifest.get("dependencies", [])
print("\n".join(sorted(reqs)))
'

if [ ! -f "$CACHE/.moodplayer-ready" ]; then
    echo "installing homeassistant==$HA_VERSION into $CACHE (several minutes, once)" >&2
    if [ ! -x "$CACHE/bin/hass" ] && ! "$HA_PYTHON" -m venv "$CACHE"; then
        echo "homeassistant $HA_VERSION: SKIP: $HA_PYTHON can't make a venv"; exit 77
    fi
    if ! { "$CACHE/bin/pip" install -q "homeassistant==$HA_VERSION" &&
           "$CACHE/bin/python" -c "$REQUIREMENTS" >"$CACHE.requirements.txt" &&
           "$CACHE/bin/pip" install -q -r "$CACHE.requirements.txt"; } >"$CACHE.install.log" 2>&1; then
        echo "homeassistant $HA_VERSION: SKIP: pip could not install it on $("$HA_PYTHON" --version 2>&1) (log: $CACHE.install.log)"
        exit 77
    fi
    touch "$CACHE/.moodplayer-ready"
fi
exec "$PYTHON" "$HERE/drive.py" --hass "$CACHE/bin/hass" "$@"

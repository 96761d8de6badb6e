"""systemd/moodplayer.service agrees with the code on exit codes, waits and logging (read from the unit)."""

from __future__ import annotations

import re
from pathlib import Path

from edge.settings import SourceConfig
from edge.sources import EXIT_RESCAN

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "moodplayer.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def seconds(value: str) -> float:
    return float(value.rstrip("s"))


def test_config_errors_fail_once_and_a_missing_camera_restarts():
    unit = settings()
    assert unit["Restart"] == ["on-failure"]  # restarts on any non-zero exit but those listed below
    prevented = " ".join(unit["RestartPreventExitStatus"]).split()
    assert "2" in prevented and str(EXIT_RESCAN) not in prevented


def test_restarts_for_a_late_camera_never_reach_the_start_limit():
    unit = settings()
    burst, interval = int(unit["StartLimitBurst"][0]), seconds(unit["StartLimitIntervalSec"][0])
    period = SourceConfig().camera_wait_s + seconds(unit["RestartSec"][0])  # at least, per start
    assert period * (burst - 1) > interval, (period, burst, interval)


def test_udev_is_settled_first_and_libcamera_logs_warnings_only():
    unit = settings()
    pre = unit["ExecStartPre"]
    match = [re.fullmatch(r"\+/usr/bin/udevadm settle --timeout=(\d+)", p) for p in pre]
    assert any(match), pre  # "+": unsandboxed, since udevadm needs the udev control socket
    settle = max(int(m.group(1)) for m in match if m)
    assert settle < seconds(unit["TimeoutStartSec"][0])
    assert any("LIBCAMERA_LOG_LEVELS=*:WARN" in e.split() for e in unit["Environment"])
    assert "AUDIODEV=plughw" not in UNIT.read_text()  # plughw cannot make the IEC958 a Pi's HDMI takes

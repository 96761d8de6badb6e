"""The companion's unit: its own user in the camera's group and no device group, no devices, only the
address families it needs, and a sandbox score as tight as the main unit's; installed by --web."""

from __future__ import annotations

import sys
from pathlib import Path

from edge.cli import main
from tests.rig import exposure, mode, unit_settings

ROOT = Path(__file__).resolve().parent.parent
WEB_UNIT = ROOT / "systemd" / "moodplayer-web.service"
MAX_EXPOSURE = 2.0


def test_web_unit_is_another_user_without_devices_and_scores_2_or_lower(tmp_path):
    s = unit_settings(WEB_UNIT.read_text())
    assert s["User"] == ["moodplayer-web"] and s["SupplementaryGroups"] == ["moodplayer"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"] and "PrivateNetwork" not in s
    assert s["PrivateDevices"] == ["yes"] and s["DevicePolicy"] == ["closed"] and "DeviceAllow" not in s
    assert s["ProtectSystem"] == ["strict"] and s["NoNewPrivileges"] == ["yes"] and s["CapabilityBoundingSet"] == [""]
    assert s["StateDirectory"] == ["moodplayer-web"] and s["StateDirectoryMode"] == ["0700"]
    assert "--control-socket /run/moodplayer/control.sock" in s["ExecStart"][0] and " web " in s["ExecStart"][0]
    score = exposure(WEB_UNIT)
    print(f"systemd-analyze security moodplayer-web.service: overall exposure {score}")
    assert score <= MAX_EXPOSURE


def test_install_web_writes_the_companion_unit_and_user(tmp_path, capsys):
    venv = Path(sys.prefix)
    assert main(["install", "--web", "--root", str(tmp_path), "--venv", str(venv), "--user", "mp"]) == 0
    out = capsys.readouterr().out
    unit = tmp_path / "etc/systemd/system/moodplayer-web.service"
    users = tmp_path / "etc/sysusers.d/moodplayer-web.conf"
    assert mode(unit) == 0o644 and mode(users) == 0o644
    assert (tmp_path / "etc/systemd/system/moodplayer.service").is_file()  # the camera's unit as before
    s = unit_settings(unit.read_text())
    assert s["ExecStart"] == [f"{venv}/bin/python -m edge web --config /etc/moodplayer/config.toml "
                              "--control-socket /run/moodplayer/control.sock"]
    assert s["User"] == ["moodplayer-web"] and s["SupplementaryGroups"] == ["mp"]
    lines = users.read_text().splitlines()
    assert "m moodplayer-web mp" in lines and 'u moodplayer-web - "moodplayer companion" /var/lib/moodplayer-web -' in lines
    assert not any(group in line for line in lines if line.startswith("m ") for group in ("video", "audio", "render"))
    assert exposure(unit) == exposure(WEB_UNIT)
    assert "systemctl enable moodplayer-web.service" in out and "systemd-sysusers /etc/sysusers.d/moodplayer-web.conf" in out
    # Without --web nothing of the companion is written.
    other = tmp_path / "plain"
    assert main(["install", "--root", str(other), "--venv", str(venv)]) == 0
    assert not (other / "etc/systemd/system/moodplayer-web.service").exists()


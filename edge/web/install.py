"""``python -m edge install --web``: the companion's unit and user, next to the camera process's.

The companion runs as its own user (``moodplayer-web``), in the camera user's group so it may open the
control socket, and in no device group. This module only adds to the installer's plan (edge.service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.service import CONFIG_PATH, CONTROL_SOCKET, set_unit_keys
from edge.web.auth import DEFAULT_STATE  # the unit's StateDirectory=moodplayer-web

WEB_UNIT = "moodplayer-web.service"
WEB_USER = "moodplayer-web"


def web_sysusers_text(camera_group: str, user: str = WEB_USER) -> str:
    return "\n".join([
        "# moodplayer's companion user (python -m edge web), made by systemd-sysusers.",
        "# In the camera user's group for /run/moodplayer/control.sock; in no device group (video, audio, render).",
        f"g {camera_group} -",
        f'u {user} - "moodplayer companion" {DEFAULT_STATE} -',
        f"m {user} {camera_group}",
    ]) + "\n"


def render_web_unit(template: str, python: str, camera_group: str, project: Path, user: str = WEB_USER) -> str:
    """The repository's companion unit with this install's ExecStart=, users and Documentation=."""
    values = {
        "ExecStart": f"{python} -m edge web --config {CONFIG_PATH} --control-socket {CONTROL_SOCKET}",
        "User": user,
        "Group": user,
        "SupplementaryGroups": camera_group,
        "Documentation": f"file://{project}/docs/web.md",
    }
    return set_unit_keys(template, values)


def add_web(plan: Any, python: Path, project: Path, camera_group: str, start: bool = True) -> None:
    """Add the companion's unit, its sysusers file and their commands to the installer's ``plan``
    (``files``: (path under root, text, mode); ``commands``: argv lists)."""
    users = plan.add_unit(project, WEB_UNIT, lambda t: render_web_unit(t, str(python), camera_group, project),
                          "moodplayer-web.conf", web_sysusers_text(camera_group))
    plan.commands.insert(1, ["systemd-sysusers", users])
    plan.commands.append(["systemctl", "enable", WEB_UNIT])
    if start:
        plan.commands.append(["systemctl", "restart", WEB_UNIT])

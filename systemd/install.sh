#!/bin/sh
# Install moodplayer as a systemd service on a Raspberry Pi (docs/raspberry-pi.md):
#
#   sudo systemd/install.sh                 # the unit, the moodplayer user, /etc/moodplayer/config.toml; start it
#   sudo systemd/install.sh --no-start      # enable it for the next boot only
#   systemd/install.sh --root /tmp/pi       # write the files into a folder; run nothing
#
# It runs `python -m edge install` with the checkout's venv (.venv, or $MOODPLAYER_VENV); every option of
# that command works here too (--user, --venv, --dry-run; --help lists them).
set -eu
project=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
venv=${MOODPLAYER_VENV:-$project/.venv}
if [ ! -x "$venv/bin/python" ]; then
    echo "error: no venv at $venv: make it first (python3 -m venv --system-site-packages $project/.venv" \
         "&& $project/.venv/bin/pip install -e $project), or set MOODPLAYER_VENV" >&2
    exit 1
fi
cd "$project"
exec "$venv/bin/python" -m edge install --venv "$venv" --project "$project" "$@"

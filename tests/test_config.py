"""The config: one TOML file plus flags, validated before anything opens, errors naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import config as configs
from edge.config import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_and_file_and_flags_layer(tmp_path):
    p = write(tmp_path, "[detect]\nevery = 4\n[mood]\nhold = 3\n")
    cfg = configs.load(p, {"detect.every": "2", "output.headless": "false"})
    assert cfg.detect.every == 2  # the flag wins over the file
    assert cfg.mood.hold == 3.0 and isinstance(cfg.mood.hold, float)  # int accepted for a float key
    assert cfg.output.headless is False
    assert configs.load().detect.every == configs.DetectConfig().every


@pytest.mark.parametrize("text, names", [
    ("[detect]\nevrey = 3\n", ["detect.evrey", "did you mean 'every'"]),
    ("[detekt]\nevery = 3\n", ["detekt", "did you mean 'detect'"]),
    ("[detect]\nevery = 'three'\n", ["detect.every", "an integer"]),
    ("[output]\nheadless = 1\n", ["output.headless", "true or false"]),
    ("[mood]\nhold = true\n", ["mood.hold", "a number"]),
    ("detect = 3\n", ["detect", "table"]),
    ("[detect\n", ["not valid TOML"]),
])
def test_bad_file_names_the_key(tmp_path, text, names):
    with pytest.raises(ConfigError) as e:
        configs.load(write(tmp_path, text))
    for name in names:
        assert name in str(e.value)


def test_bad_flag_value_names_the_key():
    with pytest.raises(ConfigError, match="classify.threads"):
        configs.load(None, {"classify.threads": "many"})
    with pytest.raises(ConfigError, match="classify"):
        configs.load(None, {"classify.threads": "0"})  # the stage's own range check


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        configs.load(tmp_path / "nope.toml")


def test_print_config_round_trips(tmp_path):
    cfg = configs.load(None, {"mood.hold": "1.5", "source.spec": 'a "quoted" path'})
    again = configs.load(write(tmp_path, configs.to_toml(cfg)))
    assert again == cfg


def test_cli_print_config_and_bad_key_exit_code(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edge", "--print-config", "--detect-every", "7"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "[detect]" in out.stdout and "every = 7" in out.stdout
    bad = write(tmp_path, "[music]\nvolumee = 0.5\n")
    out = subprocess.run([sys.executable, "-m", "edge", "--config", str(bad)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "music.volumee" in out.stderr and "Traceback" not in out.stderr


_values = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.booleans())


@settings(max_examples=150, deadline=None)
@given(section=st.sampled_from(list(configs.SECTIONS)), key=st.text(min_size=1, max_size=12), value=_values)
def test_any_key_value_loads_or_raises_config_error(section, key, value):
    """Whatever a file holds, the loader answers with a Config or a ConfigError, never anything else."""
    try:
        cfg = configs.load(None, {f"{section}.{key}": value})
    except ConfigError as e:
        assert section in str(e) or key in str(e)
    else:
        assert key in configs.fields_of(section)
        assert getattr(cfg, section) == configs.SECTIONS[section](**{key: getattr(getattr(cfg, section), key)})


@pytest.mark.parametrize("key, value", [("source.fps", "inf"), ("mood.half_life", "nan"), ("mood.hold", float("inf"))])
def test_non_finite_numbers_are_refused(key, value):
    """An infinite fps would pin every image's time at 0 and the mood hold would never elapse."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ".*finite"):
        configs.load(None, {key: value})


LIGHT = {
    # --print-config, the installer's check and the companion read the config: every section's
    # dataclass lives in a light module.
    "config": "import edge.config as c; c.to_toml(c.load(None, {'detect.every': 2}))",
    # The companion handles no frames; on a small Pi it runs beside the camera process.
    "companion": "import edge.cli, edge.web.cli, edge.web.app, edge.web.mqtt, edge.web.hub, edge.install",
}


@pytest.mark.parametrize("who", sorted(LIGHT))
def test_the_config_and_the_companion_load_none_of_the_camera_side(who: str) -> None:
    probe = (f"import sys; {LIGHT[who]}; "
             "print('HEAVY', sorted(m for m in ('cv2', 'numpy', 'pygame', 'edge.loop') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout

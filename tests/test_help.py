"""--help, --print-config and docs/config.md come from one source: each config key's own help
(``edge.settings.key``)."""

from __future__ import annotations

import re
import tomllib

from edge import cli, flags
from edge.config import SECTIONS
from tests.rig import ROOT, run_edge


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_config_key_has_a_one_line_help():
    ks = flags.keys()
    assert {k.section for k in ks} == set(SECTIONS)
    missing = [k.dotted for k in ks if not k.help.strip() or "\n" in k.help]
    assert not missing, f"keys without a one-line help (declare them with edge.settings.key): {missing}"


def test_help_lists_every_key_with_its_help_by_stage_and_every_command():
    out = run_edge("--help")
    assert out.returncode == 0, out.stderr
    text = _flat(out.stdout)
    bare = "".join(out.stdout.split())  # argparse wraps at spaces and after hyphens
    for k in flags.keys():
        for flag in k.flags:
            assert f"{flag} " in text, flag
        own = [words for _, _, words in flags.NAMES.get(k.dotted, ())]
        for words in own if own and None not in own else [k.help]:  # switches may say it their own way
            assert "".join(words.split()) in bare, k.dotted
    # groups in the order a frame flows, each titled with what its stage does
    assert not set(SECTIONS) - set(flags.STAGES), "give each config section a line in edge.flags.STAGES"
    starts = [text.index(f"{section}: {flags.STAGES[section]}") for section in SECTIONS]
    assert starts == sorted(starts)
    assert [s for s in ("source", "detect", "classify", "mood", "music", "overlay", "output", "control")
            if s in SECTIONS] == list(SECTIONS)[:8]
    # every subcommand listed with its line
    assert set(cli.COMMANDS) == set(cli.SUBCOMMANDS)
    for name, line in cli.COMMANDS.items():
        assert f"{name} {_flat(line)}" in text


def test_no_doubled_names_and_old_spellings_still_work_unlisted():
    listed = re.findall(r"(?<![\w-])--[a-z][a-z-]+", cli.build_parser().format_help())
    doubled = [f for f in listed if re.match(r"--(\w+)-\1-", f)]
    assert not doubled
    assert len(set(listed) & {"--source-spec", "--classify-model", "--detect-detect-width", "--threads"}) == 0
    parse = cli.build_parser().parse_args
    old = vars(parse(["--source-spec", "a.mp4", "--classify-model", "m", "--detect-detect-width", "200",
                      "--threads", "2", "--output-headless", "false"]))
    new = vars(parse(["--source", "a.mp4", "--model", "m", "--detect-width", "200", "--classify-threads", "2",
                      "--display"]))
    assert old == new
    assert new["source.spec"] == "a.mp4" and new["detect.detect_width"] == "200"
    assert new["output.headless"] == "false"


def test_print_config_comments_each_key_with_its_help_and_loads_back():
    out = run_edge("--print-config", "--mood-hold", "2.5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for k in flags.keys():
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{k.name} = ")
                  and _section_of(lines, i) == k.section)
        assert lines[at - 1] == f"# {k.help}"
    assert tomllib.loads(out.stdout)["mood"]["hold"] == 2.5


def _section_of(lines: list[str], i: int) -> str:
    return next(line[1:-1] for line in reversed(lines[:i]) if line.startswith("["))


def test_docs_key_table_is_up_to_date():
    out = run_edge("--print-config", "--markdown")
    assert out.returncode == 0, out.stderr
    assert (ROOT / "docs" / "config.md").read_text() == out.stdout, \
        "docs/config.md is stale: python -m edge --print-config --markdown > docs/config.md"
    for k in flags.keys():
        assert f"| `{k.name}` | " in out.stdout


def test_markdown_alone_is_a_usage_error():
    out = run_edge("--markdown")
    assert out.returncode == 2 and "--print-config" in out.stderr and "Traceback" not in out.stderr

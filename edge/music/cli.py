"""``python -m edge songs``: look at the song library, ask for recommendations, like and skip songs.

    python -m edge songs scan [DIR]                    # every song: mood, where it came from, tempo, energy;
                                                       # and every file not taken, with why and what to do
    python -m edge songs recommend --mood happy -n 5   # the next five songs the player would pick
    python -m edge songs like PATH [--mood happy]      # or: skip PATH
    ... --json                                         # any of them, as JSON on stdout

The songs folder, strategy and state folder come from the config (``--config``, ``[music]``), then
the flags. ``scan`` and ``recommend`` analyse songs that are new or changed since the last run
(cached, so a second run is instant). ``like`` and ``skip`` write as the state folder's owner: run
as root they switch to it; run as another user they refuse and print the ``sudo -u <owner> ...``
command to use, so the service can always read what they wrote.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.music.config import STRATEGIES

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (its [music] section is used)")
    common.add_argument("--songs", help="songs folder (default: music.songs)")
    common.add_argument("--state-dir", help="where likes and skips are kept (default: music.state_dir)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("-v", "--verbose", action="store_true", help="info logging (progress, cache)")
    parser = argparse.ArgumentParser(prog="python -m edge songs", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{scan,recommend,like,skip}")
    scan = sub.add_parser("scan", parents=[common], help="list every song with its mood and features")
    scan.add_argument("dir", nargs="?", help="songs folder (default: --songs, else music.songs)")
    rec = sub.add_parser("recommend", parents=[common], help="the next songs the player would pick for a mood")
    rec.add_argument("--mood", required=True, help="an emotion: angry, disgust, fear, happy, neutral, sad, surprise")
    rec.add_argument("-n", type=int, default=5, help="how many songs (default 5)")
    rec.add_argument("--strategy", choices=STRATEGIES, help="default: music.strategy")
    rec.add_argument("--valence", type=float, help="the room's valence (-1..1), with --arousal (match)")
    rec.add_argument("--arousal", type=float, help="the room's arousal (-1..1), with --valence (match)")
    for kind in ("like", "skip"):
        p = sub.add_parser(kind, parents=[common], help=f"{kind} a song (it shifts later picks)")
        p.add_argument("path", help="the song's file (absolute, relative to here, or to the songs folder)")
        p.add_argument("--mood", default=None, help="the mood it played for (default: the song's own mood)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from edge import config as configs
    from edge.music.library import LibraryError
    from edge.types import EMOTIONS

    overrides = {}
    songs = getattr(args, "dir", None) or args.songs
    if songs:
        overrides["music.songs"] = songs
    if args.state_dir:
        overrides["music.state_dir"] = args.state_dir
    if getattr(args, "strategy", None):
        overrides["music.strategy"] = args.strategy
    try:
        cfg = configs.load(args.config, overrides).music
    except configs.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mood = getattr(args, "mood", None)
    if mood is not None and mood not in EMOTIONS:
        print(f"error: --mood must be one of {', '.join(EMOTIONS)}, got {mood!r}", file=sys.stderr)
        return 2
    from edge.music.recommend import Recommender  # before acting as another user, who may not read the venv

    writes = args.command in ("like", "skip")
    if writes:
        code = _as_state_owner(cfg, argv if argv is not None else sys.argv[1:])
        if code:
            return code

    try:
        rec = Recommender.from_config(cfg, read_only=not writes)
    except LibraryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "scan":
        return _scan(rec, args)
    if args.command == "recommend":
        return _recommend(rec, args)
    return _feedback(rec, args)


def _as_state_owner(cfg, argv: Sequence[str]) -> int:
    """Write likes and skips as the state folder's owner (switching to it when run as root), or refuse
    with the command to use; 0 to go on, else the exit code."""
    from edge.music.feedback import become, state_dir, write_access

    command = "python -m edge songs " + " ".join(_quote(a) for a in argv)
    access = write_access(state_dir(cfg.state_dir), os.geteuid(), command)
    if access.how == "refuse":
        print(f"error: {access.message}", file=sys.stderr)
        return 2
    try:
        become(access)
    except OSError as e:
        print(f"error: can't act as the state folder's owner (uid {access.uid}): {e}", file=sys.stderr)
        return 2
    return 0


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _progress(rec):
    """Analyse what's new, showing progress on a terminal."""
    if not rec.features_enabled:
        return
    tty = sys.stderr.isatty()

    def show(done: int, total: int, path: Path) -> None:
        if tty:
            print(f"\ranalysing songs: {done}/{total} {path.name[:40]:40s}", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    report = rec.scan(progress=show)
    if report.analysed and not tty:
        log.info("analysed %d songs in %.1f s", report.analysed, report.seconds)
    return report


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _scan(rec, args) -> int:
    report = _progress(rec)
    root = rec.library.root
    bad = rec.analysis.undecodable()
    rows = [_song_row(s, root, s.path in bad) for s in rec.analysis.states()]
    not_taken = [s.to_dict() for s in rec.library.skipped]
    not_taken += [{"path": str(p), "why": f"does not decode: {why}", "fix": "replace or delete it"}
                  for p, why in sorted(bad.items())]
    summary = {"root": str(root), "songs": len(rows),
               "labelled": sum(r["source"] in ("folder", "manifest") for r in rows),
               "by_features": sum(r["source"] == "features" for r in rows),
               "unreadable": sum(r["source"] == "unreadable" for r in rows),
               "not_taken_count": len(not_taken),
               "analysed_now": report.analysed if report else 0,
               "seconds": round(report.seconds, 3) if report else 0.0}
    if args.json:
        print(json.dumps({**summary, "songs": rows, "count": len(rows), "not_taken": not_taken}, indent=1))
        return 0
    width = max([len("song")] + [len(r["song"]) for r in rows])
    print(f"{'song':{width}}  {'mood':8}  {'from':10}  {'tempo':>5}  {'energy':>6}  {'val':>5}  {'aro':>5}  sounds")
    for r in rows:
        tempo = f"{r['tempo']:5.0f}" if r["tempo"] is not None else "    -"
        energy = f"{r['energy']:6.1f}" if r["energy"] is not None else "     -"
        va = (f"{r['valence']:+5.2f}  {r['arousal']:+5.2f}" if r["valence"] is not None else "    -      -")
        print(f"{r['song']:{width}}  {r['mood'] or '-':8}  {r['source'] or '-':10}  {tempo}  {energy}  {va}  "
              f"{r['features_mood'] or '-'}")
    print(f"\n{summary['songs']} songs: {summary['labelled']} labelled, {summary['by_features']} by their features, "
          f"{summary['unreadable']} unreadable. tempo in bpm, energy in dBFS (RMS); val, aro: valence and "
          f"arousal from the features; sounds: the mood they are nearest.")
    if not_taken:
        print(f"\nnot taken ({len(not_taken)}):")
        for t in not_taken:
            print(f"  {_rel(Path(t['path']), root)}: {t['why']}; {t['fix']}")
    if report and report.analysed:
        print(f"analysed {report.analysed} in {report.seconds:.1f} s "
              f"({1000 * report.seconds / report.analysed:.0f} ms a song); {report.cached} from the cache")
    return 0


def _song_row(s, root: Path, bad: bool) -> dict:
    f, moods = s.features, s.moods
    return {
        "path": str(s.path), "song": _rel(s.path, root),
        "mood": max(moods, key=moods.get) if moods else "", "moods": moods,
        "source": "unreadable" if bad else s.source,
        "tempo": round(f.tempo, 1) if f else None, "energy": round(f.loudness, 1) if f else None,
        "activity": round(f.activity, 3) if f else None, "brightness": round(f.brightness, 1) if f else None,
        "mode": round(f.mode, 3) if f else None, "key": f.key if f else None,
        "valence": s.point[0] if s.point else None, "arousal": s.point[1] if s.point else None,
        "features_mood": s.mood or None, "error": s.error or None, **dict(s.tags),
    }


def _recommend(rec, args) -> int:
    if (args.valence is None) != (args.arousal is None):
        print("error: give --valence and --arousal together", file=sys.stderr)
        return 2
    point = (args.valence, args.arousal) if args.valence is not None else None
    _progress(rec)
    picks = rec.plan(args.mood, max(args.n, 0), point)
    root = rec.library.root
    if args.json:
        print(json.dumps({"mood": args.mood, "strategy": rec.strategy, "point": point,
                          "songs": [p.to_dict() for p in picks]}, indent=1))
        return 0
    if not picks:
        print(f"no songs for {args.mood}")
        return 0
    width = max(len(_rel(p.path, root)) for p in picks)
    print(f"{'#':>2}  {'song':{width}}  {'from':8}  {'score':>6}  {'dist':>5}  {'like':>5}  {'sim':>5}")
    for i, p in enumerate(picks, 1):
        print(f"{i:2d}  {_rel(p.path, root):{width}}  {p.source:8}  {p.score:+6.2f}  {p.distance:5.2f}  "
              f"{p.feedback:+5.2f}  {p.similarity:+5.2f}")
    return 0


def _feedback(rec, args) -> int:
    given = Path(args.path).expanduser()
    path = given if given.exists() else rec.library.root / given
    if not path.is_file():
        print(f"error: no such song: {args.path} (looked here and in {rec.library.root})", file=sys.stderr)
        return 2
    path = path.absolute()
    state = rec.analysis.state(path) or next((s for s in rec.analysis.states() if s.path.absolute() == path),
                                              None)
    mood = args.mood
    if mood is None:
        moods = state.moods if state is not None else {}
        mood = max(moods, key=moods.get) if moods else ""
    if state is None:
        log.warning("%s is not in the library %s: recorded all the same", path, rec.library.root)
    entry = rec.store.record(args.command, path, mood)
    if rec.store.problem:
        print(f"error: the {args.command} was not kept: {rec.store.problem}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"path": str(path), "kind": args.command, "mood": mood, "counts": entry,
                          "store": str(rec.store.path)}, indent=1))
    else:
        likes, skips = sum(entry.get("like", {}).values()), sum(entry.get("skip", {}).values())
        print(f"{'liked' if args.command == 'like' else 'skipped'} {path.name}"
              f"{f' for {mood}' if mood else ''} ({likes} like{'s' * (likes != 1)}, "
              f"{skips} skip{'s' * (skips != 1)} in all; {rec.store.path})")
    return 0

"""The stability benchmark's measures (pure functions, no model, no data set): flip counting, switch
times, shares, percentiles with misses, the grid, and a synthetic clip through the replay."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.stability import figures as st
from benchmarks.stability import footage
from edge.mood import MoodConfig, step_response_bound
from edge.types import EMOTIONS, UNCERTAIN, Emotions, Face


def test_count_changes_skips_frames_without_a_reading():
    assert st.count_changes([]) == 0
    assert st.count_changes(["happy"] * 5) == 0
    assert st.count_changes(["happy", "sad", "happy"]) == 2
    assert st.count_changes(["happy", None, None, "happy", "sad", None, "sad"]) == 1  # a gap is not a change
    assert st.count_changes([None, "sad", "sad"]) == 0


def test_mood_changes_leave_out_the_first_mood_and_count_uncertain():
    assert st.mood_changes([]) == 0
    assert st.mood_changes([(2.0, "happy")]) == 0  # the room's first mood is not a flip
    events = [(2.0, "happy"), (30.0, UNCERTAIN), (33.0, "happy"), (50.0, "sad")]
    assert st.mood_changes(events) == 3
    assert st.song_switches(events) == 1  # happy -> (uncertain keeps the song) -> happy -> sad
    assert st.song_switches([(2.0, UNCERTAIN), (5.0, "happy")]) == 0


def test_per_minute():
    assert st.per_minute(3, 60.0) == 3.0
    assert st.per_minute(1, 30.0) == 2.0
    assert st.per_minute(5, 0.0) == 0.0


def test_switch_time_from_the_change_to_the_event_naming_the_target():
    events = [(2.0, "happy"), (22.7, "sad")]
    assert st.switch_time(events, 20.0, "sad") == pytest.approx(2.7)
    # through "uncertain": the switch is when the target is named
    assert st.switch_time([(2.0, "happy"), (21.5, UNCERTAIN), (23.1, "sad")], 20.0, "sad") == pytest.approx(3.1)
    # never named: a miss
    assert st.switch_time([(2.0, "happy"), (22.0, UNCERTAIN)], 20.0, "sad") == math.inf
    assert st.switch_time([], 20.0, "sad") == math.inf
    # a wrong guess before the change does not count; the mood already showing the target does (0 s)
    assert st.switch_time([(2.0, "happy"), (10.0, "sad"), (12.0, "happy"), (24.0, "sad")], 20.0, "sad") == \
        pytest.approx(4.0)
    assert st.switch_time([(2.0, "sad")], 20.0, "sad") == 0.0
    # an event exactly at the change counts
    assert st.switch_time([(2.0, "happy"), (20.0, "sad")], 20.0, "sad") == 0.0


def test_share_after_the_start():
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    labels = [UNCERTAIN, UNCERTAIN, "happy", UNCERTAIN, "happy"]
    assert st.share(times, labels, UNCERTAIN) == pytest.approx(0.6)
    assert st.share(times, labels, UNCERTAIN, start=2.0) == pytest.approx(1 / 3)
    assert st.share(times, labels, UNCERTAIN, start=9.0) == 0.0


def test_percentile_counts_misses_as_slower_than_anything():
    assert st.percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert st.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert st.percentile(list(range(11)), 90) == pytest.approx(9.0)
    assert st.percentile([2.0] * 9 + [math.inf], 50) == 2.0
    assert st.percentile([2.0] * 9 + [math.inf], 90) == math.inf  # 90th of ten lies between 2 and inf
    assert st.percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, math.inf], 90) == 10.0  # on a value
    assert st.percentile([math.inf, math.inf], 50) == math.inf
    assert math.isnan(st.percentile([], 50))


def test_targets_and_slack():
    good = {"flips_per_min": 0.25, "switch_median_s": 2.0, "switch_p90_s": 3.0}
    assert st.meets(good)
    assert st.slack(good) == pytest.approx(min(1 - 0.25 / 0.5, 1 - 2.0 / 2.5, 1 - 3.0 / 4.0))
    assert not st.meets({**good, "switch_p90_s": math.inf})
    assert st.slack({**good, "switch_p90_s": math.inf}) == -math.inf
    assert not st.meets({**good, "flips_per_min": 0.51})


def test_grid_settings_are_config_keywords_and_pairs_move_together():
    grid = {"hold": (1.0, 2.0), ("min_confidence", "tie_margin"): ((0.4, 0.05), (0.3, 0.03))}
    settings = st.grid_settings(grid)
    assert settings == [{"hold": 1.0, "min_confidence": 0.4, "tie_margin": 0.05},
                        {"hold": 1.0, "min_confidence": 0.3, "tie_margin": 0.03},
                        {"hold": 2.0, "min_confidence": 0.4, "tie_margin": 0.05},
                        {"hold": 2.0, "min_confidence": 0.3, "tie_margin": 0.03}]
    for setting in st.grid_settings(st.GRID) + st.grid_settings(st.QUICK_GRID):
        MoodConfig(**setting)  # every grid point is a valid config


def test_passer_walks_across_in_its_window():
    assert footage.passer_x(9.9, 10.0) is None
    assert footage.passer_x(10.0, 10.0) == -footage.PASSER_SIZE
    assert footage.passer_x(10.0 + footage.PASSER_S, 10.0) == 640
    assert footage.passer_x(10.0 + footage.PASSER_S + 0.1, 10.0) is None
    xs = [footage.passer_x(10.0 + k / 10, 10.0) for k in range(int(footage.PASSER_S * 10) + 1)]
    assert xs == sorted(xs)


def _vec(**probs: float) -> np.ndarray:
    rest = (1.0 - sum(probs.values())) / (len(EMOTIONS) - len(probs))
    return np.array([probs.get(label, rest) for label in EMOTIONS], np.float32)


def _synthetic(kind: str, frames: list[list[np.ndarray]], truth: list[str], seconds: list[float]) -> st.Recorded:
    """A recorded clip from per-frame probability vectors of one face (empty list: no face)."""
    spec = {"name": "synthetic", "kind": kind, "labels": sorted(set(truth), key=truth.index), "seconds": seconds,
            "difficulty": "hard" if kind == "constant" else None}
    box = (370, 140, 200, 200)
    inputs, tops, probs = [], [], []
    for ps in frames:
        faces = [Face(box, 1) for _ in ps]
        inputs.append((faces, [Emotions(p, EMOTIONS) for p in ps]))
        tops.append(EMOTIONS[int(np.argmax(ps[0]))] if ps else None)
        probs.append(ps[0] if ps else None)
    times = [i / st.FPS for i in range(len(frames))]
    return st.Recorded(spec, times, inputs, tops, probs, truth, [], [])


def test_a_clean_synthetic_change_switches_when_the_filter_bound_says():
    a, b = _vec(happy=0.8), _vec(sad=0.8)
    n = int(2 * st.SEGMENT_S * st.FPS)
    frames = [[a] if i < n // 2 else [b] for i in range(n)]
    truth = ["happy" if i < n // 2 else "sad" for i in range(n)]
    rec = _synthetic("change", frames, truth, [st.SEGMENT_S, st.SEGMENT_S])
    assert st.majority_agrees(rec) == (True, ["happy", "sad"])
    cfg = MoodConfig()
    fig = st.clip_figures(rec, st.replay(rec, cfg, EMOTIONS))
    bound = step_response_bound(cfg, a, b)
    assert bound - 1 / st.FPS - 1e-6 <= fig["switch_s"] <= bound + 1e-6
    assert fig["mood_changes"] == 1 and fig["song_switches"] == 1
    assert fig["raw_changes_per_min"] == pytest.approx(1.5)  # one raw change in 40 s
    assert fig["mood_before"] == "happy"


def test_a_flickering_synthetic_face_is_counted_raw_but_not_as_mood_changes():
    rng = np.random.default_rng(0)
    n = int(st.CONSTANT_S * st.FPS)
    frames = []
    for i in range(n):
        if 200 <= i < 206:  # hidden: no face for 0.6 s
            frames.append([])
            continue
        frames.append([_vec(happy=0.6, sad=0.3) if rng.random() < 0.75 else _vec(sad=0.6, happy=0.3)])
    rec = _synthetic("constant", frames, ["happy"] * n, [st.CONSTANT_S])
    fig = st.clip_figures(rec, st.replay(rec, MoodConfig(), EMOTIONS))
    raw = st.count_changes(rec.main_top)
    assert raw > 100
    assert fig["raw_changes_per_min"] == pytest.approx(raw)  # a 60 s clip: per minute = count
    assert fig["mood_changes"] == 0 and fig["correct"] == 1.0 and fig["uncertain"] == 0.0
    assert fig["found"] == pytest.approx(1 - 6 / n)
    summary = st.summarize([fig], [], minutes=1.0)
    assert summary["flips_per_min"] == 0.0 and summary["flips_per_min_hard"] == 0.0
    assert math.isnan(summary["switch_median_s"])


def test_summary_pools_flips_over_minutes_and_counts_misses():
    const = [{"mood_changes": 1, "mood_changes_per_min": 1.0, "song_switches": 0, "raw_changes_per_min": 10.0,
              "uncertain": 0.1, "correct": 0.9, "raw_correct": 0.8, "difficulty": d} for d in ("hard", "easy")]
    const[1]["mood_changes"] = 0
    change = [{"switch_s": s, "uncertain": 0.0} for s in (2.0, 2.5, 3.0, math.inf)]
    summary = st.summarize(const, change, minutes=2.0)
    assert summary["flips_per_min"] == 0.5
    assert summary["flips_per_min_hard"] == 1.0
    assert summary["switch_median_s"] == 2.75
    assert summary["switch_p90_s"] == math.inf
    assert summary["missed"] == 1

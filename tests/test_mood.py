"""The mood stage on synthetic probability streams: steady against misreads, one switch per real change
within the bound that smoothing and hold imply, frame-rate independent, and the aggregates."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.mood import CIRCUMPLEX, MoodConfig, MoodFilter, step_response_bound, valence_arousal
from edge.types import EMOTIONS, UNCERTAIN, Emotions, Face, Mood

SHUFFLED = ("surprise", "happy", "neutral", "angry", "sad", "fear", "disgust")
BIG, SMALL = Face((0, 0, 200, 200), 1), Face((300, 0, 50, 50), 2)


def vec(labels: Sequence[str] = EMOTIONS, **probs: float) -> np.ndarray:
    """A probability vector in ``labels`` order: the named classes as given, the rest spread evenly."""
    rest = (1.0 - sum(probs.values())) / (len(labels) - len(probs))
    return np.array([probs.get(label, rest) for label in labels], np.float64)


Stream = Callable[[float, int], Sequence[tuple[Face, np.ndarray]]]


def run(filt: MoodFilter, stream: Stream, fps: float, seconds: float, start: float = 0.0
        ) -> list[tuple[float, Mood, bool]]:
    """Feed ``stream(t, i) -> [(face, probs)]`` at ``fps`` for ``seconds``; (t, mood, changed) per frame."""
    out = []
    for i in range(int(round(seconds * fps))):
        t = start + i / fps
        pairs = stream(t, i)
        mood, changed = filt.update(t, [f for f, _ in pairs], [Emotions(p.astype(np.float32), filt.labels) for _, p in pairs])
        out.append((t, mood, changed))
    return out


def changes(frames: list[tuple[float, Mood, bool]]) -> list[tuple[float, str]]:
    return [(t, m.label) for t, m, changed in frames if changed]


def one_face(probs_at: Callable[[float], np.ndarray], face: Face = BIG) -> Stream:
    return lambda t, i: [(face, probs_at(t))]


def step(a: np.ndarray, b: np.ndarray, at: float) -> Callable[[float], np.ndarray]:
    return lambda t: a if t < at - 1e-9 else b


# -- steady against noise, misreads and ambiguity -------------------------------------------------------


@pytest.mark.parametrize("fps", [10, 30])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_constant_stream_never_changes_once_established(fps, seed):
    rng = np.random.default_rng(seed)
    base = vec(happy=0.6)
    misread_left, misread = 0, base
    probs = []
    for _ in range(60 * fps):
        if misread_left == 0 and rng.random() < 0.04:  # another class tops for 1-3 frames
            misread_left = int(rng.integers(1, 4))
            misread = vec(**{str(rng.choice([e for e in EMOTIONS if e != "happy"])): 0.7, "happy": 0.1})
        if misread_left:
            misread_left -= 1
            probs.append(misread)
        else:
            probs.append(rng.dirichlet(base * 20))
    misreads = sum(1 for p in probs if np.argmax(p) != EMOTIONS.index("happy"))
    assert misreads > len(probs) // 20  # the stream really is noisy: more than 5 % of frames
    hold = MoodConfig().hold
    frames = run(MoodFilter(MoodConfig(), EMOTIONS), lambda t, i: [(BIG, probs[i])], fps, 60)
    got = changes(frames)
    # one mood, happy, for good. It comes after the hold, later if a misread in the first seconds
    # restarts the hold's clock (a 3-frame misread moves a 0.3 s half-life average half way).
    assert [label for _, label in got] == ["happy"]
    assert hold - 1e-6 <= got[0][0] <= hold + 2.0
    assert all(m.label == "happy" for t, m, _ in frames if t >= got[0][0])


def test_hovering_between_two_moods_stays_uncertain():
    rng = np.random.default_rng(3)

    def hover(t: float) -> np.ndarray:
        p = vec(happy=0.45, sad=0.45) + rng.normal(0, 0.03, 7)
        p = np.clip(p, 0, None)
        return p / p.sum()

    frames = run(MoodFilter(MoodConfig(), EMOTIONS), one_face(hover), 10, 60)
    assert changes(frames) == []
    assert {m.label for _, m, _ in frames} == {UNCERTAIN}


def test_hovering_after_a_mood_goes_uncertain_once_and_never_flips():
    rng = np.random.default_rng(4)

    def stream(t: float) -> np.ndarray:
        if t < 10:
            return vec(happy=0.8)
        p = np.clip(vec(happy=0.45, sad=0.45) + rng.normal(0, 0.03, 7), 0, None)
        return p / p.sum()

    frames = run(MoodFilter(MoodConfig(), EMOTIONS), one_face(stream), 10, 60)
    got = changes(frames)
    assert [label for _, label in got] == ["happy", UNCERTAIN]
    assert got[1][0] >= 10 + MoodConfig().hold  # entering uncertain needs the hold too


def test_a_short_ambiguous_spell_does_not_report_uncertain():
    cfg = MoodConfig()
    stream = lambda t: vec(happy=0.45, sad=0.45) if 10 <= t < 11.5 else vec(happy=0.8)  # noqa: E731
    frames = run(MoodFilter(cfg, EMOTIONS), one_face(stream), 10, 30)
    assert [label for _, label in changes(frames)] == ["happy"]


def close_call(cfg: MoodConfig) -> np.ndarray:
    """sad leading happy past the tie margin but not past the margin (midway between them)."""
    lead = (cfg.tie_margin + cfg.margin) / 2
    assert cfg.tie_margin < lead < cfg.margin
    return vec(sad=0.48 + lead / 2, happy=0.48 - lead / 2)


def test_a_challenger_within_the_margin_does_not_displace_the_mood():
    cfg = MoodConfig()
    close = close_call(cfg)
    stream = step(vec(happy=0.8), close, 10)
    frames = run(MoodFilter(cfg, EMOTIONS), one_face(stream), 10, 40)
    assert [label for _, label in changes(frames)] == ["happy"]
    # the same reading with no mood to defend is sad
    fresh = run(MoodFilter(cfg, EMOTIONS), one_face(lambda t: close), 10, 5)
    assert fresh[-1][1].label == "sad"


def test_the_margin_is_kept_against_the_playing_mood_while_uncertain():
    stream = lambda t: (vec(happy=0.8) if t < 10 else vec(happy=0.45, sad=0.45) if t < 20  # noqa: E731
                        else close_call(MoodConfig()))
    frames = run(MoodFilter(MoodConfig(), EMOTIONS), one_face(stream), 10, 40)
    assert [label for _, label in changes(frames)] == ["happy", UNCERTAIN]


# -- the step response ----------------------------------------------------------------------------------

STEPS = [
    (MoodConfig(), vec(happy=0.8), vec(sad=0.8)),
    (MoodConfig(), vec(happy=0.6), vec(neutral=0.5)),
    (MoodConfig(), vec(angry=0.9), vec(fear=0.45)),
    (MoodConfig(half_life=0.3, hold=1.0), vec(surprise=0.7), vec(disgust=0.7)),
    (MoodConfig(half_life=1.5, margin=0.2, min_confidence=0.5), vec(happy=0.95), vec(sad=0.8)),
]


@pytest.mark.parametrize("fps", [5, 10, 30])
@pytest.mark.parametrize("cfg,a,b", STEPS)
def test_a_clean_step_changes_exactly_once_within_the_bound(cfg, a, b, fps):
    bound = step_response_bound(cfg, a, b)
    assert math.isfinite(bound)
    frames = run(MoodFilter(cfg, EMOTIONS), one_face(step(a, b, 10.0)), fps, 10 + bound + 10 * cfg.half_life)
    got = changes(frames)
    top_a, top_b = EMOTIONS[int(np.argmax(a))], EMOTIONS[int(np.argmax(b))]
    assert [label for _, label in got] == [top_a, top_b]
    assert got[0][0] == pytest.approx(math.ceil(cfg.hold * fps - 1e-6) / fps)  # the first mood needs the hold too
    delay, dt = got[1][0] - 10.0, 1 / fps
    # within [bound - dt, bound] when the hold is a whole number of frames, below bound + dt always
    hold_in_frames = abs(cfg.hold * fps - round(cfg.hold * fps)) < 1e-6
    assert cfg.hold - 1e-6 <= delay <= bound + (1e-6 if hold_in_frames else dt - 1e-6)
    assert delay >= bound - dt - 1e-6
    # and exactly when the module docstring says, counted in frames
    tau = bound - cfg.hold
    frames_to_cross = max(math.ceil(tau / dt - 1e-9), 1) - 1
    assert delay == pytest.approx(frames_to_cross * dt + math.ceil(cfg.hold / dt - 1e-9) * dt, abs=1e-6)
    mood = frames[-1][1]
    assert mood.since == pytest.approx(got[1][0])
    assert mood.confidence == pytest.approx(b.max(), abs=0.01)


def test_with_the_defaults_any_clean_step_between_clear_moods_changes_exactly_once():
    levels = np.round(np.arange(0.45, 0.96, 0.05), 2)
    for pa in levels:
        for pb in levels:
            a, b = vec(happy=pa), vec(sad=pb)
            got = changes(run(MoodFilter(MoodConfig(), EMOTIONS), one_face(step(a, b, 5.0)), 10, 12))
            assert [label for _, label in got] == ["happy", "sad"], (pa, pb)


def test_step_bound_formula_for_the_default_config():
    cfg = MoodConfig()
    a, b = vec(happy=0.8), vec(sad=0.8)
    # margin is the last condition to hold: p_sad - p_happy goes -0.767 -> +0.767 and must reach the margin
    d = 0.8 - 0.2 / 6
    assert step_response_bound(cfg, a, b) == pytest.approx(
        cfg.half_life * math.log2(2 * d / (d - cfg.margin)) + cfg.hold)
    assert step_response_bound(cfg, a, a) == cfg.hold
    assert step_response_bound(cfg, a, vec(sad=cfg.min_confidence - 0.02)) == math.inf  # never confident
    assert step_response_bound(cfg, a, close_call(cfg)) == math.inf  # never past the margin


def test_a_step_does_not_hang_on_the_hold_when_the_hold_is_not_a_multiple_of_the_frame_period():
    cfg = MoodConfig(hold=1.25)
    a, b = vec(happy=0.8), vec(sad=0.8)
    bound = step_response_bound(cfg, a, b)
    got = changes(run(MoodFilter(cfg, EMOTIONS), one_face(step(a, b, 10.0)), 10, 20))
    assert len(got) == 2
    assert bound - 0.1 - 1e-6 <= got[1][0] - 10.0 < bound + 0.1


def test_switch_times_are_frame_rate_independent():
    a, b = vec(happy=0.8), vec(sad=0.8)
    ramp = lambda t: a if t < 10 else b if t > 13 else a + (b - a) * (t - 10) / 3  # noqa: E731
    for stream in (step(a, b, 10.0), ramp):
        slow = changes(run(MoodFilter(MoodConfig(), EMOTIONS), one_face(stream), 10, 25))
        fast = changes(run(MoodFilter(MoodConfig(), EMOTIONS), one_face(stream), 30, 25))
        assert [label for _, label in slow] == [label for _, label in fast] == ["happy", "sad"]
        for (t_slow, _), (t_fast, _) in zip(slow, fast):
            assert abs(t_slow - t_fast) <= 0.1 + 1e-9


def test_uneven_frame_times_give_the_same_switch_within_a_frame():
    rng = np.random.default_rng(5)
    a, b = vec(happy=0.8), vec(sad=0.8)
    times = np.cumsum(rng.uniform(0.03, 0.2, 400))  # a jittery camera
    filt = MoodFilter(MoodConfig(), EMOTIONS)
    switched = None
    for t in times:
        mood, changed = filt.update(t, [BIG], [Emotions(a if t < 10 else b, EMOTIONS)])
        if changed and mood.label == "sad":
            switched = t
    first_b = times[times >= 10][0]
    bound = step_response_bound(MoodConfig(), a, b)
    assert switched is not None
    assert bound - 0.2 <= switched - first_b <= bound + 0.2


# -- valence and arousal ---------------------------------------------------------------------------------


def test_one_hot_maps_to_the_table_exactly():
    for label in EMOTIONS:
        one_hot = np.array([float(x == label) for x in EMOTIONS])
        assert valence_arousal(one_hot, EMOTIONS) == CIRCUMPLEX[label]
    frames = run(MoodFilter(MoodConfig(), SHUFFLED), one_face(lambda t: vec(SHUFFLED, happy=1.0)), 10, 3)
    mood = frames[-1][1]
    assert mood.label == "happy"
    assert (mood.valence, mood.arousal) == CIRCUMPLEX["happy"]
    assert mood.probs["happy"] == 1.0


def test_circumplex_table_covers_the_fer_labels_within_range():
    assert set(CIRCUMPLEX) == set(EMOTIONS)
    assert all(-1 <= v <= 1 and -1 <= a <= 1 for v, a in CIRCUMPLEX.values())
    assert CIRCUMPLEX["neutral"] == (0.0, 0.0)
    assert CIRCUMPLEX["happy"][0] > 0 > CIRCUMPLEX["sad"][0] and CIRCUMPLEX["sad"][1] < 0


def test_valence_arousal_is_probability_weighted():
    p = vec(happy=0.5, sad=0.5)
    v, a = valence_arousal(p, EMOTIONS)
    assert v == pytest.approx((0.81 - 0.63) / 2) and a == pytest.approx((0.51 - 0.27) / 2)
    assert valence_arousal(np.zeros(7), EMOTIONS) == (0.0, 0.0)
    with pytest.raises(ValueError, match="contempt"):
        valence_arousal(np.ones(2), ("happy", "contempt"))


probabilities = st.lists(st.floats(0, 1), min_size=7, max_size=7).filter(lambda p: sum(p) > 1e-3)


@given(probabilities, st.permutations(range(7)))
def test_valence_arousal_ignores_label_order_and_stays_in_the_hull(p, perm):
    labels = tuple(EMOTIONS[i] for i in perm)
    v, a = valence_arousal(p, EMOTIONS)
    v2, a2 = valence_arousal([p[i] for i in perm], labels)
    assert v == pytest.approx(v2, abs=1e-9) and a == pytest.approx(a2, abs=1e-9)
    vs, as_ = zip(*CIRCUMPLEX.values())
    assert min(vs) - 1e-9 <= v <= max(vs) + 1e-9 and min(as_) - 1e-9 <= a <= max(as_) + 1e-9


# -- several faces: the aggregates ----------------------------------------------------------------------


def settle(cfg: MoodConfig, pairs: list[tuple[Face, np.ndarray]], labels: Sequence[str] = EMOTIONS) -> Mood:
    return run(MoodFilter(cfg, labels), lambda t, i: pairs, 10, 3)[-1][1]


def test_weighted_favours_the_larger_face():
    mood = settle(MoodConfig(), [(BIG, vec(happy=0.7)), (SMALL, vec(sad=0.9))])
    assert mood.label == "happy" and mood.faces == 2
    assert mood.probs["happy"] > 0.6


def test_weighted_favours_the_more_confident_face():
    sure, unsure = vec(happy=0.9), vec(sad=0.5)
    twin = Face((300, 0, 200, 200), 2)
    mood = settle(MoodConfig(), [(BIG, sure), (twin, unsure)])
    expected = (0.9 * sure + 0.5 * unsure) / 1.4  # same area: weights are the confidences
    assert mood.probs == {k: pytest.approx(v, abs=1e-4) for k, v in zip(EMOTIONS, expected)}
    assert mood.probs["happy"] > (sure + unsure)[3] / 2  # more than a plain mean
    assert mood.label == "happy"


def test_largest_uses_the_largest_face_only():
    big, small = Face((0, 0, 110, 110), 1), Face((200, 0, 100, 100), 2)
    pairs = [(big, vec(sad=0.6)), (small, vec(happy=0.95))]
    assert settle(MoodConfig(), pairs).label == "happy"  # weighted: the small face is far surer
    mood = settle(MoodConfig(aggregate="largest"), pairs)
    assert mood.label == "sad" and mood.probs["sad"] == pytest.approx(0.6)


def test_majority_counts_faces_not_pixels():
    faces = [Face((0, 0, 40, 40), 1), Face((50, 0, 40, 40), 2), Face((100, 0, 300, 300), 3)]
    pairs = list(zip(faces, [vec(happy=0.6), vec(happy=0.6), vec(sad=0.95)]))
    assert settle(MoodConfig(), pairs).label == "sad"
    assert settle(MoodConfig(aggregate="largest"), pairs).label == "sad"
    mood = settle(MoodConfig(aggregate="majority"), pairs)
    assert mood.label == "happy" and mood.faces == 3
    assert mood.probs["happy"] == pytest.approx(2 / 3, abs=1e-4) and mood.probs["sad"] == pytest.approx(1 / 3, abs=1e-4)


def test_majority_unsure_faces_abstain_and_splits_are_uncertain():
    flat = vec(happy=0.2, sad=0.18)
    assert settle(MoodConfig(aggregate="majority"), [(BIG, vec(happy=0.6)), (SMALL, flat)]).label == "happy"
    split = [(BIG, vec(happy=0.9)), (SMALL, vec(sad=0.9))]
    assert settle(MoodConfig(aggregate="majority"), split).label == UNCERTAIN


# -- tracks, an empty room, labels, API --------------------------------------------------------------------------


def test_tracks_are_remembered_briefly_then_forgotten():
    cfg = MoodConfig(forget_after=1.0)
    filt = MoodFilter(cfg, EMOTIONS)
    run(filt, lambda t, i: [(BIG, vec(happy=0.8)), (SMALL, vec(sad=0.8))], 10, 3)
    assert filt.tracks == 2
    only_big = lambda t, i: [(BIG, vec(happy=0.8))]  # noqa: E731
    frames = run(filt, only_big, 10, 2, start=3.0)
    by_t = {round(t, 1): m for t, m, _ in frames}
    assert by_t[3.5].faces == 2 and by_t[3.5].probs["sad"] > 0.05  # the small face still counts
    assert by_t[4.5].faces == 1 and by_t[4.5].probs["sad"] == pytest.approx(vec(happy=0.8)[5], abs=1e-4)
    assert filt.tracks == 1


def test_a_returning_track_blends_within_forget_after_and_restarts_after():
    filt = MoodFilter(MoodConfig(forget_after=1.0, half_life=0.6), EMOTIONS)
    filt.update(0.0, [BIG], [Emotions(vec(happy=0.8), EMOTIONS)])
    mood, _ = filt.update(0.6, [BIG], [Emotions(vec(sad=0.8), EMOTIONS)])  # gap of one half-life
    assert mood.probs["happy"] == pytest.approx((vec(happy=0.8)[3] + vec(sad=0.8)[3]) / 2, abs=1e-4)
    filt.update(2.0, [], [])  # > forget_after since last seen
    assert filt.tracks == 0
    mood, _ = filt.update(2.1, [BIG], [Emotions(vec(angry=0.9), EMOTIONS)])
    assert mood.probs["angry"] == pytest.approx(0.9)  # a fresh start, not a blend


def test_with_nobody_in_the_room_the_mood_stays():
    """Nobody seen is the music's timer (music.idle_after, edge.music.idle), not the mood's."""
    filt = MoodFilter(MoodConfig(), EMOTIONS)
    run(filt, one_face(lambda t: vec(happy=0.8)), 10, 5)  # the last face is at t = 4.9
    assert filt.mood.label == "happy"
    since = filt.mood.since
    for i in range(80):
        mood, changed = filt.update(5.0 + i / 10, [], [])
        assert mood.label == "happy" and mood.since == since and not changed
    assert mood.faces == 0 and mood.probs["happy"] == pytest.approx(0.8)  # the last figures stay


def test_labels_in_any_order_give_the_same_moods():
    a, b = vec(happy=0.8), vec(sad=0.8)
    perm = [EMOTIONS.index(x) for x in SHUFFLED]
    plain = changes(run(MoodFilter(MoodConfig(), EMOTIONS), one_face(step(a, b, 10)), 10, 20))
    shuffled = changes(run(MoodFilter(MoodConfig(), SHUFFLED), one_face(step(a[perm], b[perm], 10)), 10, 20))
    assert plain == shuffled == [(pytest.approx(MoodConfig().hold), "happy"), (pytest.approx(plain[1][0]), "sad")]


def test_emotions_in_another_label_order_are_reordered_by_name():
    filt = MoodFilter(MoodConfig(), SHUFFLED)
    mood, _ = filt.update(0.0, [BIG], [Emotions(vec(EMOTIONS, fear=0.7).astype(np.float32), EMOTIONS)])
    assert mood.probs["fear"] == pytest.approx(0.7)
    assert list(mood.probs) == list(SHUFFLED)
    with pytest.raises(ValueError, match="labels"):
        filt.update(0.1, [BIG], [Emotions(np.ones(7) / 7, ("a", "b", "c", "d", "e", "f", "g"))])


def test_changed_marks_exactly_the_frames_whose_label_changed():
    stream = lambda t: vec(happy=0.8) if t < 8 else vec(sad=0.8) if t < 16 else vec(happy=0.45, sad=0.45)  # noqa
    frames = run(MoodFilter(MoodConfig(), EMOTIONS), one_face(stream), 10, 25)
    previous = UNCERTAIN
    for _, mood, changed in frames:
        assert changed == (mood.label != previous)
        previous = mood.label
    assert [label for _, label in changes(frames)] == ["happy", "sad", UNCERTAIN]


def test_starts_uncertain_with_the_first_frame_time():
    filt = MoodFilter(MoodConfig(), EMOTIONS)
    mood, changed = filt.update(42.0, [], [])
    assert mood.label == UNCERTAIN and mood.since == 42.0 and mood.faces == 0 and not changed


def test_time_going_back_starts_afresh():
    filt = MoodFilter(MoodConfig(), EMOTIONS)
    run(filt, one_face(lambda t: vec(happy=0.8)), 10, 5)
    assert filt.mood.label == "happy"
    mood, _ = filt.update(1.0, [BIG], [Emotions(vec(sad=0.8), EMOTIONS)])  # a looping video restarts
    assert mood.label == UNCERTAIN and mood.since == 1.0 and mood.probs["sad"] == pytest.approx(0.8)


def test_bad_configs_and_inputs_name_the_problem():
    for kwargs, name in [({"aggregate": "mean"}, "aggregate"), ({"half_life": 0}, "half_life"),
                         ({"hold": -1}, "hold"), ({"min_confidence": 1.5}, "min_confidence"),
                         ({"forget_after": 0}, "forget_after")]:
        with pytest.raises(ValueError, match=name):
            MoodConfig(**kwargs)
    with pytest.raises(ValueError, match="contempt"):
        MoodFilter(MoodConfig(), EMOTIONS + ("contempt",))
    with pytest.raises(ValueError, match="reserved"):
        MoodFilter(MoodConfig(), ("happy", UNCERTAIN))
    with pytest.raises(ValueError, match="faces"):
        MoodFilter(MoodConfig(), EMOTIONS).update(0.0, [BIG], [])


def test_duplicate_track_ids_use_the_largest_face():
    filt = MoodFilter(MoodConfig(), EMOTIONS)
    small_same_id = Face((0, 0, 10, 10), BIG.track_id)
    emotions = [Emotions(vec(sad=0.9), EMOTIONS), Emotions(vec(happy=0.9), EMOTIONS)]
    mood, _ = filt.update(0.0, [small_same_id, BIG], emotions)
    assert mood.faces == 1 and mood.probs["happy"] == pytest.approx(0.9)


# -- properties --------------------------------------------------------------------------------------------


segment = st.tuples(st.floats(0.05, 3.0), st.lists(st.floats(0, 1), min_size=7, max_size=7))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=1, max_size=12), st.sampled_from([5, 10, 30]), st.floats(0.0, 3.0),
       st.floats(0.1, 2.0))
def test_reported_moods_last_at_least_the_hold(segments, fps, hold, half_life):
    cfg = MoodConfig(hold=hold, half_life=half_life)
    ends, vectors = np.cumsum([d for d, _ in segments]), [np.asarray(p) + 1e-6 for _, p in segments]

    def stream(t: float) -> np.ndarray:
        k = min(int(np.searchsorted(ends, t, side="right")), len(vectors) - 1)
        return vectors[k] / vectors[k].sum()

    frames = run(MoodFilter(cfg, EMOTIONS), one_face(stream), fps, float(ends[-1]) + hold + 1)
    times = [0.0] + [t for t, _ in changes(frames)]
    assert all(b - a >= hold - 1e-6 for a, b in zip(times, times[1:]))
    for t, mood, _ in frames:
        assert mood.since <= t and mood.since == pytest.approx(max(x for x in times if x <= t))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(EMOTIONS), st.sampled_from(EMOTIONS), st.floats(0.45, 0.95), st.floats(0.2, 0.95),
       st.sampled_from([5, 10, 30]), st.sampled_from([1.0, 2.0]), st.floats(0.2, 1.5))
def test_any_clean_step_switches_when_the_bound_says(top_a, top_b, pa, pb, fps, hold, half_life):
    assume(top_a != top_b)
    cfg = MoodConfig(hold=hold, half_life=half_life)
    # the probabilities as the filter gets them (Emotions carry float32): at a threshold's edge, e.g.
    # pb == min_confidence, float32 rounding decides whether B is reached or only approached
    a, b = (vec(**{top: p}).astype(np.float32).astype(np.float64) for top, p in ((top_a, pa), (top_b, pb)))
    bound = step_response_bound(cfg, a, b)
    seconds = 10 + (bound if math.isfinite(bound) else 3 * hold + 6 * half_life) + 2
    got = changes(run(MoodFilter(cfg, EMOTIONS), one_face(step(a, b, 10.0)), fps, seconds))
    assert got[0] == (pytest.approx(hold), top_a)
    after = got[1:]
    if math.isfinite(bound):
        # exactly one switch to B; a weak B may pass through a genuinely uncertain spell first
        assert [label for _, label in after] in ([top_b], [UNCERTAIN, top_b])
        assert bound - 1 / fps - 1e-6 <= after[-1][0] - 10.0 <= bound + 1e-6
    else:
        assert top_b not in [label for _, label in after]
        assert len(after) <= 1

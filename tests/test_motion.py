"""Motion gating: the detector's background, the gate's states, and the finder that follows them.

Synthetic frames made here (a textured wall with sensor noise, a moving blob) at 15 fps of frame time;
the cascade is replaced by a script where a test needs a face at a known place (it counts its calls and
records where it was asked to look). One test walks a real FER2013 face into the room (skipped without
the data set).
"""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks import clips
from edge.detect import DetectConfig, Detection, FaceFinder
from edge.motion import ACTIVE, IDLE, STILL, Gate, MotionDetector
from edge.types import Frame

FPS = 15.0
WALL = clips.background(seed=3)


def room(i: int, blob: tuple[int, int] | None = None, gain: float = 1.0) -> np.ndarray:
    """Frame ``i`` of a still room (noise differs per frame), with a dark 120 px blob centred at ``blob``."""
    rng = np.random.default_rng(i)
    image = cv2.convertScaleAbs(WALL, alpha=gain)
    if blob is not None:
        cv2.circle(image, blob, 60, (30, 40, 50), -1)
    noise = rng.normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def frame(i: int, image: np.ndarray) -> Frame:
    return Frame(image, i / FPS, i)


# -- the motion detector ---------------------------------------------------------------------------

def test_still_noisy_room_is_not_motion_and_a_blob_is_where_it_moves():
    motion = MotionDetector()
    assert [motion.update(room(i), i / FPS).moving for i in range(30)] == [False] * 30
    found = motion.update(room(30, (400, 200)), 30 / FPS)
    assert found.moving and 0 < found.area < 0.2
    (x, y, w, h), = found.boxes  # full-frame pixels, around the blob
    assert x <= 345 and y <= 145 and x + w >= 455 and y + h >= 255
    assert w < 200 and h < 200


def test_lights_on_recalibrates_at_once_and_asks_for_a_look_everywhere():
    motion = MotionDetector()
    for i in range(10):
        motion.update(room(i), i / FPS)
    lights = motion.update(room(10, gain=1.8), 10 / FPS)
    assert lights.recalibrated and lights.area > 0.6 and lights.boxes == ((0, 0, 640, 480),)
    assert not motion.update(room(11, gain=1.8), 11 / FPS).moving  # the new light is the background now


def test_a_change_that_stays_becomes_background_in_frame_time_at_any_rate():
    for fps in (5.0, 15.0, 30.0):
        motion = MotionDetector(half_life=0.25)
        motion.update(room(0), 0.0)
        moving = [motion.update(room(i, (300, 240)), i / fps).moving for i in range(1, int(3 * fps))]
        still_from = len(moving) - moving[::-1].index(True)  # first frame of the final run of no motion
        assert all(moving[:2]) and not any(moving[still_from:])
        assert 0.4 <= still_from / fps <= 1.5, fps  # the same second or so at 5, 15 and 30 fps


# -- the gate, alone ---------------------------------------------------------------------------------

def test_gate_heartbeat_full_rate_tracker_and_back():
    gate = Gate(every=3, heartbeat=1.0, still_every=1.0, settle=0.5)
    log = []
    for i in range(75):  # 5 s at 15 fps
        t = i / FPS
        moving = 15 <= i < 30  # motion from 1 s to 2 s
        tracked = 20 <= i < 60  # a face tracked from 1.33 s to 4 s
        log.append(gate.decide(t, moving, tracked))
    states = [s for s, _ in log]
    runs = [i for i, (_, due) in enumerate(log) if due]
    assert states[:15] == [IDLE] * 15 and runs[:1] == [0]  # empty room: the first frame, then once a second
    assert states[15:37] == [ACTIVE] * 22  # motion, and 0.5 s of settling after it (frames 30-36)
    assert 15 in runs  # motion brings full rate at once ...
    assert [i for i in runs if 15 <= i < 37] == list(range(15, 37, 3))  # ... every 3rd frame
    assert states[37:60] == [STILL] * 23  # a tracked face, no motion: the tracker carries it
    assert [i for i in runs if 37 <= i < 60] == [51]  # one second after the last detection (frame 36)
    assert states[60:] == [IDLE] * 15  # the face is gone: the heartbeat again
    assert [i for i in runs if i >= 60] == [66]


def test_gate_restarts_when_time_goes_back():
    gate = Gate(heartbeat=1.0)
    assert gate.decide(5.0, False, False) == (IDLE, True)
    assert gate.decide(5.1, False, False) == (IDLE, False)
    assert gate.decide(0.0, False, False) == (IDLE, True)  # a new clip: detect at once


# -- the finder, following the gate ---------------------------------------------------------------

class ScriptedDetector:
    """A detector that answers ``script(image, regions)``; the real finder (motion, gate, tracker, regions)
    runs above it. ``index`` is the frame the test is on, noted with every run."""

    def __init__(self, script):
        self.script = script
        self.index = 0
        self.asked = []  # (frame index, regions) of every detector run

    def detect(self, image, regions=None, lores=None):
        self.asked.append((self.index, regions))
        return [Detection(b) for b in self.script(image, regions)]


def ScriptedFinder(cfg, script):  # noqa: N802 (reads as the finder it builds)
    return FaceFinder(cfg, detector=ScriptedDetector(script))


def blob_face(blob):
    """A cascade that 'finds' a face wherever the blob is, if it was asked to look there."""
    def script(image, regions):
        if blob[0] is None:
            return []
        x, y = blob[0][0] - 60, blob[0][1] - 60
        if regions is not None and not any(rx <= x + 60 <= rx + rw and ry <= y + 60 <= ry + rh
                                           for (rx, ry, rw, rh), _ in regions):
            return []
        return [(x, y, 120, 120)]
    return script


def test_finder_empty_motion_still_and_back():
    blob: list[tuple[int, int] | None] = [None]
    finder = ScriptedFinder(DetectConfig(heartbeat=2.0), blob_face(blob))
    states, faces, reread = [], [], []

    def step(i, where):
        blob[0] = where
        finder.detector.index = i
        found = finder.find(frame(i, room(i, where)))
        states.append(found.state)
        faces.append(list(found.faces))
        reread.append(found.reread)

    for i in range(45):  # 3 s of an empty room
        step(i, None)
    assert set(states) == {IDLE} and [i for i, _ in finder.detector.asked] == [0, 30]  # once every heartbeat (2 s)
    assert all(regions is None for _, regions in finder.detector.asked)  # the heartbeat searches the whole frame
    for i in range(45, 60):  # someone walks in from the right and stops at x=400
        step(i, (640 - 16 * (i - 44), 240) if i < 60 - 1 else (400, 240))
    assert states[45] == ACTIVE and finder.detector.asked[2][0] == 45  # at once
    assert finder.detector.asked[2][1] is not None  # only where it moved
    assert faces[-1] and abs(faces[-1][0].box[0] - 340) <= 3 * 16  # followed, a detection or two behind
    for i in range(60, 120):  # holds still for 4 s
        step(i, (400, 240))
    assert states[-1] == STILL and faces[-1][0].box == (340, 180, 120, 120)
    still = [(i, r) for i, r in finder.detector.asked if i >= 60 and states[i] == STILL]
    assert 2 <= len(still) <= 4  # about once a second ...
    near = [r for _, r in still if r is not None]
    assert near and len(still) - len(near) <= 2  # ... around the face, the whole frame once every heartbeat (2 s)
    for regions in near:  # around the face only, for faces of about its size
        (x, y, w, h), (low, high) = regions[0]
        assert len(regions) == 1 and x <= 340 and x + w >= 460 and 0 < low < 120 < high < 240
    assert len({f[0].track_id for f in faces[45:] if f}) == 1
    quiet = reread[70:115]
    assert 13 <= sum(quiet) <= 17  # read at about 5 Hz while it holds still (3 s: 15 reads), not 15 Hz (45)
    for i in range(120, 135):  # leaves
        step(i, None)
    for i in range(135, 195):
        step(i, None)
    assert faces[-1] == [] and states[-1] == IDLE
    late = [i for i, _ in finder.detector.asked if i >= 150]
    assert len(late) <= 2  # the heartbeat again


def test_gate_off_is_the_old_cadence():
    blob = [(300, 240)]
    finder = ScriptedFinder(DetectConfig(gate=False, every=3), blob_face(blob))
    for i in range(9):
        finder.detector.index = i
        finder.find(frame(i, room(i, blob[0])))
    assert [i for i, _ in finder.detector.asked] == [0, 3, 6]


def test_real_face_walking_in_is_found_within_half_a_second(fer2013):
    face = clips.pick_faces(fer2013, "happy", 1)[0]
    finder = FaceFinder(DetectConfig())
    size, y = 180, 150
    entered = found = None
    for i in range(60):
        x = min(230, -size + 20 * max(0, i - 15))  # empty for 1 s, then walks in from the left at 300 px/s
        image = clips.face_canvas([face], [(x, y)], size=size, bg=WALL) if x > -size else WALL.copy()
        found_now = finder.find(frame(i, image))
        faces = found_now.faces
        if entered is None and x >= 0:
            entered = i
        if entered is not None and found is None and clips.hits([f.box for f in faces], (x, y, size, size)):
            found = i
    assert entered is not None and found is not None
    assert (found - entered) / FPS <= 0.5
    assert found_now.state in (ACTIVE, STILL)


def test_gate_takes_a_last_look_when_motion_settles_with_nobody_tracked():
    gate = Gate(every=3, heartbeat=1.0, settle=0.5)
    log = [gate.decide(i / FPS, i in (3, 4), False) for i in range(30)]
    runs = [i for i, (_, due) in enumerate(log) if due]
    assert log[11][0] == ACTIVE and log[12][0] == IDLE  # 0.5 s after the last motion (frame 4)
    assert runs == [0, 3, 6, 9, 12, 27]  # motion at once, full rate, a last look on settling, then the heartbeat

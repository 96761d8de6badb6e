"""Face finding: the real Haar cascade on real face pixels (FER2013), and the mapping/tracking logic alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks import clips
from edge.detect import (
    DetectConfig,
    DetectError,
    Detection,
    FaceFinder,
    Tracker,
    dedupe,
    detect_scale,
    iou,
    pad,
    to_full,
)
from edge.types import Frame


def frame(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image, index / 10, index)


# -- no data set needed ----------------------------------------------------------------------------

def test_no_face_in_blank_or_noise():
    finder = FaceFinder(DetectConfig(every=1))
    rng = np.random.default_rng(0)
    assert finder.find(frame(np.zeros((480, 640, 3), np.uint8))).faces == ()
    assert finder.find(frame(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), 1)).faces == ()
    assert finder.find(frame(clips.background(seed=3), 2)).faces == ()


def test_downscale_never_upscales_and_boxes_map_back_clipped():
    assert detect_scale(640, 320) == 0.5
    assert detect_scale(1280, 320) == 0.25
    assert detect_scale(200, 320) == 1.0
    assert to_full([(10, 20, 30, 40)], 0.5, (640, 480)) == [(20, 40, 60, 80)]
    assert to_full([(150, 100, 20, 30)], 0.5, (310, 250)) == [(300, 200, 10, 50)]  # clipped at the right
    assert to_full([(500, 10, 5, 5)], 1.0, (100, 100)) == []  # wholly outside


def test_search_regions_grow_clip_and_dedupe():
    assert pad((100, 100, 40, 20), 0.5, (640, 480)) == (80, 80, 80, 60)
    assert pad((0, 460, 40, 20), 0.5, (640, 480)) == (0, 440, 60, 40)  # clipped at the frame
    # a face found twice (overlapping regions) is kept once, the larger box; distinct faces both stay
    assert dedupe([(100, 100, 50, 50), (0, 0, 40, 40), (102, 101, 52, 52)]) == [(102, 101, 52, 52), (0, 0, 40, 40)]


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_tracker_keeps_ids_and_drops_lost_tracks():
    tracker = Tracker(lost_after=2)
    a, b = (100, 100, 80, 80), (400, 120, 60, 60)
    first = tracker.update([a, b])
    ids = {f.box: f.track_id for f in first}
    assert [f.box for f in first] == [a, b]  # largest first
    moved = tracker.update([(410, 125, 60, 60), (108, 104, 80, 80)])  # both moved a little, order swapped
    assert {f.box: f.track_id for f in moved} == {(108, 104, 80, 80): ids[a], (410, 125, 60, 60): ids[b]}
    one_miss = tracker.update([(112, 106, 80, 80)])  # b missed once: kept where it was
    assert [f.track_id for f in one_miss] == [ids[a], ids[b]]
    assert one_miss[1].box == (410, 125, 60, 60)
    two_misses = tracker.update([(114, 108, 80, 80)])  # b missed twice: dropped
    assert [f.track_id for f in two_misses] == [ids[a]]
    back = tracker.update([(114, 108, 80, 80), (410, 125, 60, 60)])  # b again: a new track
    assert back[1].track_id not in ids.values()


def test_tracker_matches_best_overlap_first():
    tracker = Tracker(lost_after=1)
    first = tracker.update([(0, 0, 100, 100), (90, 0, 100, 100)])
    left, right = first[0].track_id, first[1].track_id
    after = tracker.update([(85, 0, 100, 100), (5, 0, 100, 100)])
    assert {f.box[0]: f.track_id for f in after} == {5: left, 85: right}


class CountingDetector:
    """A detector that answers a script of boxes, counting detections (the real finder runs above it)."""

    def __init__(self, script):
        self.script = script
        self.calls = 0
        self.regions = []

    def detect(self, image, regions=None, lores=None):
        self.regions.append(regions)
        boxes = self.script(self.calls)
        self.calls += 1
        return [Detection(b) for b in boxes]


def CountingFinder(cfg, script):  # noqa: N802 (reads as the finder it builds)
    return FaceFinder(cfg, detector=CountingDetector(script))


def test_detects_only_every_n_frames_and_carries_boxes_between():
    finder = CountingFinder(DetectConfig(every=3, gate=False), lambda n: [(100 + 10 * n, 100, 80, 80)])
    image = np.zeros((480, 640, 3), np.uint8)
    results = [finder.find(frame(image, i)).faces for i in range(10)]
    assert finder.detector.calls == 4  # frames 0, 3, 6, 9
    assert [r[0].box[0] for r in results] == [100, 100, 100, 110, 110, 110, 120, 120, 120, 130]
    assert len({r[0].track_id for r in results}) == 1
    finder.reset()
    finder.find(frame(image, 10))
    assert finder.detector.calls == 5  # reset: the next frame detects


def test_at_most_max_faces_largest_first():
    boxes = [(0, 0, 50, 50), (100, 0, 90, 90), (300, 0, 70, 70)]
    finder = CountingFinder(DetectConfig(every=1, max_faces=2), lambda n: boxes)
    faces = finder.find(frame(np.zeros((480, 640, 3), np.uint8))).faces
    assert [f.box for f in faces] == [(100, 0, 90, 90), (300, 0, 70, 70)]


def test_missing_or_broken_cascade_names_the_path(tmp_path):
    missing = tmp_path / "nope.xml"
    with pytest.raises(DetectError, match=f"{missing}.*not found"):
        FaceFinder(DetectConfig(cascade=str(missing)))
    broken = tmp_path / "broken.xml"
    broken.write_text("<opencv_storage><cascade>nonsense</cascade></opencv_storage>")
    with pytest.raises(DetectError, match=f"{broken}.*did not load"):
        FaceFinder(DetectConfig(cascade=str(broken)))


def test_config_is_checked():
    with pytest.raises(ValueError, match="every"):
        DetectConfig(every=0)
    with pytest.raises(ValueError, match="scale_factor"):
        DetectConfig(scale_factor=1.0)
    with pytest.raises(ValueError, match="heartbeat"):
        DetectConfig(heartbeat=-1.0)
    with pytest.raises(ValueError, match="motion_area"):
        DetectConfig(motion_area=1.5)
    with pytest.raises(ValueError, match="threads"):
        DetectConfig(threads=-1)


def test_threads_are_set_once_from_config():
    before = cv2.getNumThreads()
    try:
        FaceFinder(DetectConfig(threads=1))
        assert cv2.getNumThreads() == 1
        FaceFinder(DetectConfig(threads=0))  # 0: leave OpenCV's setting alone
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)


# -- real faces ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faces(fer2013):
    """Two FER2013 faces the cascade finds at several sizes and places (``benchmarks.clips.pick_faces``)."""
    return clips.pick_faces(fer2013, "happy", 1) + clips.pick_faces(fer2013, "surprise", 1)


def assert_on_face(box, face_box):
    """A Haar box sits on the face: centre within 15% of the face's side, its side 0.6-1.5x the face's
    (the cascade's box varies with the face: from the eyes-to-mouth core to forehead-to-chin)."""
    x, y, w, h = box
    fx, fy, fs, _ = face_box
    assert abs(x + w / 2 - (fx + fs / 2)) <= 0.15 * fs and abs(y + h / 2 - (fy + fs / 2)) <= 0.15 * fs, box
    assert 0.6 * fs <= w <= 1.5 * fs, box


def test_face_found_in_full_frame_pixels(faces):
    finder = FaceFinder(DetectConfig(every=1))
    image = clips.face_canvas([faces[0]], [(220, 140)], size=200)
    (face,) = finder.find(frame(image)).faces
    assert_on_face(face.box, (220, 140, 200, 200))
    # the same scene at twice the resolution (detected at a quarter): the box doubles
    big = FaceFinder(DetectConfig(every=1)).find(frame(clips.face_canvas([faces[0]], [(440, 280)], (1280, 960),
                                                                          size=400))).faces
    assert len(big) == 1
    assert_on_face(big[0].box, (440, 280, 400, 400))
    assert np.allclose(big[0].box, 2 * np.array(face.box), atol=0.1 * 400)


def test_face_at_the_frame_edge_is_clipped(faces):
    finder = FaceFinder(DetectConfig(every=1))
    image = clips.face_canvas([faces[0]], [(0, 480 - 180)], size=180)  # touching the left and bottom edges
    (face,) = finder.find(frame(image)).faces
    x, y, w, h = face.box
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    assert abs(x + w / 2 - 90) <= 0.2 * 180 and abs(y + h / 2 - (480 - 90)) <= 0.2 * 180


def test_two_faces_largest_first_distinct_ids(faces):
    finder = FaceFinder(DetectConfig(every=1))
    left = clips.face_canvas([faces[0]], [(40, 120)], size=180)
    image = clips.face_canvas([faces[1]], [(400, 160)], size=150, bg=left)  # a smaller face on the right
    found = finder.find(frame(image)).faces
    assert len(found) == 2
    assert found[0].area >= found[1].area
    by_side = sorted(found, key=lambda f: f.box[0])
    assert_on_face(by_side[0].box, (40, 120, 180, 180))
    assert_on_face(by_side[1].box, (400, 160, 150, 150))
    assert found[0].track_id != found[1].track_id
    only = FaceFinder(DetectConfig(every=1, max_faces=1)).find(frame(image)).faces
    assert [f.box for f in only] == [found[0].box]


def test_track_id_stable_while_the_face_moves(faces):
    finder = FaceFinder(DetectConfig(every=2, gate=False))
    backdrop = clips.background()
    ids, seen = set(), 0
    for i in range(12):
        x, y = 150 + 6 * i, 120 + 3 * i
        found = finder.find(frame(clips.face_canvas([faces[1]], [(x, y)], size=190, bg=backdrop), i)).faces
        if found:
            seen += 1
            ids.add(found[0].track_id)
            if i % 2 == 0:  # a detection frame: the box follows the face
                assert_on_face(found[0].box, (x, y, 190, 190))
    assert seen == 12 and len(ids) == 1


def test_min_face_is_in_full_frame_pixels(faces):
    image = clips.face_canvas([faces[0]], [(220, 140)], size=200)
    assert FaceFinder(DetectConfig(min_face=300)).find(frame(image)).faces == ()
    assert len(FaceFinder(DetectConfig(min_face=150)).find(frame(image)).faces) == 1

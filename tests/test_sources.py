"""Frame sources: video files, images and folders made here, cameras faked or absent, helpful errors."""

from __future__ import annotations

import itertools
import os
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

import edge.sources as sources
from edge.sources import Source, SourceConfig, SourceError, as_bgr8, open_source
from edge.types import Frame

W, H = 96, 64


def levels(n: int) -> list[int]:
    return [20 + 20 * i for i in range(n)]


@pytest.fixture
def video(tmp_path):
    """A 10-frame 10 fps mp4; frame i is flat gray at ``levels()[i]``."""
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    assert writer.isOpened()
    for level in levels(10):
        writer.write(np.full((H, W, 3), level, np.uint8))
    writer.release()
    return path


def test_video_frames_and_media_time(video):
    with open_source(SourceConfig(spec=str(video))) as source:
        assert source.fps == pytest.approx(10.0)
        assert source.name == str(video)
        frames = list(source)
    assert len(frames) == 10
    assert [f.index for f in frames] == list(range(10))
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(10)])
    for frame, level in zip(frames, levels(10)):
        assert frame.image.shape == (H, W, 3) and frame.image.dtype == np.uint8
        assert abs(float(frame.image.mean()) - level) < 6  # in order, despite the codec


def test_video_loop_keeps_time_increasing(video):
    with open_source(SourceConfig(spec=str(video), loop=True)) as source:
        frames = list(itertools.islice(source, 25))
    assert [f.index for f in frames] == list(range(25))
    ts = [f.t for f in frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert ts[24] == pytest.approx(2.4)
    assert abs(float(frames[10].image.mean()) - float(frames[0].image.mean())) < 6  # back at the start


def test_video_realtime_paces_at_its_fps(video):
    start = time.monotonic()
    with open_source(SourceConfig(spec=str(video), realtime=True)) as source:
        frames = list(itertools.islice(source, 4))
    elapsed = time.monotonic() - start
    assert len(frames) == 4
    assert elapsed >= 0.25  # 3 intervals of 0.1 s; only a lower bound, so a busy machine cannot fail it


def test_closed_source_stops(video):
    source = open_source(SourceConfig(spec=str(video)))
    with source:
        next(iter(source))
    assert source.closed
    assert source.read() is None
    assert list(source) == []


def test_folder_in_natural_order_with_time_from_fps(tmp_path):
    for name, level in (("f2.png", 2), ("f10.png", 10), ("f1.png", 1)):
        cv2.imwrite(str(tmp_path / name), np.full((H, W, 3), level * 10, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "f5.png").write_bytes(b"broken")  # skipped with a warning
    with open_source(SourceConfig(spec=str(tmp_path), fps=5.0)) as source:
        assert source.fps == 5.0
        frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 100]
    assert [f.t for f in frames] == pytest.approx([0.0, 0.2, 0.4])
    assert [f.index for f in frames] == [0, 1, 2]


def test_folder_loop(tmp_path):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((H, W, 3), 50 + 100 * i, np.uint8))
    with open_source(SourceConfig(spec=str(tmp_path), loop=True, fps=10.0)) as source:
        frames = list(itertools.islice(source, 5))
    assert [f.t for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_image_once_or_looped(tmp_path):
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.full((H, W, 3), 77, np.uint8))
    with open_source(SourceConfig(spec=str(path))) as source:
        assert len(list(source)) == 1
    with open_source(SourceConfig(spec=str(path), loop=True, fps=4.0)) as source:
        frames = list(itertools.islice(source, 3))
    assert [f.t for f in frames] == pytest.approx([0.0, 0.25, 0.5])
    assert all(int(f.image[0, 0, 1]) == 77 for f in frames)


def test_gray_16bit_and_alpha_pngs_become_bgr_uint8(tmp_path):
    gray = np.tile(np.arange(W, dtype=np.uint8) * 2, (H, 1))
    deep = (gray.astype(np.uint16) << 8) | 0xFF  # 16-bit, same picture
    bgra = np.dstack([np.full((H, W), c, np.uint8) for c in (10, 20, 30, 0)])  # fully transparent
    for name, pixels in (("gray.png", gray), ("deep.png", deep), ("bgra.png", bgra)):
        cv2.imwrite(str(tmp_path / name), pixels)
    images = {}
    for name in ("gray.png", "deep.png", "bgra.png"):
        with open_source(SourceConfig(spec=str(tmp_path / name))) as source:
            (frame,) = list(source)
        assert frame.image.shape == (H, W, 3) and frame.image.dtype == np.uint8, name
        images[name] = frame.image
    assert np.array_equal(images["gray.png"][:, :, 0], gray)
    assert np.array_equal(images["deep.png"], images["gray.png"])  # 16 bits scaled down, not clipped
    assert images["bgra.png"][0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("pixels, expect", [
    (np.full((4, 5), 9, np.uint8), 9),
    (np.full((4, 5, 1), 9, np.uint8), 9),
    (np.full((4, 5, 2), 9, np.uint8), 9),  # gray + alpha
    (np.full((4, 5), 0x4000, np.uint16), 0x40),
    (np.full((4, 5, 3), 0.5, np.float32), 128),
    (np.ones((4, 5), bool), 255),
])
def test_as_bgr8(pixels, expect):
    out = as_bgr8(pixels)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert int(out[0, 0, 0]) == expect


def test_as_bgr8_swaps_and_refuses_nonsense():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 200
    assert as_bgr8(bgr, swap_rb=True)[0, 0].tolist() == [0, 0, 200]
    with pytest.raises(SourceError, match="shape"):
        as_bgr8(np.zeros((2, 2, 7), np.uint8))


def test_missing_file_says_what_a_source_is(tmp_path):
    with pytest.raises(SourceError, match="no such file.*camera index"):
        open_source(SourceConfig(spec=str(tmp_path / "nope.mp4")))


def test_broken_video_and_empty_folder(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(SourceError, match="bad.mp4"):
        open_source(SourceConfig(spec=str(bad)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images in folder"):
        open_source(SourceConfig(spec=str(empty)))


def test_nonexistent_camera(tmp_path):
    with pytest.raises(SourceError, match=r"camera 7 did not open.*ls /dev/video"):
        open_source(SourceConfig(spec="7"))
    with pytest.raises(SourceError, match=r"no camera at /dev/video97"):
        open_source(SourceConfig(spec="/dev/video97"))


def test_auto_without_a_camera(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    monkeypatch.setattr(sources, "DEFAULT_DEVICE", str(tmp_path / "video0"))
    with pytest.raises(SourceError, match=r"no camera found \(tried picamera2 and .*--source clip.mp4"):
        open_source(SourceConfig())


def test_config_is_checked():
    with pytest.raises(ValueError, match="color_order"):
        SourceConfig(color_order="rbg")
    with pytest.raises(ValueError, match="fps"):
        SourceConfig(fps=0)


# -- picamera2, faked: the real one needs a Pi ---------------------------------------------------

def fake_picamera2(cameras: int = 1):
    """A stand-in ``picamera2`` module: RGB888 frames (B,G,R in memory) with sensor timestamps 33 ms apart."""
    log: dict = {"released": 0, "closed": False}

    class Request:
        def __init__(self, n):
            self.n = n

        def make_array(self, stream):
            assert stream == "main"
            w, h = log["config"]["main"]["size"]
            image = np.zeros((h, w, 3), np.uint8)
            image[..., 0] = 200  # blue, in B,G,R order
            return image

        def get_metadata(self):
            return {"SensorTimestamp": 5_000_000_000 + self.n * 33_000_000}

        def release(self):
            log["released"] += 1

    class Picamera2:
        @staticmethod
        def global_camera_info():
            return [{"Model": "fake"}] * cameras

        def __init__(self, num=0):
            self.n = 0

        def create_video_configuration(self, main, controls):
            return {"main": main, "controls": controls}

        def configure(self, config):
            log["config"] = config

        def start(self):
            pass

        def capture_request(self):
            self.n += 1
            return Request(self.n - 1)

        def stop(self):
            pass

        def close(self):
            log["closed"] = True

    return types.SimpleNamespace(Picamera2=Picamera2), log


def test_picamera2_frames_sensor_time_and_color_order(monkeypatch):
    module, log = fake_picamera2()
    monkeypatch.setitem(sys.modules, "picamera2", module)
    with open_source(SourceConfig(spec="picamera2", width=64, height=48, fps=30.0)) as source:
        assert source.live
        frames = list(itertools.islice(source, 3))
    assert log["config"]["main"] == {"size": (64, 48), "format": "RGB888"}
    assert log["released"] == 3 and log["closed"]
    assert [f.t for f in frames] == pytest.approx([0.0, 0.033, 0.066])
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image[0, 0].tolist() == [200, 0, 0]
    with open_source(SourceConfig(spec="picamera2", width=64, height=48, color_order="rgb")) as source:
        assert next(iter(source)).image[0, 0].tolist() == [0, 0, 200]


def test_auto_prefers_picamera2_and_skips_it_without_cameras(monkeypatch, tmp_path):
    module, _ = fake_picamera2()
    monkeypatch.setitem(sys.modules, "picamera2", module)
    with open_source(SourceConfig(width=32, height=24)) as source:
        assert source.name.startswith("picamera2")
    module, _ = fake_picamera2(cameras=0)
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(sources, "DEFAULT_DEVICE", str(tmp_path / "video0"))
    with pytest.raises(SourceError, match="no camera found"):
        open_source(SourceConfig())


def test_a_live_source_whose_reads_fail_raises():
    class Flaky(Source):
        live = True
        name = "camera 0"

        def __init__(self):
            super().__init__()
            self.n = 0

        def read(self):
            self.n += 1
            return Frame(np.zeros((2, 2, 3), np.uint8), 0.0, 0) if self.n == 1 else None

    it = iter(Flaky())
    next(it)
    with pytest.raises(SourceError, match="stopped delivering frames"):
        next(it)


def test_a_video_file_under_dev_is_a_file_not_a_camera(tmp_path):
    """/dev/shm is a common place for scratch videos: only device nodes under /dev are cameras."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    path = shm / f"moodplayer-test-{os.getpid()}.png"
    try:
        assert cv2.imwrite(str(path), np.full((40, 60, 3), 90, np.uint8))
        with open_source(SourceConfig(spec=str(path))) as src:
            frames = list(src)
        assert len(frames) == 1 and frames[0].image.shape == (40, 60, 3)
    finally:
        path.unlink(missing_ok=True)

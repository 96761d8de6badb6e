"""Which camera ``auto`` opens (edge.sources.choice), picamera2's lores stream and stalls (edge.sources.picam),
and a camera absent at boot under systemd.

picamera2, libcamera and sysfs do not exist here: the camera is tests/standins/picamera2, a STAND-IN
written from picamera2's source (see its docstring), and /sys/class/video4linux and /dev/v4l/by-id are
FAKE TREES in a tmp folder, laid out as a Pi's kernel and udev make them.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import CameraAbsent, Resilient, SourceConfig, SourceError, open_camera, open_source
from edge.sources.choice import NUMPY_FIX, CameraChoice, Probe, choose, probe
from edge.sources.picam import i420, lores_size
from tests.rig import NotifySocket

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "tests" / "standins"

RIBBON = {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a"}
RIBBON_PI5 = {"Model": "imx219", "Location": 2, "Rotation": 0, "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx219@10"}
UVC = {"Model": "HD Pro Webcam C920", "Location": 2, "Rotation": 0,
       "Id": "/base/scb/pcie@7d500000/pci@0,0/usb@0,0-1.2:1.0-046d:082d"}
NUMPY_ERROR = ("ValueError: numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C "
               "header, got 88 from PyObject")

# /sys/class/video4linux/*/name on a Pi 4 with a ribbon camera (bcm2835-unicam, bcm2835-codec,
# bcm2835-isp, rpi-hevc-dec), and on a Pi 5 (rp1-cfe, pispbe).
PI4_NODES = {"video0": "unicam-image", "video1": "unicam-embedded", "video10": "bcm2835-codec-decode",
             "video11": "bcm2835-codec-encode", "video12": "bcm2835-codec-isp", "video13": "bcm2835-isp-output0",
             "video14": "bcm2835-isp-capture1", "video19": "rpi-hevc-dec"}
PI5_NODES = {"video0": "rp1-cfe-csi2_ch0", "video1": "rp1-cfe-csi2_ch1", "video4": "rp1-cfe-fe_image0",
             "video20": "pispbe-input", "video21": "pispbe-output0"}
WEBCAM = "usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0"


def fake_tree(tmp_path: Path, nodes: dict[str, str], usb: list[str] = ()) -> tuple[Path, Path]:
    """A FAKE /sys/class/video4linux (a folder per node with its ``name``) and /dev/v4l/by-id."""
    sysfs, by_id = tmp_path / "video4linux", tmp_path / "by-id"
    sysfs.mkdir()
    by_id.mkdir()
    for node, name in nodes.items():
        (sysfs / node).mkdir()
        (sysfs / node / "name").write_text(name + "\n")
    for link in usb:
        (by_id / link).symlink_to("../../video2")
        (by_id / link.replace("index0", "index1")).symlink_to("../../video3")  # metadata node: never chosen
    return sysfs, by_id


@pytest.fixture
def standin(monkeypatch):
    """The STAND-IN picamera2 module, importable as ``picamera2``, with fresh hardware each test."""
    monkeypatch.syspath_prepend(str(STANDINS))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    module = importlib.import_module("picamera2")
    assert module.STANDIN
    module.plug(module.Hardware())
    return module


# -- the decision --------------------------------------------------------------------------------------

def test_a_ribbon_camera_goes_to_picamera2_and_a_libcamera_usb_webcam_to_opencv(tmp_path, standin):
    standin.plug(standin.Hardware(cameras=[UVC, RIBBON]))
    sysfs, by_id = fake_tree(tmp_path, {**PI4_NODES, "video2": "HD Pro Webcam C920"}, [WEBCAM])
    info = standin.Picamera2.global_camera_info()
    assert [c["Model"] for c in info] == ["imx708", "HD Pro Webcam C920"]  # picamera2 sorts USB last
    choice = choose("auto", probe(standin.Picamera2.global_camera_info, sysfs, by_id))
    assert (choice.backend, choice.device) == ("picamera2", 0) and "imx708" in str(choice)

    standin.plug(standin.Hardware(cameras=[UVC]))  # only the webcam: libcamera lists it, OpenCV opens it
    choice = choose("auto", probe(standin.Picamera2.global_camera_info, sysfs, by_id))
    assert choice == CameraChoice("opencv", str(by_id / WEBCAM), "USB camera; libcamera lists it too, but OpenCV "
                                                                   "gives it in BGR")


def test_a_broken_picamera2_never_opens_the_csi_receiver_as_a_webcam(tmp_path, caplog):
    sysfs, by_id = fake_tree(tmp_path, PI4_NODES)
    look = lambda: probe(lambda: (_ for _ in ()).throw(ValueError(NUMPY_ERROR.split(": ", 1)[1])),  # noqa: E731
                         sysfs, by_id)
    assert look().picamera2 == NUMPY_ERROR
    choice = choose("auto", look())
    assert not choice.found and "/dev/video0 (unicam-image: the Pi's CSI receiver" in choice.why
    assert NUMPY_FIX in choice.warnings[0] and "numpy.dtype size changed" in choice.warnings[0]
    with caplog.at_level(logging.INFO, logger="edge.sources"), pytest.raises(SourceError, match="no camera found"):
        open_source(SourceConfig(), look=look)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and NUMPY_FIX in warnings[0].getMessage()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [f"camera: {choice}"]  # the decision, once
    refused = choose("/dev/video0", look())
    assert not refused.found and "CSI receiver" in refused.why and "--source picamera2" in refused.why


@pytest.mark.parametrize("nodes, usb, expected", [
    (PI5_NODES, [WEBCAM], ("opencv", "by-id/" + WEBCAM)),  # a Pi 5 without a ribbon camera, with a webcam
    (PI5_NODES, [], ("", None)),  # rp1-cfe is never a webcam
    ({"video0": "Integrated Camera: Integrated C"}, [], ("opencv", "/dev/video0")),  # no udev by-id here
    ({}, [], ("", None)),
])
def test_auto_without_picamera2_cameras(tmp_path, nodes, usb, expected):
    sysfs, by_id = fake_tree(tmp_path, nodes, usb)
    choice = choose("auto", probe(lambda: [], sysfs, by_id))
    assert choice.backend == expected[0], choice
    assert (choice.device is None) if expected[1] is None else str(choice.device).endswith(expected[1]), choice
    if not choice.found:
        assert "--source clip.mp4" in choice.why


def test_asked_for_cameras():
    seen = Probe((RIBBON, RIBBON_PI5), {"/dev/video0": "unicam-image", "/dev/video2": "USB2.0 Camera"})
    assert choose("picamera2:1", seen).device == 1 and choose("picamera2:2", seen).backend == ""
    assert choose("2", seen) == CameraChoice("opencv", 2, "as asked")
    assert choose("0", seen).backend == ""  # index 0 is /dev/video0, the CSI receiver
    missing = choose("picamera2", Probe("ModuleNotFoundError: No module named 'picamera2'"))
    assert "apt install python3-picamera2" in missing.why and "--system-site-packages" in missing.warnings[0]


def test_a_missing_picamera2_warns_on_a_pi_and_not_on_a_laptop():
    absent = "ModuleNotFoundError: No module named 'picamera2'"
    laptop = choose("auto", Probe(absent, {"/dev/video0": "Integrated Camera: Integrated C"}))
    assert laptop.backend == "opencv" and laptop.warnings == ()  # a laptop has no picamera2 to miss
    pi = choose("auto", Probe(absent, {f"/dev/{k}": v for k, v in PI4_NODES.items()}))
    assert pi.backend == "" and "apt install python3-picamera2" in pi.warnings[0]  # a ribbon camera's receiver
    broken = choose("auto", Probe(NUMPY_ERROR, {"/dev/video0": "Integrated Camera: Integrated C"}))
    assert NUMPY_FIX in broken.warnings[0]  # installed but broken: always said


# -- opening it: lores, stalls ----------------------------------------------------------------------------

def test_lores_is_i420_at_the_detection_width_without_stride_padding(standin):
    cfg = SourceConfig(spec="picamera2", width=400, height=300)
    with open_camera(CameraChoice("picamera2", 0, "test"), cfg, lores_width=200) as source:
        frames = [source.read() for _ in range(3)]
    config = standin.HARDWARE.configs[0]
    assert config["lores"]["size"] == (200, 150) and config["lores"]["stride"] == 256  # padded rows
    assert config["main"] == {"format": "RGB888", "size": (400, 300), "preserve_ar": True, "stride": 1216}
    for frame in frames:
        assert frame.lores.shape == (225, 200) and frame.lores.dtype == np.uint8
        assert 0xEE not in frame.lores[:150]  # no padding in the Y plane
        small = cv2.resize(frame.image, (200, 150), interpolation=cv2.INTER_AREA)
        back = cv2.cvtColor(frame.lores, cv2.COLOR_YUV2BGR_I420)
        assert np.abs(back.astype(int) - small.astype(int)).mean() < 3  # the same picture, colours included
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(float)
        luma = frame.lores[:150].astype(float)  # the Y plane: the gray image, in video range 16..235
        assert np.abs(luma - (16 + gray * 219 / 255)).max() <= 3
    assert frames[0].image.shape == (300, 400, 3) and [f.t for f in frames] == pytest.approx([0, 0.0667, 0.1333],
                                                                                             abs=1e-3)
    assert standin.HARDWARE.released == 3


def test_lores_size_and_i420_crop():
    assert lores_size((640, 480), 320) == (320, 240) and lores_size((640, 360), 300) == (300, 168)
    assert lores_size((320, 240), 640) == (320, 240)  # never wider than main
    w, h, stride = 6, 4, 16
    buf = np.full(stride * h * 3 // 2, 0xEE, np.uint8)
    buf[:stride * h].reshape(h, stride)[:, :w] = np.arange(24).reshape(h, w)
    buf[stride * h:stride * h + 16].reshape(2, 8)[:, :3] = [[100, 101, 102], [103, 104, 105]]
    buf[stride * h + 16:stride * h + 32].reshape(2, 8)[:, :3] = [[200, 201, 202], [203, 204, 205]]
    out = i420(buf, (w, h), stride)
    assert out.shape == (6, 6)
    assert out.reshape(-1).tolist() == list(range(24)) + list(range(100, 106)) + list(range(200, 206))


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_a_stalled_camera_is_flushed_closed_and_reopened(standin, caplog):
    hw = standin.plug(standin.Hardware(stall_after=3))
    cfg = SourceConfig(spec="picamera2", width=64, height=48)
    choice = CameraChoice("picamera2", 0, "test")
    clock = Clock()
    with caplog.at_level(logging.WARNING), Resilient(lambda: open_camera(choice, cfg, 32), clock=clock.now,
                                                     sleep=clock.sleep, give_up_s=None) as source:
        frames = [source.read() for _ in range(7)]
    assert [f.index for f in frames] == list(range(7)) and all(f.lores is not None for f in frames)
    assert hw.opened == [0, 0, 0] and hw.flushes == 2 and hw.closed == 3  # stalls after 3: reopened twice
    assert set(hw.waits) == {2.0}  # every capture bounded
    assert any("no frame within 2.0 s (stalled)" in r.getMessage() for r in caplog.records)


def test_picamera2_before_0_3_20_keeps_waiting_unbounded_and_says_so(standin, monkeypatch, caplog):
    monkeypatch.setattr(standin, "Picamera2", standin.Picamera2Before0320)
    with caplog.at_level(logging.INFO), open_camera(CameraChoice("picamera2", 0, "t"), SourceConfig(), None) as source:
        assert source.read() is not None and source.read().lores is None
    assert standin.HARDWARE.waits == [None, None]
    assert any("older than 0.3.20" in r.getMessage() for r in caplog.records)


# -- absent at boot ---------------------------------------------------------------------------------------

def test_waiting_is_bounded_only_where_picamera2_is_installed(tmp_path, standin):
    sysfs, by_id = fake_tree(tmp_path, {})
    standin.plug(standin.Hardware(cameras=[]))
    with open_source(SourceConfig(camera_wait_s=30), wait_for_camera=True,
                     look=lambda: probe(standin.Picamera2.global_camera_info, sysfs, by_id)) as source:
        assert source.give_up_s == 30
    with open_source(SourceConfig(camera_wait_s=30), wait_for_camera=True,
                     look=lambda: Probe("ModuleNotFoundError: No module named 'picamera2'")) as source:
        assert source.give_up_s is None  # every retry sees new USB cameras: wait for ever


CAMERALESS = ("import sys; sys.path.insert(0, sys.argv[1]); import picamera2; "
              "picamera2.plug(picamera2.Hardware(cameras=[])); import edge.cli; sys.exit(edge.cli.main(sys.argv[2:]))")


def test_a_service_without_a_camera_exits_75_after_camera_wait_s(tmp_path):
    """Under systemd (NOTIFY_SOCKET) with picamera2 installed (the stand-in) and no camera: READY, waiting,
    then exit 75, which Restart=on-failure restarts (RestartPreventExitStatus=2 only stops on config errors)."""
    notify = NotifySocket(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": notify.env, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy"}
    try:
        done = subprocess.run([sys.executable, "-c", CAMERALESS, str(STANDINS), "--source", "auto",
                               "--source-camera-wait-s", "1", "--music-enabled", "false"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        messages = notify.drain()
    finally:
        notify.close()
    assert done.returncode == 75, done.stderr[-3000:]
    assert "exiting 75 so that systemd restarts moodplayer" in done.stderr
    assert any("READY=1" in m for m in messages) and any("STATUS=restarting to look for a camera" in m
                                                          for m in messages), messages


def test_camera_absent_is_a_source_error():
    assert issubclass(CameraAbsent, SourceError)
    with pytest.raises(ValueError, match="camera_wait_s"):
        SourceConfig(camera_wait_s=0)

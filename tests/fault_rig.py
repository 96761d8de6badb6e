"""The service under fault injection: ``python -m tests.fault_rig ARGS_JSON`` runs the real loop as
``python -m edge`` runs it under systemd (``edge.cli``'s hooks on ``$NOTIFY_SOCKET``, waiting for the
camera, the control socket, the events log, likes in the state folder, the real player through SDL),
with a camera the test can pull out and a disk it can fill. Lines on stdin inject the faults:

    camera off | camera on      the camera's reads fail / it opens and gives frames again
    disk full | disk free       this process may not write past N bytes of any file (RLIMIT_FSIZE: writes
                                fail with EFBIG, as with a full disk) / the limit is lifted

The camera is a fake that shows one photo (a real face, from the test) at 15 frames a second. The
camera's retry layer runs on a clock ``SPEED`` times faster than the wall, so an outage of a few
seconds is an hour of its time (backoff, give-up logic and the frame-time gap all see the hour).
Retry waits that would make a test slow are shortened here (and only here): ``NOTHING_RETRY_S`` and
``RETRY_FIRST_S`` 1 s. Everything else is the shipped code.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import threading
import time

import cv2

import edge.sources as sources
from edge import config as configs
from edge.logs import setup_logging
from edge.loop import run
from edge.music import analysis
from edge.music.deck import Deck
from edge.sources import Resilient, Source, SourceError
from edge.systemd import ServiceHooks
from edge.types import Frame

SPEED = 900.0  # the camera retry layer's clock: 4 s of wall time is an hour


class Camera:
    """The state of the fake camera: plugged in or not."""

    def __init__(self, image_path: str) -> None:
        self.image = cv2.imread(image_path)
        self.plugged = threading.Event()
        self.plugged.set()


def camera_class(world: Camera) -> type:
    class FakeCamera(Source):
        live = True

        def __init__(self, device, cfg=None) -> None:
            super().__init__()
            if not world.plugged.is_set():
                raise SourceError(f"no camera at {device}")
            self.device, self.name, self.fps = device, f"camera {device}", 15.0
            self.n, self.t0 = 0, time.monotonic()

        def read(self):
            if self._closed or not world.plugged.is_set():
                return None
            due = self.t0 + self.n / self.fps
            time.sleep(max(0.0, due - time.monotonic()))  # a camera delivers at its own rate
            frame = Frame(world.image, self.n / self.fps, self.n)
            self.n += 1
            return frame

    return FakeCamera


def fast_clock() -> float:
    return time.monotonic() * SPEED


class FastResilient(Resilient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, clock=fast_clock, **kwargs)


def faults(world: Camera, stop: threading.Event) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    for line in sys.stdin:
        word = line.strip()
        if word == "camera off":
            world.plugged.clear()
        elif word == "camera on":
            world.plugged.set()
        elif word.startswith("disk full ") and word.split()[-1].isdigit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(word.split()[-1]), hard))
        elif word == "disk free":
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        else:  # a typo in a test must not pass for a fault injected
            print(f"RIG unknown fault {word!r}", flush=True)
            continue
        print(f"RIG {word}", flush=True)
    stop.set()  # stdin closed: the test is done with us


def main(args: dict) -> int:
    setup_logging(verbose=False)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    world = Camera(args["photo"])
    sources.CameraSource = camera_class(world)
    sources.Resilient = FastResilient
    Deck.NOTHING_RETRY_S = 1.0
    analysis.RETRY_FIRST_S = 1.0
    cfg = configs.load(None, {"source.spec": "3", "music.songs": args["songs"], "music.state_dir": args["state"],
                              "output.events": args["events"], "control.socket": args["control"],
                              "music.fade_ms": 300, "output.log_every": 5.0})
    stop = threading.Event()
    hooks = ServiceHooks()

    def on_signal(signum, _frame) -> None:
        stop.set()
        hooks.stopping()

    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=faults, args=(world, stop), daemon=True).start()

    run(cfg, stop, on_frame=hooks.on_frame, on_source=hooks.on_source, wait_for_camera=True)
    print("RIG stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

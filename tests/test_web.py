"""The companion (python -m edge web) against a real camera loop on a video: auth, the API, overrides and
skips reaching the loop, the page in a real headless Chromium, and the companion's failure never touching
the loop. FER2013 is only needed for faces that change expression (that test skips without it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
from pathlib import Path

import pytest

from benchmarks import clips
from tests.web_rig import Http, free_port, of_type, read_events, short_dir, start_companion, start_loop, token, wait_for

pytest.importorskip("aiohttp", reason="the companion needs the web extra: pip install -e '.[web]'")

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT_TO = os.environ.get("MOODPLAYER_WEB_SCREENSHOT")  # e.g. docs/web.png, to refresh the docs' picture


class Rig:
    def __init__(self, tmp: Path, video: Path) -> None:
        self.dir = short_dir()
        self.tmp, self.video = tmp, video
        self.sock, self.events, self.state = self.dir / "control.sock", tmp / "events.jsonl", tmp / "state"
        self.port = free_port()
        self.loop = start_loop(video, self.sock, self.events, tmp / "loop.log", "--music-state-dir", str(tmp / "ls"))
        self.web = start_companion(self.sock, self.port, self.state, tmp / "web.log")
        self.token, self.pair_url = token(self.state, self.port)
        self.http = Http(self.port)

    def events_of(self, *types: str) -> list[dict]:
        return of_type(read_events(self.events), *types)

    def frames(self) -> int:
        return len(self.events_of("frame"))

    def api(self, method: str, path: str, body: object = None):
        return self.http.bearer(method, path, self.token, body)

    def close(self) -> None:
        self.web.stop()
        assert self.loop.stop() == 0, self.loop.log_tail()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    video = clips.empty_video(tmp / "empty.mp4", 50)  # 5 s of a wall, no face: the camera says "uncertain"
    r = Rig(tmp, video)
    yield r
    r.close()


def test_requests_without_the_token_get_401_and_cross_site_posts_403(rig):
    http = rig.http
    assert stat.S_IMODE((rig.state / "web-token").stat().st_mode) == 0o600
    status, body, _ = http.call("GET", "/")
    assert status == 401 and "web token" in body
    for path in ("/api/status", "/static/app.js", "/api/events"):
        assert http.call("GET", path)[0] == 401, path
    assert http.bearer("GET", "/api/status", "wrong")[0] == 401
    assert http.call("GET", "/pair?token=wrong")[0] == 401
    status, _, headers = http.call("GET", rig.pair_url.split(str(rig.port), 1)[1])
    cookie = headers["Set-Cookie"]
    assert status == 303 and headers["Location"] == "/" and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";", 1)[0]}
    status, st, _ = http.call("GET", "/api/status", headers=jar)
    assert status == 200 and st["connected"] and st["mood"] in ("uncertain", None) and "sad" in st["labels"]
    assert http.call("GET", "/", headers=jar)[0] == 200
    same = {**jar, "Origin": f"http://127.0.0.1:{rig.port}"}
    for bad in ({**jar, "Origin": "http://evil.example"}, {**jar, "Sec-Fetch-Site": "cross-site"}, jar):
        status, body, _ = http.call("POST", "/api/volume", {"volume": 0.5}, headers=bad)
        assert status == 403 and "cross-site" in body["error"], bad
    assert http.call("POST", "/api/volume", {"volume": 0.5}, headers=same)[0] == 200
    assert http.call("POST", "/api/volume", {"volume": 0.5}, headers={**jar, "Sec-Fetch-Site": "same-origin"})[0] == 200
    status, body, _ = rig.api("POST", "/api/volume", {"volume": 3})
    assert status == 400 and "volume must be" in body["error"]
    assert wait_for(lambda: rig.api("GET", "/api/status")[1]["volume"] == 0.5, 10, "volume 0.5")


def test_override_and_skip_from_the_api_reach_the_loop_and_the_override_ends_on_frame_time(rig):
    status, reply, _ = rig.api("POST", "/api/mood", {"mood": "sad", "minutes": 0.05})  # 3 s
    assert status == 200 and reply["ok"]
    wait_for(lambda: any(e["mood"] == "sad" for e in rig.events_of("song")), 20, "a sad song", rig.loop)
    st = wait_for(lambda: (s := rig.api("GET", "/api/status")[1])["song_name"] and s, 5, "the song in the status")
    assert st["mood"] == "sad" and st["source"] == "override" and st["camera"] == "uncertain"
    assert st["override"]["mood"] == "sad"
    first = [e for e in rig.events_of("song") if e["mood"] == "sad"][0]
    assert rig.api("POST", "/api/skip")[0] == 200
    skip = wait_for(lambda: rig.events_of("skip"), 20, "a skip event", rig.loop)[0]
    assert skip["path"] == first["path"]
    later = wait_for(lambda: [e for e in rig.events_of("song") if e["t"] >= skip["t"]], 20, "the next song")
    assert later[0]["mood"] == "sad" and later[0]["path"] != first["path"]
    ended = wait_for(lambda: [e for e in rig.events_of("override") if e.get("reason") == "ended"], 30,
                     "the override's end", rig.loop)[0]
    started = [e for e in rig.events_of("override") if e["mood"] == "sad"][0]
    assert ended["t"] - started["t"] == pytest.approx(3.0, abs=0.11)  # frame time, one frame's slack
    moods = rig.events_of("mood")
    assert [(m["mood"], m["source"]) for m in moods if m["t"] >= started["t"]][:2] == [
        ("sad", "override"), ("uncertain", "uncertain")]


def test_killing_and_restarting_the_companion_never_touches_the_loop(rig):
    before = rig.frames()
    rig.web.stop(signal.SIGKILL)
    wait_for(lambda: rig.frames() >= before + 30, 30, "30 more frames with the companion dead", rig.loop)
    rig.web = start_companion(rig.sock, rig.port, rig.state, rig.tmp / "web.log")
    wait_for(lambda: rig.api("GET", "/api/status")[0] == 200, 20, "the companion back")
    rig.web.stop()  # a clean stop too
    wait_for(lambda: rig.frames() >= before + 45, 30, "frames after its clean stop", rig.loop)
    rig.web = start_companion(rig.sock, rig.port, rig.state, rig.tmp / "web.log")
    frames = rig.events_of("frame")
    assert [f["index"] for f in frames] == list(range(frames[0]["index"], frames[0]["index"] + len(frames)))
    ts = [f["t"] for f in frames]
    assert all(0.099 <= b - a <= 0.101 for a, b in zip(ts, ts[1:]))  # every frame, at the video's 10 fps
    assert rig.loop.popen.poll() is None


# -- the page in a real headless Chromium -------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"no {CHROMIUM} / {CHROMEDRIVER}: apt install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[dev]' (selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,1400",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def shown(driver, element_id: str, want, timeout: float = 20.0) -> str:
    """The element's text once ``want`` (a string, or a test on the text) holds; fails after ``timeout``."""
    from selenium.webdriver.common.by import By

    check = want if callable(want) else (lambda text: text == want)
    last = [""]

    def ok():
        last[0] = driver.find_element(By.ID, element_id).get_attribute("textContent")
        return check(last[0])

    try:
        wait_for(ok, timeout, f"#{element_id} showing {want!r}")
    except AssertionError:
        raise AssertionError(f"#{element_id} shows {last[0]!r}, not {want!r}") from None
    return last[0]


def tap(driver, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, element_id).click()


def short_override(driver, minutes: float) -> None:
    """Offer a duration shorter than the page's (a test cannot wait 15 minutes) and choose it."""
    driver.execute_script("const s = document.getElementById('minutes');"
                          f"s.add(new Option('{minutes} min', '{minutes}', true, true));")


def test_the_page_shows_overrides_and_skips_live_and_survives_the_loop_restarting(rig, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(rig.pair_url)  # sets the cookie, then the page
    shown(browser, "link", "live")
    shown(browser, "mood", "uncertain")
    short_override(browser, 0.1)  # 6 s of frame time
    tap(browser, "override-sad")
    shown(browser, "mood", "sad")
    assert shown(browser, "source", "override")
    song = shown(browser, "song", lambda text: text not in ("", "nothing yet", "nothing playing"))
    skips = len(rig.events_of("skip"))
    tap(browser, "skip")
    skip = wait_for(lambda: rig.events_of("skip")[skips:], 20, "the page's skip in the events log", rig.loop)[0]
    assert skip["path"].rsplit("/", 1)[1].startswith(song)
    after = wait_for(lambda: [e for e in rig.events_of("song") if e["t"] >= skip["t"]], 20, "another song")[0]
    shown(browser, "song", Path(after["path"]).stem)
    assert "holding sad" in shown(browser, "override", lambda text: text.startswith("holding"))
    segs = browser.find_elements(By.CSS_SELECTOR, "#timeline line.seg[data-mood=sad]")
    assert segs and segs[-1].get_attribute("data-source") == "override"
    tap(browser, "strategy-uplift")
    wait_for(lambda: browser.find_element(By.ID, "strategy-uplift").get_attribute("aria-pressed") == "true", 10,
             "uplift pressed")
    wait_for(lambda: rig.events_of("strategy"), 10, "the strategy in the events log")
    tap(browser, "pause")
    shown(browser, "pause", "Resume")
    tap(browser, "pause")
    shown(browser, "pause", "Pause")
    assert [e["type"] for e in rig.events_of("pause", "resume")][-2:] == ["pause", "resume"]
    shown(browser, "camera-device", "camera: on")
    tap(browser, "privacy")  # stop watching: the camera process closes the camera
    shown(browser, "camera-device", "camera: off (by the listener)")
    assert shown(browser, "privacy", "Watch again")
    wait_for(lambda: [e for e in rig.events_of("camera") if e["state"] == "off (by the listener)"], 10, "camera off")
    tap(browser, "privacy")
    shown(browser, "camera-device", "camera: on")
    assert shown(browser, "privacy", "Stop watching")
    assert [e["state"] for e in rig.events_of("camera")][-2:] == ["off (by the listener)", "on"]
    png = tmp_path / "web.png"
    browser.save_screenshot(str(png))
    assert png.stat().st_size > 10000
    if SCREENSHOT_TO:
        shutil.copy(png, SCREENSHOT_TO)
    shown(browser, "mood", "uncertain", timeout=30)  # the override ended on time; the camera sees no face
    assert shown(browser, "source", "uncertain") and shown(browser, "override", "") == ""
    # The camera process restarts: the page says so, reconnects, and goes on.
    assert rig.loop.stop() == 0
    shown(browser, "link", lambda text: "not running" in text)
    rig.events = rig.tmp / "events-2.jsonl"
    rig.loop = start_loop(rig.video, rig.sock, rig.events, rig.tmp / "loop-2.log", "--music-state-dir",
                          str(rig.tmp / "ls"))
    shown(browser, "link", "reconnected to the player", timeout=30)
    tap(browser, "override-happy")
    shown(browser, "mood", "happy")
    wait_for(lambda: [e for e in rig.events_of("override") if e["mood"] == "happy"], 10, "the override after restart")


def test_the_page_follows_a_face_that_changes_and_an_override_holds_through_it(tmp_path, fer2013, browser):
    from edge import bundle as bundles
    from edge.classify import DEFAULT_MODEL, Classifier
    from tests.rig import confident

    accept = confident(Classifier(bundles.load(DEFAULT_MODEL), threads=1))
    clip = clips.make_clip(tmp_path / "faces.mp4", [("happy", 5.0), ("sad", 25.0)], fps=10, fer_dir=fer2013,
                           accept=accept)
    r = Rig(tmp_path, clip.path)
    try:
        browser.get(r.pair_url)
        shown(browser, "mood", "happy", timeout=40)
        assert shown(browser, "source", "camera")
        shown(browser, "mood", "sad", timeout=40)  # live, from the face
        short_override(browser, 0.1)
        tap(browser, "override-happy")
        shown(browser, "mood", "happy")
        held = r.events_of("frame")[-1]["t"]
        shown(browser, "mood", "sad", timeout=40)  # back to the face once the override ended
        assert shown(browser, "source", "camera")
        browser.save_screenshot(str(tmp_path / "faces.png"))
        if SCREENSHOT_TO:  # the docs' picture: a camera mood, the dot, and a timeline with an override in it
            shutil.copy(tmp_path / "faces.png", SCREENSHOT_TO)
        ended = [e for e in r.events_of("override") if e.get("reason") == "ended"]
        assert ended and ended[0]["t"] >= held
        frames = [f for f in r.events_of("frame") if held <= f["t"] < ended[0]["t"]]
        assert frames and all(f["mood"] == "happy" for f in frames)  # held through the sad face
        assert all(max(face["probs"], key=face["probs"].get) == "sad" for f in frames for face in f["faces"])
    finally:
        r.close()


# -- in process: the limit on wrong tokens and rotation -------------------------------------------------

def test_wrong_tokens_are_rate_limited_and_rotation_logs_everyone_out(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from edge.web.app import make_app
    from edge.web.auth import Limiter, TokenStore
    from edge.web.hub import Hub

    now = [0.0]
    tokens = TokenStore(tmp_path)
    good = tokens.token()

    async def scenario() -> None:
        app = make_app(Hub(str(tmp_path / "absent.sock")), tokens, Limiter(failures=5, window_s=60, clock=lambda: now[0]))
        async with TestClient(TestServer(app)) as client:
            bearer = {"Authorization": f"Bearer {good}"}
            assert (await client.get("/api/history", headers=bearer)).status == 200
            for _ in range(5):
                assert (await client.get("/api/history", headers={"Authorization": "Bearer nope"})).status == 401
            assert (await client.get("/api/history", headers={"Authorization": "Bearer nope"})).status == 429
            assert (await client.get("/pair?token=nope")).status == 429  # guesses are locked out ...
            assert (await client.get("/api/history", headers=bearer)).status == 200  # ... the right token never
            assert (await client.get(f"/pair?token={good}", allow_redirects=False)).status == 303
            now[0] += 61
            assert (await client.get("/api/history", headers=bearer)).status == 200
            r = await client.get("/api/status", headers=bearer)
            assert r.status == 503 and "not reachable" in (await r.json())["error"]  # no camera process
            new = tokens.rotate()
            assert new != good and (await client.get("/api/history", headers=bearer)).status == 401
            assert (await client.get("/api/history", headers={"Authorization": f"Bearer {new}"})).status == 200

    asyncio.run(scenario())


def test_the_camera_process_has_no_network_socket(rig):
    """Every socket the camera process holds is AF_UNIX: none of its socket inodes is in the kernel's
    TCP/UDP/raw tables (Linux /proc)."""
    pid = rig.loop.popen.pid
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    assert inodes  # the control socket and its client connections
    inet = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            inet.add(line.split()[9])
    unix = {line.split()[6] for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]}
    assert not inodes & inet and inodes <= unix

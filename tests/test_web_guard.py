"""The companion's defences in isolation (issue 30): command coalescing, the guess limiter, the Host
check and throttled warnings. The attacks themselves, on real processes, are in tests/test_hostile.py."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

pytest.importorskip("aiohttp", reason="the companion needs the web extra: pip install -e '.[web]'")

from edge.web.auth import Limiter  # noqa: E402
from edge.web.coalesce import Coalescer  # noqa: E402
from edge.web.guard import Throttled, host_allowed, served_names  # noqa: E402


def run_coalescer(script, intervals=None):
    """Runs ``script(coalescer, sent)`` on a fresh loop; ``sent`` is every request that reached ``send``."""
    sent: list[dict] = []

    async def send(request):
        sent.append(request)
        return {"ok": True, "op": request["op"]}

    async def main():
        c = Coalescer(send, intervals=intervals or {"skip": 0.2}, default_s=0.05, clock=asyncio.get_running_loop().time)
        await script(c, sent)

    asyncio.run(main())
    return sent


def test_a_burst_is_one_command_now_and_the_last_one_later():
    async def script(c, sent):
        replies = [await c.submit({"op": "skip", "n": i}) for i in range(50)]
        assert replies[0] == {"ok": True, "op": "skip"} and all(r["queued"] for r in replies[1:])
        for i in range(100):
            await c.submit({"op": "volume", "volume": i / 100})
        assert [r["op"] for r in sent] == ["skip", "volume"]
        await asyncio.sleep(0.3)

    sent = run_coalescer(script)
    assert [r.get("n") for r in sent if r["op"] == "skip"] == [0, 49]  # one now, the last a slot later
    assert [r["volume"] for r in sent if r["op"] == "volume"] == [0.0, 0.99]  # the last volume wins


def test_pause_and_resume_share_a_slot_so_the_last_one_wins():
    async def script(c, sent):
        for op in ("pause", "resume", "pause", "resume"):
            await c.submit({"op": op})
        await asyncio.sleep(0.15)

    assert [r["op"] for r in run_coalescer(script)] == ["pause", "resume"]


def test_any_op_name_works_and_offers_from_a_thread_cost_one_wake():
    async def script(c, sent):
        loop = asyncio.get_running_loop()
        flood = threading.Thread(target=lambda: [c.offer({"op": "privacy", "on": i % 2 == 0}, loop) for i in range(5001)])
        flood.start()
        await asyncio.to_thread(flood.join)
        await asyncio.sleep(0.2)

    sent = run_coalescer(script)
    assert 1 <= len(sent) <= 3 and sent[-1] == {"op": "privacy", "on": True}


def test_the_limiter_locks_out_guesses_per_address_for_a_while_and_remembers_little(caplog):
    now = [0.0]
    limiter = Limiter(failures=3, window_s=60, addresses=100, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "edge.web.auth"):
        for _ in range(3):
            assert not limiter.blocked("10.0.0.9")
            limiter.fail("10.0.0.9")
    assert limiter.blocked("10.0.0.9") and not limiter.blocked("10.0.0.8")
    assert [r.getMessage() for r in caplog.records if "locked out" in r.getMessage()] == [
        "pairing: 10.0.0.9 locked out for 60 s after 3 wrong tokens (a paired phone there is not)"]
    now[0] = 61.0
    assert not limiter.blocked("10.0.0.9")
    for i in range(1000):  # a scan from many addresses
        limiter.fail(f"10.1.{i // 256}.{i % 256}")
    assert len(limiter._seen) <= 100


def test_host_names_and_addresses_pass_other_names_do_not():
    names = served_names("0.0.0.0", ["player.example.org"])
    for ok in ("127.0.0.1:8080", "192.168.1.5", "[::1]:8080", "localhost:8080", "PLAYER.example.org.",
               "player.example.org:80"):
        assert host_allowed(ok, names), ok
    for bad in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", ""):
        assert not host_allowed(bad, names), bad


def test_throttled_says_a_thing_once_a_minute_with_a_count():
    records: list[str] = []
    log = logging.getLogger("test.throttled")
    log.addHandler(handler := logging.Handler())
    handler.emit = lambda r: records.append(r.getMessage())
    now = [0.0]
    quiet = Throttled(log, every_s=60, clock=lambda: now[0])
    for _ in range(100):
        quiet.warn("topic/a", "ignored %s", "topic/a")
    now[0] = 61
    quiet.warn("topic/a", "ignored %s", "topic/a")
    log.removeHandler(handler)
    assert records == ["ignored topic/a", "ignored topic/a (and 99 more like it in the last 60 s)"]


def test_mqtt_payloads_are_capped_and_never_quoted():
    from edge.web.mqtt import MAX_PAYLOAD, parse_command

    for bad in (b"[" * 100_000, b"[" * 1000, b"x" * (MAX_PAYLOAD + 1), b"\xff\xfe", b'{"mood": "\\ud800"}',
                b'{"volume": ' + b"9" * 500 + b"}", b'{"volume": NaN}', b'{"mood": 5}'):
        with pytest.raises(ValueError) as e:
            parse_command(bad)
        assert "[[[[" not in str(e.value) and "xxxx" not in str(e.value) and "999999" not in str(e.value)

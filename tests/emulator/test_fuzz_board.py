"""Bad input for the board: the SoftAP web server answers every request (400 for what is not HTTP), cuts slow
clients at WebServer's 5 s waits while others are served, and the serial console survives any line
(issue 13, points 6, 7 and 9). Everything runs on one virtual lab clock; generators from `tests/fuzzkit.py`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import fuzzkit
from devrig import Rig, join_ap, run, start_rig
from fuzzkit import CrashWatch, Verdict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provlab.clock.virtual import VirtualClock
from provlab.emulator.serial_port import MemorySerial
from provlab.emulator.softap_http import BODY_TIMEOUT_S, HEADER_TIMEOUT_S
from provlab.protocol.console import tokenize_console_line
from provlab.wifi.backend import Link

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
BOARD_INFO = b"GET /board_info.json HTTP/1.1\r\nHost: 192.168.4.1\r\n\r\n"


def with_board(tmp_path: Path, test: Callable[[Callable[..., object], Rig, Link, CrashWatch], None]) -> None:
    """A board in WAIT_CONFIG with a phone on its AP, on one loop of a virtual clock the examples share."""
    loop = VirtualClock().new_loop()

    def call(coro: object) -> object:
        return loop.run_until_complete(asyncio.wait_for(coro, 3600))  # type: ignore[arg-type]

    rig: Rig = call(start_rig(tmp_path))  # type: ignore[assignment]
    watch = CrashWatch()

    async def install() -> object:
        manager = watch.watching()
        manager.__enter__()
        return manager

    manager = call(install())
    try:
        call(rig.wait_ap())
        _, link = call(join_ap(rig))  # type: ignore[misc]
        test(call, rig, link, watch)
        assert not watch.take(), "the board logged errors"
    finally:
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]
        call(rig.shutdown())
        loop.close()


async def exchange(link: Link, request: bytes) -> fuzzkit.HttpAnswer:
    host, port = link.endpoint("192.168.4.1", 80)
    return await fuzzkit.http_exchange(host, port, request, 60, local_addr=(link.local_address, 0))


def test_generated_softap_requests_are_all_answered(tmp_path: Path) -> None:
    def test(call: Callable[..., object], rig: Rig, link: Link, watch: CrashWatch) -> None:
        @FUZZ
        @given(rng=st.randoms(use_true_random=False))
        def check(rng: random.Random) -> None:
            request = fuzzkit.softap_request(rng)
            answer: fuzzkit.HttpAnswer = call(exchange(link, request))  # type: ignore[assignment]
            assert fuzzkit.softap_verdict(request, answer) is Verdict.OK, (request, answer)
            assert not watch.take(), request

        check()
        answer: fuzzkit.HttpAnswer = call(exchange(link, BOARD_INFO))  # type: ignore[assignment]
        assert answer.status == 200

    with_board(tmp_path, test)


def test_malformed_request_lines_get_400(tmp_path: Path) -> None:
    def test(call: Callable[..., object], rig: Rig, link: Link, watch: CrashWatch) -> None:
        for line in (b"GET http://[x/config HTTP/1.1", b"\xff\xfe / HTTP/1.1", b"GET / HTTP/1.1\r\nContent-Length: -1"):
            answer: fuzzkit.HttpAnswer = call(exchange(link, line + b"\r\nHost: 192.168.4.1\r\n\r\n"))  # type: ignore[assignment]
            assert answer.status == 400 and answer.body == b"Bad Request", (line, answer)
        assert not watch.take()
        answer = call(exchange(link, BOARD_INFO))  # type: ignore[assignment]
        assert answer.status == 200

    with_board(tmp_path, test)


async def _dribble(link: Link, data: bytes, every_s: float) -> tuple[int, bool]:
    """Send `data` a byte every `every_s` lab seconds to the board's web server; (bytes sent, closed by it)."""
    host, port = link.endpoint("192.168.4.1", 80)
    reader, writer = await asyncio.open_connection(host, port, local_addr=(link.local_address, 0))
    return await fuzzkit.dribble(reader, writer, data, every_s)


def test_slow_clients_are_cut_at_webservers_waits_while_a_phone_is_served(tmp_path: Path) -> None:
    def test(call: Callable[..., object], rig: Rig, link: Link, watch: CrashWatch) -> None:
        head = b"GET /board_info.json HTTP/1.1\r\nHost: 192.168.4.1\r\nX-Pad: " + b"a" * 40 + b"\r\n\r\n"
        body = b"ssid=Home&pass=" + b"p" * 40
        post = b"POST /config HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Length: %d\r\n\r\n" % len(body)

        async def scenario() -> list[str]:
            order: list[str] = []
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def slow_head() -> None:
                sent, closed = await _dribble(link, head, 0.5)
                assert closed and sent < len(head)
                assert loop.time() - started >= HEADER_TIMEOUT_S * rig.scale - 1e-6
                order.append("head cut")

            async def slow_body() -> None:
                await asyncio.sleep(2.0)  # its head is complete at 2 s: the body deadline is at 2 s + 5 s
                host, port = link.endpoint("192.168.4.1", 80)
                reader, writer = await asyncio.open_connection(host, port, local_addr=(link.local_address, 0))
                writer.write(post)
                await asyncio.sleep(1.0)
                writer.write(body[:5])  # and nothing more
                closed = await asyncio.wait_for(reader.read(), 60) == b""
                writer.close()
                assert closed
                assert loop.time() - started >= (2.0 + BODY_TIMEOUT_S) * rig.scale - 1e-6
                order.append("body cut")

            async def phone() -> None:
                await asyncio.sleep(1.0)
                answer = await exchange(link, BOARD_INFO)
                assert answer.status == 200
                order.append("served")

            await asyncio.gather(slow_head(), slow_body(), phone())
            return order

        assert call(scenario()) == ["served", "head cut", "body cut"]
        assert rig.board.firmware.http is not None and rig.board.firmware.http.cut == 2

    with_board(tmp_path, test)


def test_generated_console_lines_never_stop_the_console(tmp_path: Path) -> None:
    def test(call: Callable[..., object], rig: Rig, link: Link, watch: CrashWatch) -> None:
        port = rig.board.serial
        assert isinstance(port, MemorySerial)

        async def devinfo_after(line: bytes) -> bool:
            mark = len(rig.capture.data)
            port.inject(line + b"\r")
            port.inject(b"devinfo\r")
            await rig.wait_for(
                lambda: b"TMPL" in rig.capture.data[mark:] and rig.capture.data.endswith(b">"), "devinfo", 120
            )
            return True

        @FUZZ
        @given(rng=st.randoms(use_true_random=False), raw=st.binary(max_size=80))
        def check(rng: random.Random, raw: bytes) -> None:
            line = (
                raw.replace(b"\r", b"").replace(b"\n", b"") if raw else fuzzkit.console_line(rng, tokenize_console_line)
            )
            first = tokenize_console_line(line.decode("utf-8", "replace"))[:1]
            if first and first[0].lower() in fuzzkit.STATEFUL_CONSOLE:
                line = b"help"
            assert call(devinfo_after(line)), line
            assert not watch.take(), line

        check()

    with_board(tmp_path, test)


def test_the_deadlines_are_webservers(tmp_path: Path) -> None:
    """arduino-esp32 WebServer: HTTP_MAX_DATA_WAIT and HTTP_MAX_POST_WAIT are 5000 ms."""
    assert (HEADER_TIMEOUT_S, BODY_TIMEOUT_S) == (5.0, 5.0)

    async def body() -> None:
        rig = await start_rig(tmp_path)
        await rig.wait_ap()
        assert rig.board.firmware.http is not None
        assert rig.board.firmware.http.header_s == HEADER_TIMEOUT_S * rig.scale
        await rig.shutdown()

    run(body())

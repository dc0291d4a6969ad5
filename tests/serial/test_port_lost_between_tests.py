"""Unplugging is survivable (issue 14, point 6), through the pytest plugin: a board's remote port goes away in one
test, which fails saying so and keeps its evidence; the next test waits for the port and runs once it is back.

The board is an emulated ESP32 on a pty behind a raw TCP port server on 127.0.0.1 (ser2net's `raw` mode), attached
with `--boards socket://…`. The first test stops the server mid-test. The server starts again only when the next
test's lab says it is waiting for the port (its `provlab.lab.port_return` warning): so that test really finds the
port missing, and nothing depends on how fast either side is.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator

import pytest
from portservers import RawTcpBridge
from serialrig import EmulatedRig

from provlab.lab.port_return import LOST_PORTS

TESTS = """
def test_1_loses_its_port(board, bridge):
    assert board.devinfo().name.startswith("Blynk Device-")
    bridge.stop()  # the port server goes away mid-test, as ser2net does when its host reboots
    board.expect_exact("a line the board never prints", timeout=60)

def test_2_finds_it_back(board):
    assert board.devinfo().name.startswith("Blynk Device-")
"""


class BridgeFixture:
    """Gives the inner tests the port server (`bridge`), to stop it mid-test."""

    def __init__(self, bridge: RawTcpBridge) -> None:
        self._bridge = bridge

    @pytest.fixture
    def bridge(self) -> RawTcpBridge:
        return self._bridge


class RestartWhenWaitedFor(logging.Handler):
    """Starts the port server again, from a thread of its own, when the lab says it waits for the port."""

    def __init__(self, bridge: RawTcpBridge) -> None:
        super().__init__(logging.WARNING)
        self.bridge = bridge
        self.thread: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.thread is None and "waiting up to" in record.getMessage():
            self.thread = threading.Thread(target=self.bridge.start, name="port-server-back", daemon=True)
            self.thread.start()


@pytest.fixture
def bridged(rig: EmulatedRig) -> Iterator[RawTcpBridge]:
    rig.power_on()
    bridge = RawTcpBridge(rig.path).start()
    try:
        yield bridge
    finally:
        bridge.stop()
        LOST_PORTS.forget(f"socket://127.0.0.1:{bridge.port}")  # this process's later labs know nothing of it


def test_a_port_lost_in_one_test_fails_it_and_the_next_test_waits_for_it(
    pytester: pytest.Pytester, bridged: RawTcpBridge
) -> None:
    url = f"socket://127.0.0.1:{bridged.port}"
    pytester.makepyfile(test_unplug=TESTS)
    evidence = pytester.path / "evidence"
    restart = RestartWhenWaitedFor(bridged)
    logger = logging.getLogger("provlab.lab.port_return")
    logger.addHandler(restart)
    try:
        result = pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", "--boards", url, "--port-wait", "120", "--artifacts", str(evidence),
            plugins=[BridgeFixture(bridged)],
        )  # fmt: skip
    finally:
        logger.removeHandler(restart)
        if restart.thread is not None:
            restart.thread.join(30)
    result.assert_outcomes(passed=1, failed=1)
    assert restart.thread is not None, "the second test never waited for the port"
    text = result.stdout.str()
    assert re.search(r"PortLost: board board-1 went away at \d\d:\d\d:\d\d \(last line: .+\)", text), text
    assert "test_unplug.py::test_1_loses_its_port FAILED" in text or "FAILED test_unplug.py::test_1" in text

    first = evidence / "test_1_loses_its_port"
    assert f"evidence folder: {first}" in text  # the failure names its evidence, which is kept
    lost_log = (first / "board-1.log").read_text(encoding="utf-8")
    assert "## provlab: port lost: " in lost_log and "went away at" in lost_log

    second = evidence / "test_2_finds_it_back"
    steps = [json.loads(line) for line in (second / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    [waited] = [s for s in steps if s["name"] == "wait_for_port"]
    assert waited["outcome"] == "ok" and waited["subject"] == "board-1"
    assert (waited["args"]["port"], waited["args"]["wait_s"]) == (url, 120.0)
    assert waited["args"]["lost_log"] == str(first / "board-1.log")
    assert f"opened {url}" in (second / "board-1.log").read_text(encoding="utf-8")


def test_a_port_that_stays_away_errors_the_next_test_naming_the_port_and_the_wait(
    pytester: pytest.Pytester, bridged: RawTcpBridge
) -> None:
    """No server comes back: the next test errors once the wait (0 s here) is over, saying what it waited for."""
    url = f"socket://127.0.0.1:{bridged.port}"
    pytester.makepyfile(test_unplug=TESTS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--boards", url, "--port-wait", "0", plugins=[BridgeFixture(bridged)]
    )
    result.assert_outcomes(failed=1, errors=1)
    text = " ".join(result.stdout.str().split())
    assert f"PortNotBack: board-1: expected its port {url} back within 0 s (wall clock)" in text, text
    assert "the log of the test that lost it: " in text and "test_1_loses_its_port/board-1.log" in text

"""A port lost in one test is waited for in the next (`provlab.lab.port_return`), for a bounded wall time.

The opener here is a stand-in for `open_attached` that fails until the test says the port is back; the wait
starts with a warning, which is the event that brings the port back. Nothing depends on how fast this runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from provlab.drivers.serial_errors import PortBusy, PortUnavailable
from provlab.lab.config import LabConfigError, config_from_mapping
from provlab.lab.port_return import LostPort, LostPorts, PortNotBack, open_after_loss

PORT = "rfc2217://127.0.0.1:4001"
LOST = LostPort("board-1", Path("/evidence/test_one/board-1.log"))


class Port:
    """Opens only once `back` is set; counts the attempts."""

    def __init__(self) -> None:
        self.back = False
        self.attempts = 0

    def open(self) -> str:
        self.attempts += 1
        if not self.back:
            raise PortUnavailable(f"board-1: cannot open {PORT}: [Errno 111] Connection refused")
        return "opened"


@pytest.fixture
def wait_warnings() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("provlab.lab.port_return")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_a_port_that_comes_back_while_the_lab_waits_is_opened_and_forgotten(
    wait_warnings: list[logging.LogRecord],
) -> None:
    lost_ports = LostPorts()
    lost_ports.note(PORT, LOST)
    port = Port()

    def opener() -> str:
        if wait_warnings:  # the lab has said it waits: the board is plugged back in
            port.back = True
        return port.open()

    assert open_after_loss(PORT, LOST, opener, wait_s=600, lost_ports=lost_ports) == "opened"
    assert port.attempts == 2 and lost_ports.get(PORT) is None
    [warning] = wait_warnings
    assert warning.getMessage() == (
        f"board-1: {PORT} went away in an earlier test and is not back; waiting up to 600 s (wall clock) for it"
    )


def test_a_port_already_back_is_opened_without_a_wait(wait_warnings: list[logging.LogRecord]) -> None:
    port = Port()
    port.back = True
    assert open_after_loss(PORT, LOST, port.open, wait_s=600, lost_ports=LostPorts()) == "opened"
    assert port.attempts == 1 and not wait_warnings


def test_a_port_not_back_in_time_fails_naming_the_port_the_wait_and_the_log() -> None:
    lost_ports = LostPorts()
    lost_ports.note(PORT, LOST)
    with pytest.raises(PortNotBack) as caught:
        open_after_loss(PORT, LOST, Port().open, wait_s=0, lost_ports=lost_ports)
    message = str(caught.value)
    assert message.startswith(
        f"board-1: expected its port {PORT} back within 0 s (wall clock) after it went away in an earlier test, "
        "but it is still missing."
    )
    assert "the log of the test that lost it: /evidence/test_one/board-1.log" in message
    assert "last attempt: board-1: cannot open" in message and "Connection refused" in message
    assert lost_ports.get(PORT) == LOST  # still lost: the next test waits again


def test_a_busy_port_is_not_waited_for() -> None:
    def busy() -> str:
        raise PortBusy(f"{PORT} is held by another run")

    with pytest.raises(PortBusy, match="held by another run"):
        open_after_loss(PORT, LOST, busy, wait_s=600, lost_ports=LostPorts())


def test_the_wait_is_configured_in_seconds_at_boards_port_wait() -> None:
    assert config_from_mapping({}).port_wait == 10.0
    assert config_from_mapping({"boards": {"port_wait": 30}}).port_wait == 30
    with pytest.raises(LabConfigError, match=r"boards\.port_wait: expected wall seconds >= 0, got -1"):
        config_from_mapping({"boards": {"port_wait": -1}})
    with pytest.raises(LabConfigError, match=r"boards\.port_wait: expected int or float, got 'soon'"):
        config_from_mapping({"boards": {"port_wait": "soon"}})

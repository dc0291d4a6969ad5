"""provlab's `rfc2217://` client for tools that open the port themselves (esptool): a timeout change is not sent
to the server as a line renegotiation (pyserial's client renegotiates all four settings on every timeout change,
which made an esptool write over RFC 2217 take ~20 s; pyserial-labgrid's fork of it does not, and the variant
keeps that behaviour whichever of the two is installed)."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator

import pytest
import serial
from portservers import Rfc2217Server
from serial import rfc2217

from provlab.drivers import serial_urls


@pytest.fixture
def server() -> Iterator[Rfc2217Server]:
    master, slave = os.openpty()
    tty.setraw(slave)
    rfc = Rfc2217Server(os.ttyname(slave)).start()
    yield rfc
    rfc.stop()
    os.close(master)
    os.close(slave)


@pytest.fixture
def negotiations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each full line negotiation pyserial's RFC 2217 client performs with the server (real socket, real server)."""
    done: list[int] = []
    negotiate = rfc2217.Serial._reconfigure_port

    def counted(self: rfc2217.Serial) -> None:
        done.append(1)
        negotiate(self)

    monkeypatch.setattr(rfc2217.Serial, "_reconfigure_port", counted)
    return done


def _timeouts_then_count(port: serial.SerialBase, negotiations: list[int]) -> int:
    before = len(negotiations)
    for index in range(10):
        port.timeout = 0.1 + index / 100
    port.baudrate = 460800  # a real line change still reaches the server
    return len(negotiations) - before


def test_only_line_changes_are_negotiated_with_the_server(server: Rfc2217Server, negotiations: list[int]) -> None:
    url = f"rfc2217://127.0.0.1:{server.port}"
    with serial_urls.preferred():
        port = serial.serial_for_url(url, timeout=1)
    assert type(port).__module__ == "provlab.drivers.serial_urls.protocol_rfc2217"
    try:
        assert _timeouts_then_count(port, negotiations) == 1  # the baud change only
        assert port.baudrate == 460800
    finally:
        port.close()
    assert "provlab.drivers.serial_urls" not in serial.protocol_handler_packages  # only inside the block

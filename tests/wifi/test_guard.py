"""The traffic guard refuses non-loopback traffic, and a whole sim-mode run stays on loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import pytest

from provlab.lab.lab import Lab, LabConfig
from provlab.wifi.guard import TrafficGuard, TrafficViolation, is_loopback_host

_recording: list[tuple[str, Any]] | None = None


def _recorder(event: str, args: tuple[Any, ...]) -> None:
    if _recording is not None and event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        _recording.append((event, args[1] if event != "socket.getaddrinfo" else args[0]))


sys.addaudithook(_recorder)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.64.3.9", "::1", "localhost", "[::1]"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["192.168.4.1", "10.0.0.1", "172.16.0.1", "8.8.8.8", "blynk.cloud", "::ffff:8.8.8.8"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_tcp_connect_to_private_address_is_refused_before_any_packet() -> None:
    before = len(TrafficGuard.violations)
    with socket.socket() as sock, pytest.raises(TrafficViolation, match=r"192\.168\.4\.1:80"):
        sock.connect(("192.168.4.1", 80))
    assert TrafficGuard.violations[before:][0].address == "192.168.4.1:80"


def test_udp_sendto_public_address_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(TrafficViolation):
        sock.sendto(b"x", ("8.8.8.8", 53))


def test_name_lookup_of_a_public_name_is_refused() -> None:
    with pytest.raises(TrafficViolation, match=r"blynk\.cloud"):
        socket.getaddrinfo("blynk.cloud", 443)


def test_asyncio_connections_are_guarded_too() -> None:
    async def attempt() -> None:
        await asyncio.open_connection("10.1.2.3", 8080)

    with pytest.raises(TrafficViolation):
        asyncio.run(attempt())


def test_loopback_connections_still_work() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


def test_sim_lab_run_opens_no_socket_to_a_non_loopback_address(tmp_path: Any) -> None:
    """A full provisioning run in `sim` mode: record every connect/sendto/lookup, all are loopback."""
    global _recording
    _recording = []
    try:
        with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
            enrollment = lab.phone().provision(lab.boards[0])
            assert enrollment.ok
    finally:
        seen, _recording = _recording, None
    connects = [addr for event, addr in seen if event == "socket.connect"]
    # phone -> cloud API, phone -> SoftAP, board -> cloud: the run really used the network
    assert len(connects) >= 3, seen
    offending = [
        (event, addr)
        for event, addr in seen
        if not is_loopback_host(addr[0] if isinstance(addr, tuple) else addr)
        and not (isinstance(addr, str) and addr.startswith("/"))
    ]
    assert offending == []

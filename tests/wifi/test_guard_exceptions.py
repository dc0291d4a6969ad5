"""The guard's two exceptions to loopback-only, decided per socket (no packet is sent here)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from provlab.wifi.guard import TrafficGuard, TrafficViolation, socket_device


@pytest.fixture
def no_allowed_interfaces() -> Iterator[None]:
    saved = TrafficGuard._interfaces
    TrafficGuard._interfaces = set()
    yield
    TrafficGuard._interfaces = saved


def test_a_socket_bound_to_an_allowed_real_interface_may_leave_the_host(no_allowed_interfaces: None) -> None:
    with socket.socket() as plain, socket.socket() as bound:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
        assert socket_device(bound) == "lo" and socket_device(plain) is None
        assert not TrafficGuard.socket_allowed(bound, "192.168.4.1")
        TrafficGuard.allow_interface("lo")
        try:
            assert TrafficGuard.socket_allowed(bound, "192.168.4.1")
            assert not TrafficGuard.socket_allowed(plain, "192.168.4.1")
        finally:
            TrafficGuard.forget_interface("lo")
        assert not TrafficGuard.socket_allowed(bound, "192.168.4.1")


def test_an_unregistered_namespace_grants_nothing() -> None:
    TrafficGuard.allow_namespace(1, ["192.168.4.0/24"])  # an inode no socket of ours lives in
    try:
        with socket.socket() as sock:
            assert not TrafficGuard.socket_allowed(sock, "192.168.4.1")
    finally:
        TrafficGuard.forget_namespace(1)


def test_looking_up_an_address_literal_sends_nothing_and_is_allowed() -> None:
    assert socket.getaddrinfo("192.168.4.1", 80, socket.AF_INET)[0][4] == ("192.168.4.1", 80)
    with pytest.raises(TrafficViolation):
        socket.getaddrinfo("blynk.setup", 80)

"""The traffic guard: refuses any connection from this process to a non-loopback address.

DESIGN.md decision 5. It is a Python audit hook (PEP 578) on `socket.connect`, `socket.sendto`
and `socket.getaddrinfo`, so it sees every socket the process opens, whichever library opens it.
Audit hooks cannot be removed; the guard is switched on and off with `TrafficGuard.enforce()`.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class TrafficViolation(PermissionError):
    """A connection to a non-loopback address was attempted while the guard was on."""


@dataclass(frozen=True)
class Violation:
    event: str
    address: str


def is_loopback_host(host: object) -> bool:
    """True for loopback literals (127.0.0.0/8, ::1) and the local host names."""
    if host is None:
        return True  # getaddrinfo(None, port) resolves to the local host
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0]
    if name.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _inet_host(address: object) -> object | None:
    """The host part of an AF_INET/AF_INET6 address tuple, None for other families (AF_UNIX…)."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        host: object = address[0]
        return host
    return None


class TrafficGuard:
    """Process-wide guard; `enforce()` turns it on for the duration of a `with` block (nestable)."""

    _lock = threading.Lock()
    _installed = False
    _depth = 0
    violations: list[Violation] = []  # noqa: RUF012 - process-wide record, read by tests

    @classmethod
    def install(cls) -> None:
        with cls._lock:
            if not cls._installed:
                sys.addaudithook(cls._hook)
                cls._installed = True

    @classmethod
    @contextmanager
    def enforce(cls) -> Iterator[None]:
        cls.install()
        with cls._lock:
            cls._depth += 1
        try:
            yield
        finally:
            with cls._lock:
                cls._depth -= 1

    @classmethod
    def active(cls) -> bool:
        return cls._depth > 0

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if cls._depth <= 0:
            return
        if event in ("socket.connect", "socket.sendto"):
            host = _inet_host(args[1])
            if host is not None and not is_loopback_host(host):
                cls._refuse(event, f"{host}:{args[1][1]}")
        elif event == "socket.getaddrinfo":
            host = args[0]
            if not is_loopback_host(host):
                cls._refuse(event, str(host))

    @classmethod
    def _refuse(cls, event: str, address: str) -> None:
        cls.violations.append(Violation(event, address))
        raise TrafficViolation(
            f"provlab traffic guard: {event} to {address} refused; only loopback (127.0.0.0/8, ::1) "
            "is allowed from the host namespace (DESIGN.md decision 5)"
        )

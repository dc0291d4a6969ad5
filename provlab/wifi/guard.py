"""The traffic guard: refuses any connection from the host namespace to a non-loopback address.

DESIGN.md decision 5. It is a Python audit hook (PEP 578) on `socket.connect`, `socket.sendto`
and `socket.getaddrinfo`, so it sees every socket the process opens, whichever library opens it.
Audit hooks cannot be removed; the guard is switched on and off with `TrafficGuard.enforce()`.

Two kinds of socket may reach further than loopback, each only where the lab says so:
- a socket that lives in a network namespace the lab created (`allow_namespace`) may reach that
  namespace's peers (the networks registered with it). The kernel tells which namespace a socket
  lives in (ioctl SIOCGSKNS), so a socket made inside a namespace and handed to the host's event
  loop is still judged by where it really is;
- a socket bound (SO_BINDTODEVICE) to a real Wi-Fi interface the lab drives (`allow_interface`),
  for the real-adapter backends on a lab host.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
SIOCGSKNS = 0x894C  # linux/sockios.h: the socket's network namespace, as a new fd
IFNAMSIZ = 16


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


def namespace_inode(path: str = "/proc/thread-self/ns/net") -> int:
    """The inode that identifies a network namespace (of this thread, or of a /run/netns file)."""
    return os.stat(path).st_ino


def socket_namespace_inode(sock: object) -> int | None:
    """The network namespace a socket lives in, or None when the kernel will not say."""
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fcntl.ioctl(fileno(), SIOCGSKNS)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def socket_device(sock: object) -> str | None:
    """The interface a socket is bound to with SO_BINDTODEVICE, or None."""
    getsockopt = getattr(sock, "getsockopt", None)
    if getsockopt is None:
        return None
    try:
        raw = getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, IFNAMSIZ)
    except OSError as exc:
        if exc.errno in (errno.ENOPROTOOPT, errno.EBADF, errno.ENOTSOCK):
            return None
        raise
    name = bytes(raw).split(b"\0", 1)[0].decode("ascii", "replace")
    return name or None


def _in_networks(host: object, networks: frozenset[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return any(address in net for net in networks if net.version == address.version)


def _is_ip_literal(host: object) -> bool:
    """An address written out (`192.168.4.1`): looking it up sends nothing; connecting to it is checked."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


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
    _namespaces: dict[int, frozenset[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}  # noqa: RUF012
    _interfaces: set[str] = set()  # noqa: RUF012

    @classmethod
    def allow_namespace(cls, inode: int, networks: list[str]) -> None:
        """Sockets living in namespace `inode` may reach `networks` (its peers), nothing else."""
        parsed = frozenset(ipaddress.ip_network(n, strict=False) for n in networks)
        with cls._lock:
            cls._namespaces = {**cls._namespaces, inode: cls._namespaces.get(inode, frozenset()) | parsed}

    @classmethod
    def forget_namespace(cls, inode: int) -> None:
        with cls._lock:
            cls._namespaces = {k: v for k, v in cls._namespaces.items() if k != inode}

    @classmethod
    def allow_interface(cls, name: str) -> None:
        """Sockets bound with SO_BINDTODEVICE to the real Wi-Fi interface `name` may reach its networks."""
        with cls._lock:
            cls._interfaces = cls._interfaces | {name}

    @classmethod
    def forget_interface(cls, name: str) -> None:
        with cls._lock:
            cls._interfaces = cls._interfaces - {name}

    @classmethod
    def socket_allowed(cls, sock: object, host: object) -> bool:
        """Whether `sock` may send to the non-loopback `host` (the decision the hook makes)."""
        if cls._namespaces:
            inode = socket_namespace_inode(sock)
            if inode is not None and inode in cls._namespaces and _in_networks(host, cls._namespaces[inode]):
                return True
        if cls._interfaces:
            device = socket_device(sock)
            if device is not None and device in cls._interfaces:
                return True
        return False

    @classmethod
    def thread_in_lab_namespace(cls) -> bool:
        """True on a thread that entered a namespace the lab created (its lookups stay inside it)."""
        if not cls._namespaces:
            return False
        try:
            return namespace_inode() in cls._namespaces
        except OSError:
            return False

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
            if host is not None and not is_loopback_host(host) and not cls.socket_allowed(args[0], host):
                cls._refuse(event, f"{host}:{args[1][1]}")
        elif event == "socket.getaddrinfo":
            host = args[0]
            if not is_loopback_host(host) and not _is_ip_literal(host) and not cls.thread_in_lab_namespace():
                cls._refuse(event, str(host))

    @classmethod
    def _refuse(cls, event: str, address: str) -> None:
        cls.violations.append(Violation(event, address))
        raise TrafficViolation(
            f"provlab traffic guard: {event} to {address} refused; only loopback (127.0.0.0/8, ::1) "
            "is allowed from the host namespace, and a lab namespace reaches only its own peers "
            "(DESIGN.md decision 5)"
        )

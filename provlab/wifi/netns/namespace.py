"""One Linux network namespace the lab created, with a thread that lives inside it.

Sockets belong to the namespace of the thread that creates them, so every socket for a namespace is
made by that namespace's own thread (it entered with setns(2)) and then handed to asyncio, which
may use it from any thread. Interfaces and addresses are set with `ip -n <namespace> …`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
IP_TIMEOUT_S = 20.0
_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(RuntimeError):
    """An `ip` command or a namespace operation failed; says which command and what it printed."""


def run_ip(*args: str, check: bool = True, stdin: str | None = None) -> str:
    """Run `ip ARGS`; NamespaceError with its stderr when it fails and `check` is set."""
    try:
        done = subprocess.run(
            ["ip", *args], input=stdin, capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NamespaceError(f"ip {' '.join(args)}: {exc}") from exc
    if check and done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def enter_namespace(path: str | Path) -> None:
    """setns(2) the calling thread into the network namespace at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceError(f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _write_sysctl(key: str, value: str) -> None:
    with contextlib.suppress(OSError), open(f"/proc/sys/{key.replace('.', '/')}", "w") as out:
        out.write(value)


class Namespace:
    """A named namespace (`ip netns`), its entered thread, and `ip -n` for it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = NETNS_DIR / name
        self._executor: ThreadPoolExecutor | None = None
        self.inode = 0

    @classmethod
    def create(cls, name: str) -> Namespace:
        run_ip("netns", "add", name)
        namespace = cls(name)
        try:
            namespace.inode = os.stat(namespace.path).st_ino
            namespace.ip("link", "set", "lo", "up")
            namespace.call(_quiet_ipv6)
        except BaseException:
            namespace.delete()
            raise
        return namespace

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                1,
                thread_name_prefix=f"netns-{self.name}",
                initializer=enter_namespace,
                initargs=(str(self.path),),
            )
        return self._executor

    def call(self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run `fn` on the namespace's thread and wait (from any thread but an event loop's)."""
        return self.executor.submit(fn).result(timeout)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the namespace's thread without blocking the event loop (through the loop's executor
        call, so a virtual lab clock knows the job is running)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def ip(self, *args: str, check: bool = True) -> str:
        return run_ip("-n", self.name, *args, check=check)

    async def aip(self, *args: str, check: bool = True) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.ip(*args, check=check))

    async def aip_batch(self, *commands: str) -> str:
        """Several `ip` commands in this namespace with one process (`ip -batch`), stopping at the first error."""
        loop = asyncio.get_running_loop()
        script = "".join(command + "\n" for command in commands)
        return await loop.run_in_executor(None, lambda: run_ip("-n", self.name, "-batch", "-", stdin=script))

    def pids(self) -> list[int]:
        return [int(p) for p in run_ip("netns", "pids", self.name, check=False).split() if p.isdigit()]

    def delete(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if self.path.exists():
            run_ip("netns", "del", self.name, check=False)

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"


def _quiet_ipv6() -> None:
    """No IPv6 in lab namespaces: no router solicitations or MLD reports cluttering the capture."""
    for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
        _write_sysctl(key, "1")


@functools.cache
def unavailable_reason() -> str | None:
    """Why this host cannot run the `netns` backend, or None when it can (checked once per process)."""
    if not hasattr(os, "geteuid") or not Path("/proc/self/ns/net").exists():
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "the netns backend needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root or use --wifi sim"
    if shutil.which("ip") is None:
        return "the netns backend needs iproute2's `ip` command"
    if shutil.which("unshare") is not None:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            return f"`unshare -n` is not allowed here: {probe.stderr.strip() or probe.returncode}"
    name = f"provlab-probe{os.getpid()}"
    try:
        run_ip("netns", "add", name)
    except NamespaceError as exc:
        return f"`ip netns add` is not allowed here: {exc}"
    run_ip("netns", "del", name, check=False)
    return None

"""pywifi's wpa_supplicant control-socket client, with its known problems worked around.

pywifi (1.1.12) talks to wpa_supplicant over the control socket but
- waits forever for a reply (`sock.recv` without a timeout): a hung wpa_supplicant hangs the lab;
- uses a fixed control directory (`/var/run/wpa_supplicant`) and a fixed client socket
  (`/tmp/pywifi_<iface>`), so two processes on one interface steal each other's replies and a test
  cannot point it at another directory;
- keeps its connections in a class attribute shared by every instance;
- would take an unsolicited event (`<3>CTRL-EVENT-…`) or a late reply for the reply it waits for.

`BoundedWifiUtil` subclasses pywifi's own `WifiUtil` (nothing in pywifi is patched): the same
commands and parsing, with a configurable control directory, a private client socket in a temp
directory, a reply timeout, stale datagrams drained before each command, and events skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import stat
import tempfile
import time
import weakref
from typing import Any

from pywifi import _wifiutil_linux  # type: ignore[import-untyped]

from provlab.wifi.backend import RadioControlError

log = logging.getLogger("provlab.wifi.wpa")
DEFAULT_CTRL_DIR = "/var/run/wpa_supplicant"
REPLY_SIZE = 4096


class WpaTimeout(RadioControlError):
    def __init__(self, iface: str, command: str, seconds: float) -> None:
        super().__init__(f"wpa_supplicant on {iface} did not answer {command!r} within {seconds:g} s")


class BoundedWifiUtil(_wifiutil_linux.WifiUtil):  # type: ignore[misc]
    """pywifi's Linux WifiUtil with a reply timeout and its own socket paths."""

    def __init__(self, ctrl_dir: str = DEFAULT_CTRL_DIR, reply_timeout: float = 2.0) -> None:
        self.ctrl_dir = ctrl_dir
        self.reply_timeout = reply_timeout
        self._connections: dict[str, dict[str, Any]] = {}  # per instance, not pywifi's class dict
        self._client_dir = tempfile.mkdtemp(prefix="provlab-wpa-")
        self._remove_dir = weakref.finalize(self, shutil.rmtree, self._client_dir, True)  # also if never closed

    def interfaces(self) -> list[dict[str, str]]:
        found = []
        for name in sorted(os.listdir(self.ctrl_dir)):
            if stat.S_ISSOCK(os.stat(os.path.join(self.ctrl_dir, name)).st_mode):
                self._connect_to_wpa_s(name)
                found.append({"name": name})
        return found

    def _connect_to_wpa_s(self, iface: str) -> None:
        if iface in self._connections:
            return
        ctrl_iface = os.path.join(self.ctrl_dir, iface)
        sock_file = os.path.join(self._client_dir, f"{iface}-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.remove(sock_file)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(sock_file)
            sock.connect(ctrl_iface)
        except OSError as exc:
            sock.close()
            raise RadioControlError(f"cannot reach wpa_supplicant at {ctrl_iface}: {exc}") from exc
        self._connections[iface] = {"sock": sock, "sock_file": sock_file, "ctrl_iface": ctrl_iface}
        reply = self.command(iface, "PING")
        if not reply.startswith("PONG"):
            self.close()
            raise RadioControlError(f"wpa_supplicant at {ctrl_iface} answered PING with {reply!r}")

    def _drain(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        try:
            while True:
                stale = sock.recv(REPLY_SIZE)
                log.debug("wpa: dropped stale datagram %r", stale[:80])
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            sock.setblocking(True)

    def _send_cmd_to_wpas(self, iface: str, cmd: str, get_reply: bool = False) -> str | None:
        try:
            sock: socket.socket = self._connections[iface]["sock"]
        except KeyError:
            raise RadioControlError(f"no control connection to wpa_supplicant for {iface}") from None
        shown = cmd if "psk" not in cmd else cmd.split(" psk ", 1)[0] + " psk [masked]"
        log.debug("wpa: %s <- %s", iface, shown)
        self._drain(sock)
        sock.send(cmd.encode("utf-8"))
        deadline = time.monotonic() + self.reply_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WpaTimeout(iface, shown, self.reply_timeout)
            sock.settimeout(remaining)
            try:
                raw = sock.recv(REPLY_SIZE)
            except TimeoutError:
                raise WpaTimeout(iface, shown, self.reply_timeout) from None
            finally:
                sock.settimeout(None)
            if raw.startswith(b"<") and b">" in raw[:4]:
                continue  # an unsolicited event (only when attached), never the reply
            reply = raw.decode("utf-8", "replace")
            if get_reply:
                return reply
            if reply != "OK\n":
                log.warning("wpa: %s answered %r to %r", iface, reply.strip(), shown)
            return None

    def command(self, iface: str, cmd: str) -> str:
        """Any command, its reply as text (what pywifi does not expose)."""
        reply = self._send_cmd_to_wpas(iface, cmd, True)
        assert reply is not None
        return reply

    def close(self) -> None:
        for entry in self._connections.values():
            with contextlib.suppress(OSError):
                entry["sock"].close()
        self._connections.clear()
        self._remove_dir()

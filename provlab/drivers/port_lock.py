"""The per-port lock file that stops two runs (or two processes of one run) from driving the same board.

One file per port in a shared folder (`$PROVLAB_LOCK_DIR`, default `/tmp/provlab-locks`), locked with
`fcntl.flock`; the kernel drops the lock when its holder exits, however it exits, so a crash leaves nothing
stale. The file says who holds it (pid, host, user, command, since), which `PortBusy` shows. Paths are
resolved first, so `/dev/serial/by-id/usb-…` and the `/dev/ttyUSB0` it points to share one lock; remote
ports lock on `scheme://host:port`.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from provlab.drivers.serial_errors import PortBusy

DEFAULT_LOCK_DIR = Path("/tmp/provlab-locks")
_SCHEME = re.compile(r"^([a-z0-9+]+)://([^/?#]*)", re.IGNORECASE)


def lock_dir() -> Path:
    return Path(os.environ.get("PROVLAB_LOCK_DIR") or DEFAULT_LOCK_DIR)


def lockable(port: str) -> bool:
    """`loop://` is a private loopback of one process: nothing to share, nothing to lock."""
    return not port.lower().startswith("loop://")


def port_key(port: str) -> str:
    """What identifies `port` for locking: a resolved path, or `scheme://host:port` of a URL (`spy://` is
    the port it watches)."""
    if port.lower().startswith("spy://"):
        return port_key(port[len("spy://") :].split("?", 1)[0])
    url = _SCHEME.match(port)
    if url:
        return f"{url[1].lower()}://{url[2].lower()}"
    return os.path.realpath(port)


def lock_path(port: str, folder: Path | None = None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", port_key(port)).strip("_")
    return (folder or lock_dir()) / f"{safe}.lock"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _describe(raw: str) -> str:
    try:
        holder = json.loads(raw)
    except ValueError:
        return "another process (no details in the lock file)"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} (user {holder.get('user')}, "
        f"since {holder.get('since')}): {holder.get('command')}"
    )


def holder_of(port: str, folder: Path | None = None) -> str | None:
    """Who holds `port`'s lock now (as `PortBusy` says it), or None when it is free. Only looks: a free lock
    is not taken, and no lock file is created."""
    path = lock_path(port, folder)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: nobody holds it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe(os.read(fd, 4096).decode("utf-8", "replace"))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class PortLock:
    """An exclusive, non-blocking lock on one port; use as a context manager or acquire()/release()."""

    def __init__(self, port: str, folder: Path | None = None) -> None:
        self.port = port
        self.path = lock_path(port, folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> PortLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.chmod(0o1777)  # shared by every user of the station, like /tmp
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 4096).decode("utf-8", "replace")
                os.close(fd)
                raise PortBusy(
                    f"port {self.port} is in use by {_describe(holder)}; lock file {self.path}. "
                    "Wait for that run to finish or stop it; the lock goes away with its process."
                ) from None
            # The previous holder may have removed the file between our open and our flock: retry on the
            # file that is there now, or two processes would each hold a lock on a different inode.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        self._write_holder(fd)
        return self

    def _write_holder(self, fd: int) -> None:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": _user(),
            "command": " ".join(sys.argv)[:300],
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "port": self.port,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(fd)

    def __enter__(self) -> PortLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

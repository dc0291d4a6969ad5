"""Remote serial port servers for tests, on 127.0.0.1: a raw TCP bridge (ser2net `raw`) and an RFC 2217 server.

Both expose a pty (an emulated board's, or one the test plays) the way ser2net exposes /dev/ttyUSB0 on a
remote bench host. The RFC 2217 server is pyserial's `PortManager` over a pty port whose modem lines, which a
pty cannot carry, are handed to a callback instead: the ESP auto-reset circuit model plugs in there.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Callable

import serial
from serial.rfc2217 import PortManager

LineCallback = Callable[[bool, bool], None]
"""Called with (DTR asserted, RTS asserted) whenever the client changes one."""


class _Server:
    """Listens on 127.0.0.1; one client at a time; `stop()` drops everything, `start()` listens again."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> _Server:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(conn)
            self._spawn(self.serve, conn)

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()


class RawTcpBridge(_Server):
    """`socket://127.0.0.1:<port>` to a tty path, bytes both ways (ser2net's raw mode)."""

    def __init__(self, tty_path: str, port: int = 0) -> None:
        super().__init__(port)
        self.tty_path = tty_path

    def serve(self, conn: socket.socket) -> None:
        fd = os.open(self.tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([conn, fd], [], [], 0.05)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    os.write(fd, data)
                if fd in ready:
                    with contextlib.suppress(BlockingIOError):
                        conn.sendall(os.read(fd, 4096))
        except OSError:
            return
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                conn.close()


class ModemLinePort(serial.Serial):
    """A pyserial port on a pty whose DTR/RTS go to a callback (a pty has no modem lines of its own)."""

    def __init__(self, path: str, on_lines: LineCallback) -> None:
        self.on_lines = on_lines
        self.history: list[tuple[bool, bool]] = []
        super().__init__(path, timeout=0.05)

    def _update_dtr_state(self) -> None:
        self._lines_changed()

    def _update_rts_state(self) -> None:
        self._lines_changed()

    def _update_break_state(self) -> None:
        pass

    def _lines_changed(self) -> None:
        levels = (bool(self._dtr_state), bool(self._rts_state))
        if self.history and self.history[-1] == levels:
            return
        self.history.append(levels)
        self.on_lines(*levels)

    @property
    def cts(self) -> bool:
        return False

    @property
    def dsr(self) -> bool:
        return False

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False


class _Connection:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.conn.sendall(data)


class Rfc2217Server(_Server):
    """`rfc2217://127.0.0.1:<port>` to a tty path, through pyserial's PortManager."""

    def __init__(self, tty_path: str, on_lines: LineCallback | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.tty_path = tty_path
        self.on_lines = on_lines or (lambda dtr, rts: None)
        self.serial_port: ModemLinePort | None = None

    def serve(self, conn: socket.socket) -> None:
        port = ModemLinePort(self.tty_path, self.on_lines)
        self.serial_port = port
        link = _Connection(conn)
        manager = PortManager(port, link)
        pump = threading.Thread(target=self._to_client, args=(port, manager, link), daemon=True)
        pump.start()
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([conn], [], [], 0.05)
                if not ready:
                    continue
                data = conn.recv(4096)
                if not data:
                    break
                port.write(b"".join(manager.filter(data)))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            port.cancel_read()
            port.close()
            pump.join(timeout=2)

    def _to_client(self, port: ModemLinePort, manager: PortManager, link: _Connection) -> None:
        while not self._stopping.is_set():
            try:
                data = port.read(port.in_waiting or 1)
                if data:
                    link.write(b"".join(manager.escape(data)))
            except (OSError, TypeError, serial.SerialException):  # the port was closed under the read
                return

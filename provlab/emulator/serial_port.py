"""The board's UART as the host sees it: a real pty (default) or an in-memory port for large fleets."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable

from provlab.clock.base import Channel

BAUDRATE = termios.B115200


class BoardSerial(ABC):
    """The firmware side of a serial port: bytes out (TX), bytes in (RX) through a callback."""

    on_receive: Callable[[bytes], None] | None = None

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def path(self) -> str | None:
        """What a host program opens to talk to the board (None for an in-memory port)."""


class PtySerial(BoardSerial):
    """A pseudo-terminal pair; pyserial opens `path` exactly as it opens /dev/ttyUSB0.

    The firmware keeps its own handle on the terminal side open, as the USB bridge keeps the device
    node alive, so the port survives a host program closing and reopening it. When nobody reads and
    the kernel buffer is full, further output is dropped, as a UART with nobody listening drops it.
    """

    def __init__(self, tx_channel: Channel | None = None, rx_channel: Channel | None = None) -> None:
        self._tx = tx_channel or Channel()
        """Board output not yet handled by the host (a virtual lab clock waits for it)."""
        self._rx = rx_channel or Channel()
        """Host input not yet handled by the board."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[4] = attrs[5] = BAUDRATE  # ispeed, ospeed: the sketch's Serial.begin(115200)
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self._path = os.ttyname(self._slave)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self._closed = False

    @property
    def path(self) -> str:
        return self._path

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start delivering received bytes to `on_receive` on `loop`."""
        self._loop = loop
        self._rx.attach()
        loop.add_reader(self._master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return
            raise
        try:
            if data and self.on_receive is not None:
                self.on_receive(data)
        finally:
            self._rx.consumed(len(data))

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        self._tx.produced(len(data))
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            written = 0
        self._tx.consumed(len(data) - written)
        self.dropped += len(data) - written

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._rx.detach()
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class MemorySerial(BoardSerial):
    """An in-memory port: output goes to a listener, input is injected with `inject`."""

    def __init__(self, listener: Callable[[bytes], None] | None = None) -> None:
        self.listener = listener

    @property
    def path(self) -> None:
        return None

    def write(self, data: bytes) -> None:
        if self.listener is not None:
            self.listener(data)

    def inject(self, data: bytes) -> None:
        if self.on_receive is not None:
            self.on_receive(data)

    def close(self) -> None:
        self.listener = None

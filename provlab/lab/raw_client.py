"""A bare Blynk device client for scenarios that play a misbehaving device (shared tokens, floods, bad tokens)."""

from __future__ import annotations

import socket
from types import TracebackType

from provlab.protocol.commands import Command
from provlab.protocol.frames import Frame, FrameParser
from provlab.protocol.internal import hardware_vw


class RawDeviceClient:
    """One plain-TCP connection to the stub's binary port, speaking just enough protocol to misbehave."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.parser = FrameParser(max_body=4096)
        self.msg_id = 0
        self.closed_by_server = False

    def _next(self) -> int:
        self.msg_id = self.msg_id % 0xFFFF + 1
        return self.msg_id

    def send(self, frame: Frame) -> None:
        self.sock.sendall(frame.encode())

    def login(self, token: str) -> int:
        """HW_LOGIN with `token`; the status the server answers (200, 9, 1 …)."""
        msg_id = self._next()
        self.send(Frame.of(Command.HW_LOGIN, msg_id, token))
        while True:
            for frame in self.read():
                if frame.command == Command.RESPONSE and frame.msg_id == msg_id:
                    return int(frame.status or 0)

    def virtual_write(self, pin: int, value: str) -> None:
        self.send(Frame(Command.HARDWARE, self._next(), hardware_vw(pin, value)))

    def read(self) -> list[Frame]:
        """The frames of one read; [] and `closed_by_server` when the server closed the connection."""
        data = self.sock.recv(4096)
        if not data:
            self.closed_by_server = True
            raise ConnectionResetError("the stub closed the connection")
        return self.parser.feed(data)

    def read_until_closed(self, max_frames: int = 10_000) -> list[Frame]:
        """Every frame until the server closes the connection (or `max_frames`)."""
        frames: list[Frame] = []
        try:
            while len(frames) < max_frames:
                frames += self.read()
        except (ConnectionError, TimeoutError, OSError):
            pass
        return frames

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawDeviceClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

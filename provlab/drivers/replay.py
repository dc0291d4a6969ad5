"""Replaying a recorded serial session as a board: the recorded bytes fed into a real pty with their timing.

`ReplayPort` plays a `Recording` into a pseudo-terminal; anything that opens its `path` (a `SerialBoard`,
pyserial, a terminal program) sees the board print what it printed, when it printed it, in device time
scaled by `time_scale` (0 plays as fast as the reader takes it). What the host writes is kept in `received`.
`ReplayBoard` is a `SerialBoard` on such a port, so a failure seen on hardware re-runs offline through the
same driver, parser and expect API.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Any

from provlab.drivers.recording import Recording
from provlab.drivers.serial_board import SerialBoard

POLL_S = 0.05


class ReplayPort:
    """A recording played into a pty; `start()` begins, `finished` is set when everything is written."""

    def __init__(self, recording: Recording, *, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        self.recording = recording
        self.time_scale = time_scale
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.received = bytearray()
        self.written = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replay-{recording.name}", daemon=True)

    @property
    def total(self) -> int:
        """Bytes the replay will write."""
        return sum(len(c.data) for c in self.recording.chunks if c.kind == "rx")

    def start(self) -> ReplayPort:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        for chunk in self.recording.chunks:
            if chunk.kind != "rx":
                continue
            due = started + self.recording.device_seconds(chunk) * self.time_scale
            if not self._wait_until(due) or not self._write_all(chunk.data):
                return
        self.finished.set()
        while not self._stop.is_set():
            self._drain(POLL_S)

    def _wait_until(self, due: float) -> bool:
        while not self._stop.is_set():
            left = due - time.monotonic()
            if left <= 0:
                return True
            self._drain(min(left, POLL_S))
        return False

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                sent = os.write(self._master, view)
            except BlockingIOError:
                sent = 0
            except OSError:
                return False
            view = view[sent:]
            self.written += sent
            if view:
                select.select([], [self._master], [], POLL_S)
                self._drain(0)
        return not view

    def _drain(self, wait: float) -> None:
        """Keep what the host writes (console commands), so it never blocks."""
        try:
            ready, _, _ = select.select([self._master], [], [], wait)
            if ready:
                self.received += os.read(self._master, 4096)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EIO, errno.EBADF):
                raise
            time.sleep(wait)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class ReplayBoard(SerialBoard):
    """A `SerialBoard` on a `ReplayPort`: the recorded board, re-run offline."""

    def __init__(
        self,
        recording: Recording | str | Path,
        *,
        name: str | None = None,
        log_path: str | Path | None = None,
        time_scale: float = 1.0,
        **options: Any,
    ) -> None:
        loaded = recording if isinstance(recording, Recording) else Recording.load(recording)
        self.replay = ReplayPort(loaded, time_scale=time_scale)
        try:
            super().__init__(
                self.replay.path,
                name=name or f"replay-{loaded.name}",
                log_path=log_path,
                time_scale=time_scale if time_scale > 0 else 1.0,
                **options,
            )
        except BaseException:
            self.replay.close()
            raise
        self.replay.start()

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Wait (device time) until every recorded byte was read and parsed; the last unterminated line,
        if any, is then taken as a line too."""
        total = self.replay.total
        self.stream.wait_until(
            f"all {total} recorded bytes", lambda: True if self.stream.bytes_received >= total else None, timeout
        )
        self.flush_partial()

    def close(self) -> None:
        super().close()
        self.replay.close()

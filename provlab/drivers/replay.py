"""Replaying a recorded serial session as a board: the recorded bytes fed into a real pty with their timing.

`ReplayPort` plays a `Recording` into a pseudo-terminal; anything that opens its `path` (a `SerialBoard`,
pyserial, a terminal program) sees the board print what it printed, when it printed it, in device time
scaled by `time_scale` (0 plays as fast as the reader takes it). What the host writes is kept in `received`.
`ReplayBoard` is a `SerialBoard` on such a port, so a failure seen on hardware re-runs offline through the
same driver, parser and expect API.

A replay is read in a log format (`protocol.log_formats`): chosen in the board item, `replay:FILE?format=esp-idf`
(or `arduino`, `auto`), else detected from the log (`esp-idf` when ESP-IDF Edgent's own lines are in it). A plain
log is timed by the format's device stamps (`[millis]`, ESP-IDF's `(millis)`).

A recording only prints: it has its serial log and nothing else. It answers no console command, has no power,
reset or button, and no access point for a phone; asking for one raises `CapabilityMissing` (a skip, with the
reason, in the pytest plugin).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from provlab.drivers.capabilities import Capability, CapabilityMissing
from provlab.drivers.recording import Recording
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_console import ConsoleReply
from provlab.drivers.sideband import NoSideband
from provlab.protocol.console import DevInfo
from provlab.protocol.log_formats import AUTO, LogFormat, detect_format, log_format
from provlab.protocol.serial_log import split_lines

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


REPLAY_OPTIONS = ("format",)
"""What a `replay:FILE?key=value&…` item may say after the file."""

WIRING = "none: a replayed recording, its serial log only"


@dataclass(frozen=True)
class ReplayTarget:
    """What a `replay:` board item names: the file, and the log format if the item chose one."""

    path: Path
    log_format: LogFormat | None = None

    @classmethod
    def parse(cls, target: str | Path) -> ReplayTarget:
        """`FILE` or `FILE?format=esp-idf`; ValueError saying what is wrong and what is allowed. A file whose
        name really has a `?` is taken whole when it exists."""
        text = str(target)
        path, mark, query = text.rpartition("?")
        if not mark or Path(text).exists():
            return cls(Path(text))
        fmt: LogFormat | None = None
        for item in filter(None, query.split("&")):
            key, equals, value = item.partition("=")
            if key.strip() not in REPLAY_OPTIONS or not equals:
                raise ValueError(
                    f"replay:{text}: {item!r} is not an option; a replay takes {', '.join(REPLAY_OPTIONS)} "
                    "(replay:FILE?format=esp-idf)"
                )
            try:
                fmt = log_format(value)
            except ValueError as exc:
                raise ValueError(f"replay:{text}: {exc}") from None
        return cls(Path(path), fmt)


class NotInRecording(CapabilityMissing):
    """Something a replayed recording cannot do: it only prints what the board printed."""

    def __init__(self, capability: Capability, board: str, action: str) -> None:
        NotImplementedError.__init__(
            self, f"cannot {action}: {board} is a replayed recording, which has no {capability.value} (only its log)"
        )
        self.capability = capability


class ReplayBoard(SerialBoard):
    """A `SerialBoard` on a `ReplayPort`: the recorded board, re-run offline, read in its log format."""

    def __init__(
        self,
        recording: Recording | str | Path,
        *,
        name: str | None = None,
        log_path: str | Path | None = None,
        time_scale: float = 1.0,
        log_format: LogFormat | None = None,
        **options: Any,
    ) -> None:
        if isinstance(recording, Recording):
            loaded, fmt = recording, log_format
        else:
            target = ReplayTarget.parse(recording)
            fmt = log_format or target.log_format
            loaded = Recording.load(target.path, millis_of=(fmt or AUTO).device_millis)
        if fmt is None:  # from what the board printed (a recording file's records, a log's lines)
            fmt = detect_format(split_lines(loaded.received().decode("utf-8", "replace")))
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
        self.stream.log_format = fmt or AUTO
        self.replay.start()

    # --- what a recording cannot do ---------------------------------------------------------------------
    def implementation(self, capability: Capability) -> object | None:
        """Its serial log and no console (a recording answers no command); no wiring unless a sideband is attached
        (an operator or a relay next to a recording, as tests of the wiring use)."""
        return None if capability is Capability.CONSOLE else super().implementation(capability)

    def describe_wiring(self) -> str:
        return WIRING if isinstance(self.sideband, NoSideband) else super().describe_wiring()

    @overload
    def console(  # type: ignore[overload-overlap]  # the literal case is matched first, on purpose
        self, command: Literal["devinfo"], timeout: float = ...
    ) -> DevInfo: ...

    @overload
    def console(self, command: str, timeout: float = ...) -> ConsoleReply: ...

    def console(self, command: str, timeout: float = 5.0) -> ConsoleReply | DevInfo:
        raise NotInRecording(Capability.CONSOLE, self.name, f"type {command.strip()!r} on the console")

    def command(self, command: str, timeout: float = 5.0) -> ConsoleReply:
        raise NotInRecording(Capability.CONSOLE, self.name, f"type {command.strip()!r} on the console")

    def devinfo(self, timeout: float = 5.0) -> DevInfo:
        raise NotInRecording(Capability.CONSOLE, self.name, "ask devinfo on the console")

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

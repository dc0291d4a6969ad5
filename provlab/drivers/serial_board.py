"""A board seen through its serial port: log lines in, console commands out (real or emulated alike).

`SerialBoard` opens any pyserial URL (a device path, a pty, `rfc2217://host:port`, `socket://host:port`).
A reader thread timestamps every chunk on the host clock, writes the log file (secrets masked; host notes
start with `## provlab:`) and optionally a byte-exact recording, and feeds the lines to a `LineStream` that
parses them and keeps `state`, `last_error` and `info` current. The expect API (`expect_*`, `not_matching=`)
waits in device time; `console()` runs a command; reset, power and button are the control sideband's
capabilities (`capability()`, `WiredActions`).

When the port vanishes (USB unplug, ser2net gone, pty closed) the partial line is kept, the loss is noted in
the log, and the wait running then, like every call made while the port is gone, fails at once with `PortLost`:
"board X went away at HH:MM:SS (last line: ...)" (UTC, as the log stamps). The reader reopens the same URL
until it is back (`reconnect=True`, the default except for ptys), so the next test's calls work again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, overload

import serial

from provlab.clock.base import Channel, LabClock
from provlab.clock.wall import WallClock
from provlab.drivers.expecting import ExpectingBoard
from provlab.drivers.line_stream import LineStream, ReceivedLine
from provlab.drivers.port_io import open_port, read_available
from provlab.drivers.port_lock import PortLock, lockable
from provlab.drivers.recording import NOTE_PREFIX, Recorder
from provlab.drivers.serial_console import ConsoleReply, exchange
from provlab.drivers.serial_errors import (
    ExpectTimeout,
    PortLost,
    PortUnavailable,
    SerialBoardError,
    went_away,
)
from provlab.drivers.sideband.base import NoSideband, Sideband
from provlab.drivers.wired_actions import WiredActions
from provlab.protocol.console import DevInfo
from provlab.protocol.serial_log import LineSplitter, mask_line

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

__all__ = ["ExpectTimeout", "PortLost", "PortUnavailable", "ReceivedLine", "SerialBoard"]

PROMPT_PROBE = 8


def is_pty(url: str) -> bool:
    """A pseudo-terminal (an emulated board, a replay): once its other side closes it never comes back, and its
    number is soon given to another pty, so it is not reopened after a loss by default."""
    return "://" not in url and os.path.realpath(url).startswith("/dev/pts/")


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")


class SerialBoard(ExpectingBoard, WiredActions):
    """Any board on a pyserial URL (device path, pty, rfc2217://, socket://).

    `time_scale`: device seconds per wall second for every timeout. `log_path`: the masked, host-stamped log.
    `record_path`: a byte-exact (secrets masked) recording for replay. `sideband`: reset/power/button.
    `reconnect`: reopen the URL after a loss (default: yes, except for ptys). `lock`: take the port's lock
    file. `dtr`/`rts`: levels to set after opening (False/False keeps an ESP auto-reset circuit quiet).
    `echo`, `line_ending`: the console's line discipline. `max_line`: longer lines are cut into pieces.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "board",
        log_path: str | Path | None = None,
        time_scale: float = 1.0,
        clock: LabClock | None = None,
        rx_channel: Channel | None = None,
        tx_channel: Channel | None = None,
        baudrate: int = 115200,
        sideband: Sideband | None = None,
        record_path: str | Path | None = None,
        reconnect: bool | None = None,
        reconnect_interval: float = 0.2,
        lock: bool = True,
        dtr: bool | None = None,
        rts: bool | None = None,
        echo: bool = True,
        line_ending: str = "\n",
        max_line: int = 64 * 1024,
    ) -> None:
        self.url = url
        self.name = name
        self.baudrate = baudrate
        self.clock: LabClock = clock or WallClock(time_scale)
        self.time_scale = self.clock.scale
        self._rx_channel = rx_channel or Channel()
        """What the board sends and this driver has not handled yet (a virtual clock waits for it)."""
        self._tx_channel = tx_channel or Channel()
        self.log_path = Path(log_path) if log_path else None
        self.reconnect = reconnect if reconnect is not None else not is_pty(url)
        self.reconnect_interval = reconnect_interval
        self.echo = echo
        self.line_ending = line_ending
        self.sideband: Sideband = sideband or NoSideband(clock=self.clock)
        self.stream = LineStream(clock=self.clock, log_path=self.log_path)
        self.stream.problem = self._port_problem
        self._dtr, self._rts = dtr, rts
        self._io = threading.RLock()
        self._write_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._splitter = LineSplitter(max_line)
        self._partial_head = b""
        self._lost: PortLost | None = None
        self._handed_over = False
        self._back = threading.Event()
        self._back.set()
        self._closed = False
        self._lock = PortLock(url).acquire() if lock and lockable(url) else None
        try:
            self._port: serial.Serial | None = self._open()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._log: IO[str] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8")
        now = time.time()
        self._recorder = (
            Recorder(record_path, name=name, port=url, time_scale=time_scale, started=now) if record_path else None
        )
        self._note(f"opened {url} at {baudrate} baud (time_scale {self.time_scale:g}, {self.clock.describe()})", now)
        self._rx_channel.attach()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name=f"{name}-serial", daemon=True)
        self._thread.start()

    # --- the port ----------------------------------------------------------------------------------
    def _open(self) -> serial.Serial:
        return open_port(self.url, baudrate=self.baudrate, name=self.name, dtr=self._dtr, rts=self._rts)

    @property
    def connected(self) -> bool:
        """The port is open now (False after a loss, until it is back)."""
        return self._port is not None and not self._closed

    def _port_problem(self) -> tuple[BaseException | None, str | None]:
        if self._closed:
            return PortUnavailable(f"{self.name}: the board's driver was closed"), None
        lost = self._lost
        if lost is None:
            return None, None
        return PortLost(str(lost)), None  # a fresh exception per failure: each test gets its own traceback

    def wait_for_port(self, timeout: float = 30.0) -> bool:
        """Wait up to `timeout` device seconds for a lost port to be reopened (True: it is open now). Between
        tests, so the next one starts on a board that is back instead of failing with `PortLost`."""
        if self._closed:
            return False
        self._back.wait(self.clock.loop_seconds(timeout))
        return self.connected

    def _last_line(self) -> str | None:
        """The last line the board printed (masked), host notes left out."""
        return next((line for line in reversed(self.stream.tail()) if not line.startswith(NOTE_PREFIX)), None)

    def _lose_port(self, error: BaseException) -> None:
        now = time.time()
        if not self.reconnect and self._lock is not None:
            self._lock.release()  # gone for good: whoever gets this device name next may use it
        with self._io:
            port, self._port = self._port, None
        self.flush_partial(now)  # the unterminated line is the last thing the board said: keep it, show it
        waiting = "reopening it until it is back" if self.reconnect else "not reopened (a pty does not come back)"
        lost = PortLost(went_away(self.name, now, self._last_line(), f"{self.url}: {error}; {waiting}", self.log_path))
        with self._io:
            self._lost = lost
            self._back.clear()
        self._note(f"port lost: {error}; {waiting}; {str(lost).splitlines()[0]}", now)
        self.stream.wake()
        if port is not None:  # after the facts are out: closing a socket port sleeps 0.3 s in pyserial
            with contextlib.suppress(Exception):
                port.close()

    def _try_reopen(self) -> None:
        try:
            port = self._open()
        except PortUnavailable:
            return
        with self._io:
            if self._port is not None or self._handed_over:  # someone else has (re)opened it meanwhile
                with contextlib.suppress(Exception):
                    port.close()
                return
            self._port = port
            self._lost = None
            self._partial_head = b""
            self._back.set()
        self._note(f"port back: {self.url}", time.time())
        self.stream.wake()

    @contextlib.contextmanager
    def handed_over(self, to: str) -> Iterator[str]:
        """Close the port for another program (`to`, e.g. esptool) and reopen it afterwards; yields the URL.

        The driver, its log and its line stream stay; the log notes both moves. A port that cannot be reopened
        afterwards raises `PortUnavailable`."""
        with self._io:
            if self._port is None:
                raise self._unavailable()
            self._handed_over = True
            port, self._port = self._port, None
        self.flush_partial()
        with contextlib.suppress(Exception):
            port.close()
        self._note(f"port handed to {to}", time.time())
        try:
            yield self.url
        finally:
            try:
                reopened = self._open()
            except BaseException:
                with self._io:
                    self._handed_over = False
                raise
            with self._io:  # in one step: the reader must not see "no port, not handed over" and reopen it too
                self._port = reopened
                self._partial_head = b""
                self._handed_over = False
            self._note(f"port back from {to}: {self.url}", time.time())

    # --- reading -----------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            port = self._port
            if port is None:
                if self._stop.wait(self.reconnect_interval):
                    break
                if self.reconnect and not self._handed_over and self._port is None:
                    self._try_reopen()
                continue
            try:
                data = read_available(port)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if self._stop.is_set():
                    break
                if self._handed_over:  # closed under the read on purpose: another program has the port
                    continue
                self._lose_port(exc)
                continue
            if data:
                try:
                    self._feed(data, time.time())
                finally:
                    self._rx_channel.consumed(len(data))

    def _feed(self, data: bytes, now: float) -> None:
        if self._recorder is not None:
            self._recorder.rx(data, now)
        with self._io:
            raws = self._splitter.feed(data)
            self._track_prompt(data)
            prompt = self._partial_head.startswith(b">")
        for raw in raws:
            self._take(raw, now)
        if raws:
            self._flush_log()
        if prompt:
            self.stream.prompt_pending()
        self.stream.count_bytes(len(data))

    def _track_prompt(self, data: bytes) -> None:
        """Keep the first bytes of the unterminated line: a console prompt `>` waits there."""
        last = max(data.rfind(b"\r"), data.rfind(b"\n"))
        if last >= 0:
            self._partial_head = data[last + 1 : last + 1 + PROMPT_PROBE]
        elif len(self._partial_head) < PROMPT_PROBE:
            self._partial_head += data[: PROMPT_PROBE - len(self._partial_head)]

    def _take(self, raw: str, now: float) -> None:
        masked = mask_line(raw)
        self._write_log(now, masked)
        self.stream.add(raw, now, shown=masked)

    def flush_partial(self, now: float | None = None) -> None:
        """Take the unterminated line received so far as a line (end of stream, lost port)."""
        with self._io:
            tail = self._splitter.flush()
            self._partial_head = b""
        if tail:
            self._take(tail, now if now is not None else time.time())
            self._flush_log()

    def _write_log(self, now: float, text: str) -> None:
        with self._log_lock:
            if self._log is not None:
                self._log.write(f"{_stamp(now)} {text}\n")

    def _flush_log(self) -> None:
        with self._log_lock:
            if self._log is not None:
                self._log.flush()

    def _note(self, text: str, now: float) -> None:
        self._write_log(now, NOTE_PREFIX + text)
        self._flush_log()
        self.stream.note(NOTE_PREFIX + text)
        if self._recorder is not None:
            self._recorder.note(text, now)

    # --- writing -----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes to the board; `PortLost`/`PortUnavailable` when the port is gone or the write is stuck."""
        with self._io:
            port = self._port
            if port is None:
                raise self._unavailable()
        with self._write_lock:  # not under `_io`: a slow write must not stall the reader
            self._tx_channel.produced(len(data))
            try:
                port.write(data)
                port.flush()
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                self._tx_channel.consumed(len(data))
                raise PortLost(f"{self.name}: cannot write to {self.url}: {exc}") from exc
        if self._recorder is not None:
            self._recorder.tx(data, time.time())

    def _unavailable(self) -> PortUnavailable:
        if self._lost is not None:
            return PortLost(str(self._lost))
        return PortUnavailable(f"{self.name}: {self.url} is closed")

    def set_dtr(self, active: bool) -> None:
        """Assert (True) or release DTR; kept across reconnects."""
        self._set_line("dtr", active)

    def set_rts(self, active: bool) -> None:
        """Assert (True) or release RTS; kept across reconnects."""
        self._set_line("rts", active)

    def _set_line(self, line: str, active: bool) -> None:
        with self._io:
            if line == "dtr":
                self._dtr = active
            else:
                self._rts = active
            port = self._port
            if port is None:
                raise self._unavailable()
            try:
                setattr(port, line, active)
            except (serial.SerialException, OSError) as exc:
                raise SerialBoardError(
                    f"{self.name}: cannot set {line.upper()} on {self.url}: {exc} (a pty or a port without "
                    "modem lines cannot drive a DTR/RTS sideband)"
                ) from exc

    # --- console -----------------------------------------------------------------------------------
    @overload
    def console(  # type: ignore[overload-overlap]  # the literal case is matched first, on purpose
        self, command: Literal["devinfo"], timeout: float = ...
    ) -> DevInfo: ...

    @overload
    def console(self, command: str, timeout: float = ...) -> ConsoleReply: ...

    def console(self, command: str, timeout: float = 5.0) -> ConsoleReply | DevInfo:
        """Run a console command; `devinfo` returns the parsed `DevInfo`, others the `ConsoleReply`."""
        reply = exchange(
            self.stream,
            self.write,
            command,
            timeout=timeout,
            echo=self.echo,
            line_ending=self.line_ending,
            board=self.name,
        )
        if command.strip().lower() == "devinfo":
            return reply.devinfo()
        return reply

    def command(self, command: str, timeout: float = 5.0) -> ConsoleReply:
        """Run a console command and return its reply as printed."""
        return exchange(
            self.stream,
            self.write,
            command,
            timeout=timeout,
            echo=self.echo,
            line_ending=self.line_ending,
            board=self.name,
        )

    def devinfo(self, timeout: float = 5.0) -> DevInfo:
        return self.command("devinfo", timeout).devinfo()

    # --- sideband ----------------------------------------------------------------------------------
    def attach_sideband(self, sideband: Sideband) -> None:
        self.sideband = sideband

    # --- end ---------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        self._thread.join(timeout=2)
        self._rx_channel.detach()
        with self._io:
            port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
        self.flush_partial()
        now = time.time()
        self._note("closed", now)
        self._closed = True
        self.stream.wake()
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        if self._recorder is not None:
            self._recorder.close(now)
        if self._lock is not None:
            self._lock.release()
        self.sideband.close()

    def __enter__(self) -> SerialBoard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SerialBoard {self.name} {self.url}{'' if self.connected else ' (port lost)'}>"

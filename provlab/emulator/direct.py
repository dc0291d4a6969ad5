"""An emulated board driven through its API instead of a serial port: the reference side of the parity test.

State comes from the firmware's state listeners, `last_error` from its config, `info` from its profile, the
console runs `EdgentConsole.run` directly; the printed text (for `expect`) comes from its in-memory port.
Everything else (the expect API, the sideband) is shared with `SerialBoard`, so a scenario written against
`BoardDriver` cannot tell which one it drives, except through what the two report.
"""

from __future__ import annotations

import time
from typing import Literal, overload

from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.expecting import DEFAULT_TIMEOUT, ExpectingBoard, NotMatching, compile_patterns
from provlab.drivers.line_stream import LineStream
from provlab.drivers.serial_console import ConsoleReply
from provlab.drivers.serial_errors import ConsoleCommandNotFound, UnexpectedOutput
from provlab.drivers.sideband.base import Sideband
from provlab.drivers.wired_actions import WiredActions
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.serial_port import MemorySerial
from provlab.emulator.sideband import EmulatedSideband, LoopRunner
from provlab.protocol.console import COMMAND_NOT_FOUND, DevInfo, tokenize_console_line
from provlab.protocol.serial_log import LineSplitter, parse_line
from provlab.protocol.states import EdgentState


class DirectBoard(ExpectingBoard, WiredActions):
    """`BoardDriver` over an `EmulatedBoard` whose serial is a `MemorySerial`."""

    def __init__(
        self,
        board: EmulatedBoard,
        run: LoopRunner,
        *,
        name: str | None = None,
        sideband: Sideband | None = None,
    ) -> None:
        if not isinstance(board.serial, MemorySerial):
            raise TypeError(f"DirectBoard needs an emulated board on a MemorySerial, not {type(board.serial).__name__}")
        self.board = board
        self.name = name or board.name
        self._run = run
        self.time_scale = board.clock.time_scale
        self.stream = LineStream(clock=board.clock.lab_clock)
        self.sideband = sideband or EmulatedSideband(board, run)
        self._splitter = LineSplitter()
        self._capture: bytearray | None = None
        self._transitions: list[tuple[int, EdgentState]] = []
        board.serial.listener = self._output
        board.listeners.append(self._state_changed)

    # --- what the firmware does (called on the board's loop) ----------------------------------------
    def _output(self, data: bytes) -> None:
        if self._capture is not None:
            self._capture += data
        now = time.time()
        for raw in self._splitter.feed(data):
            self.stream.add(raw, now)

    def _state_changed(self, old: EdgentState, new: EdgentState) -> None:
        position = self.stream.mark()
        self.stream.update(lambda: self._transitions.append((position, new)))

    # --- what the API says ----------------------------------------------------------------------------
    @property
    def state(self) -> EdgentState | None:
        return self.board.state

    @property
    def last_error(self) -> int | None:
        return self.board.config.last_error

    @property
    def info(self) -> DeviceInfo:
        p = self.board.profile
        return DeviceInfo(
            name=self.board.ssid,
            board=p.template_name,
            tmpl_id=p.template_id,
            fw_type=p.firmware_type,
            fw_ver=p.fw_version,
            build=p.build,
            platform=p.platform,
            blynk_version=p.blynk_version,
            sdk=p.sdk,
            sources=frozenset({"api"}),
        )

    @property
    def boots(self) -> int:
        return self.board.boots

    def expect_state(
        self,
        state: str | EdgentState,
        timeout: float = DEFAULT_TIMEOUT,
        since: int | None = None,
        *,
        not_matching: NotMatching = None,
    ) -> None:
        """Wait for the firmware to enter `state` (its state listeners, not its log lines); `since` as in
        `SerialBoard.expect_state`."""
        wanted = state if isinstance(state, EdgentState) else EdgentState.parse(state)
        if since is None and self.board.state is wanted:
            return
        start = 0 if since is None else since
        forbidden = compile_patterns(not_matching)
        what = f"state {wanted.value} (firmware API)"
        scanned = [start]

        def check() -> bool | None:
            for item in self.stream.lines(scanned[0]):
                scanned[0] += 1
                for pattern in forbidden:
                    if pattern.search(item.line.raw):
                        raise UnexpectedOutput(
                            what, pattern.pattern, item.line.raw, self.stream.tail(), self.stream.log_path
                        )
            return True if any(pos >= start and new is wanted for pos, new in self._transitions) else None

        self.stream.wait_until(what, check, timeout)

    # --- console through the API ---------------------------------------------------------------------
    @overload
    def console(  # type: ignore[overload-overlap]  # the literal case is matched first, on purpose
        self, command: Literal["devinfo"], timeout: float = ...
    ) -> DevInfo: ...

    @overload
    def console(self, command: str, timeout: float = ...) -> ConsoleReply: ...

    def console(self, command: str, timeout: float = 5.0) -> ConsoleReply | DevInfo:
        reply = self.command(command, timeout)
        if command.strip().lower() == "devinfo":
            return reply.devinfo()
        return reply

    def command(self, command: str, timeout: float = 5.0) -> ConsoleReply:
        command = command.strip()
        output = self._run(self._console_run(command))
        lines = tuple(
            raw.strip()
            for raw in output.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
            if raw.strip() and parse_line(raw).millis is None and raw.strip() != ">"
        )
        if COMMAND_NOT_FOUND in lines:
            raise ConsoleCommandNotFound(f"{self.name}: the console does not know {command.split()[0]!r}")
        return ConsoleReply(command, lines)

    async def _console_run(self, command: str) -> bytes:
        self._capture = bytearray()
        try:
            words = tokenize_console_line(command)
            if words and not await self.board.console.execute(words):
                self._capture += f"{COMMAND_NOT_FOUND}\r\n".encode()
            return bytes(self._capture)
        finally:
            self._capture = None

    def close(self) -> None:
        if self._state_changed in self.board.listeners:
            self.board.listeners.remove(self._state_changed)
        self.sideband.close()

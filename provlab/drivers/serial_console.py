"""Talking to the Edgent console over a serial stream: send a line, skip its echo, collect the reply to the prompt.

The firmware echoes each typed character, prints CRLF, runs the command, then prints the prompt `>` (spec
§5.5). Log lines can arrive in between; they carry a `[millis]` stamp and are left out of the reply. If a boot
was seen and its prompt has not come yet, the command waits for it first (the console is not up before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provlab.drivers.line_stream import LineStream
from provlab.drivers.serial_errors import ConsoleCommandNotFound, ConsoleError
from provlab.protocol.console import (
    COMMAND_NOT_FOUND,
    ConsoleReplyError,
    DevInfo,
    StatusReply,
    WifiShow,
    parse_devinfo,
    parse_status_reply,
    parse_wifi_show,
)
from provlab.protocol.serial_log import parse_line


@dataclass(frozen=True)
class ConsoleReply:
    """What the console printed for one command, between its echo and the next prompt."""

    command: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def devinfo(self) -> DevInfo:
        try:
            return parse_devinfo(self.text)
        except ConsoleReplyError as exc:
            raise ConsoleError(f"{self.command!r}: {exc}") from None

    def wifi_show(self) -> WifiShow:
        """The `wifi show` reply (station MAC, IP, network)."""
        try:
            return parse_wifi_show(self.text)
        except ConsoleReplyError as exc:
            raise ConsoleError(f"{self.command!r}: {exc}") from None

    def status(self) -> StatusReply:
        """The `{"status":…,"msg":…}` reply of `reboot`, `connect`, `firmware rollback`."""
        try:
            return parse_status_reply(self.text)
        except ConsoleReplyError as exc:
            raise ConsoleError(f"{self.command!r}: {exc}") from None


def _is_echo(text: str, millis: int | None, command: str) -> bool:
    """Whether a received line (prompt stripped) ends the echo of `command`: the whole echo; its tail after a log
    line cut into it (`dev[5120] Scanning...`, then `info`); or the whole echo with a log line printed right after
    it, before the console's CRLF (`config erase[100] Certificate OK`)."""
    if text.endswith(command) or (text and millis is None and command.endswith(text)):
        return True
    at = text.find(command)
    return at >= 0 and parse_line(text[at + len(command) :]).millis is not None


def _echo_finder(stream: LineStream, command: str, start: int) -> Callable[[], int | None]:
    position = [start]

    def find() -> int | None:
        for index, item in enumerate(stream.lines(position[0]), start=position[0]):
            if _is_echo(item.line.raw.lstrip(">").rstrip(), item.line.millis, command):
                return index
            position[0] = index + 1
        return None

    return find


def exchange(
    stream: LineStream,
    write: Callable[[bytes], None],
    command: str,
    *,
    timeout: float,
    echo: bool = True,
    line_ending: str = "\n",
    board: str = "board",
) -> ConsoleReply:
    """Run `command` on the console behind `stream`/`write`; timeouts in device time, per step."""
    command = command.strip()
    if not command or any(c in command for c in "\r\n"):
        raise ValueError(f"a console command is one non-empty line, got {command!r}")
    boot = stream.boot_index
    if boot is not None:
        stream.wait_until(f"{board}'s console prompt after boot", lambda: stream.prompt_after(boot - 1), timeout)
    start = stream.mark()
    write((command + line_ending).encode("utf-8"))
    echoed = start - 1
    if echo:
        echoed = stream.wait_until(f"the echo of {command!r}", _echo_finder(stream, command, start), timeout)
    prompt = stream.wait_until(f"the console prompt after {command!r}", lambda: stream.prompt_after(echoed), timeout)
    lines = tuple(
        item.line.raw.strip()
        for item in stream.lines(echoed + 1)[: prompt - echoed - 1]
        if item.line.millis is None and item.line.raw.strip()
    )
    if COMMAND_NOT_FOUND in lines:
        raise ConsoleCommandNotFound(f"{board}: the console does not know {command.split()[0]!r} ({COMMAND_NOT_FOUND})")
    return ConsoleReply(command, lines)

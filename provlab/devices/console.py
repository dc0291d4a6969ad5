"""The Edgent serial console (spec §5.5): echo, line discipline, and the legacy sketch's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provlab.protocol import console as proto
from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.states import EdgentState

if TYPE_CHECKING:
    from provlab.devices.board import EmulatedBoard

NL = "\r\n"
MAX_LINE = 256


class EdgentConsole:
    """`BlynkConsole` bound to one board."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self._line = bytearray()

    def receive(self, data: bytes) -> None:
        for byte in data:
            char = bytes([byte])
            if char in (b"\r", b"\n"):
                line = self._line.decode("utf-8", "replace")
                self._line.clear()
                if line.strip():
                    self.board.write_serial(NL)
                    self.run(line)
                    self.board.write_serial(NL + proto.PROMPT)
                continue
            self.board.serial.write(char)  # echo
            if len(self._line) < MAX_LINE:
                self._line += char

    def print(self, text: str) -> None:
        self.board.write_serial(text + NL)

    def run(self, line: str) -> None:
        args = proto.tokenize_console_line(line)
        if not args:
            return
        command, rest = args[0].lower(), args[1:]
        board = self.board
        if command in ("help", "?"):
            self.print(proto.HELP)
        elif command == "reboot":
            self.print(proto.REBOOT_REPLY)
            board.restart()
        elif command == "config":
            sub = rest[0].lower() if rest else "start"
            if sub == "start":
                board.set_state(EdgentState.WAIT_CONFIG)
            elif sub == "erase":
                board.set_state(EdgentState.RESET_CONFIG)
            else:
                self.print(proto.COMMAND_NOT_FOUND)
        elif command == "devinfo":
            p = board.profile
            self.print(
                proto.render_devinfo(
                    board.ssid, p.template_name, p.template_id, p.firmware_type, p.fw_version
                )
            )
        elif command == "connect":
            self._connect(rest)
        else:
            self.print(proto.COMMAND_NOT_FOUND)

    def _connect(self, args: list[str]) -> None:
        if len(args) < 2:
            self.print(proto.CONNECT_BAD_ARGS)
            return
        token, ssid = args[0], args[1]
        if len(token) != 32:
            self.print(proto.CONNECT_BAD_TOKEN)
            return
        board = self.board
        config = ConfigBlob.defaults(board.profile.fw_version)
        config.cloud_token, config.wifi_ssid = token, ssid
        config.wifi_pass = args[2] if len(args) > 2 else ""
        board.config = config
        self.print(proto.CONNECT_OK)
        board.set_state(EdgentState.SWITCH_TO_STA)

"""The Edgent serial console (spec §5.5): echo, line discipline, and the legacy sketch's commands."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from provlab.emulator.family import Feature
from provlab.emulator.settings import CONSOLE_REBOOT_DELAY_S, ROLLBACK_REBOOT_DELAY_S
from provlab.emulator.transitions import Trigger
from provlab.protocol import choices
from provlab.protocol import console as proto
from provlab.protocol.config_blob import ConfigBlob

if TYPE_CHECKING:
    from provlab.emulator.defects import Behaviour
    from provlab.emulator.profile import FirmwareProfile
    from provlab.wifi.backend import Link

CRLF = "\r\n"  # println
LF = proto.REPLY_END  # the sketch's printf("…\n") replies
MAX_PENDING = 4096  # bytes kept of a line that never ends (the firmware refills its 256-byte buffer)


class ConsoleFirmware(Protocol):
    """Everything the console may read of, or ask of, the firmware it runs in (all reads are read-only)."""

    @property
    def powered(self) -> bool: ...
    @property
    def profile(self) -> FirmwareProfile: ...
    @property
    def behaviour(self) -> Behaviour: ...
    @property
    def ssid(self) -> str: ...
    @property
    def mac_text(self) -> str: ...
    @property
    def sta_link(self) -> Link | None: ...

    def write_uart(self, data: bytes) -> None: ...
    def write_serial(self, text: str) -> None: ...
    def rssi_of(self, bssid: str) -> int: ...
    def rollback_app(self) -> bool: ...
    async def scan_rows(self) -> list[str]: ...
    def firmware_info_lines(self) -> list[str]: ...
    def status_lines(self) -> list[str]: ...

    def request_restart(self, trigger: Trigger, after_s: float | None = None) -> None: ...
    def enter_config_mode(self, trigger: Trigger) -> None: ...
    def erase_config(self, trigger: Trigger) -> None: ...
    def apply_config(self, config: ConfigBlob, *, save: bool = False) -> None: ...
    def switch_to_sta(self, trigger: Trigger) -> None: ...


class EdgentConsole:
    """`BlynkConsole` with the commands of `Edgent_ESP32/Console.h`, bound to one board's firmware.

    Typed characters are echoed at once; complete lines run one after another (a command such as
    `wifi scan` waits for the radio), each followed by the prompt.
    """

    def __init__(self, firmware: ConsoleFirmware) -> None:
        self.firmware = firmware
        self._line = bytearray()
        self._queue: deque[tuple[list[str], bool]] = deque()
        self._runner: asyncio.Task[None] | None = None
        self._restarting = False

    def reboot(self) -> None:
        """The MCU restarted: the line buffer and the queued lines are gone."""
        self._line.clear()
        self._queue.clear()
        self._restarting = False

    # --- line discipline ----------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Bytes typed on the UART: echoed, collected, and run at CR or LF."""
        if not self.firmware.powered:
            return
        echo = bytearray()
        for byte in data:
            if byte in (0x0D, 0x0A):
                line = self._line.decode("utf-8", "replace")
                words = proto.tokenize_console_line(line)
                if words:
                    self._line.clear()
                    self._queue.append((words, True))
                elif len(self._line) < MAX_PENDING:
                    # a line with no word is SKIPPED without clearing the buffer (audit #29): it and its
                    # terminator stay there and count toward the 255-character wrap
                    self._line.append(byte)
                continue
            echo.append(byte)
            if len(self._line) < MAX_PENDING:
                self._line.append(byte)
        if echo:
            self.firmware.write_uart(bytes(echo))
        self._kick()

    def run_remote(self, line: str) -> None:
        """INTERNAL `dbg`: the cloud runs a line (`runCommand`); output goes to the serial port."""
        words = proto.tokenize_console_line(line, remote=True)
        if words:
            self._queue.append((words, False))
            self._kick()

    def _kick(self) -> None:
        if self._queue and (self._runner is None or self._runner.done()):
            self._runner = asyncio.get_running_loop().create_task(self._run_queue())

    async def _run_queue(self) -> None:
        while self._queue and self.firmware.powered and not self._restarting:
            words, typed = self._queue.popleft()
            self.firmware.write_serial(CRLF)  # `runCommand()` starts with a CRLF, typed or remote
            found = await self.execute(words)
            if not typed or self._restarting:
                continue  # remote (`dbg`): no NOT_FOUND text, no prompt; `reboot` never returns
            if not found:
                self._print(proto.COMMAND_NOT_FOUND, CRLF)
            self.firmware.write_serial(proto.PROMPT)

    def _print(self, text: str, end: str = LF) -> None:
        self.firmware.write_serial(text + end)

    # --- commands -----------------------------------------------------------------------------------
    async def execute(self, words: list[str]) -> bool:
        """Run one command; False when there is none of that name (`NOT_FOUND`, printed by the caller)."""
        command, args = self.firmware.behaviour.console_command_name(words[0]), words[1:]
        handler = _COMMANDS.get(command)
        if handler is None or command not in self.commands:
            return False
        await handler(self, args)
        return True

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands the board family's sketch registers, in order (ESP32's unless the family says)."""
        return self.firmware.profile.family.console_commands or proto.EDGENT_COMMANDS

    async def _help(self, args: list[str]) -> None:
        self._print(proto.render_help(self.commands), CRLF)

    async def _reboot(self, args: list[str]) -> None:
        self._print(proto.REBOOT_REPLY)
        self._restarting = True  # `delay(100); restartMCU()` inside the handler: nothing after it runs
        self.firmware.request_restart(Trigger.CONSOLE_REBOOT, after_s=CONSOLE_REBOOT_DELAY_S)

    async def _config(self, args: list[str]) -> None:
        sub = args[0] if args else self.firmware.behaviour.console_config_default()
        if sub == "start":
            self.firmware.enter_config_mode(Trigger.CONSOLE_CONFIG)
        elif sub == "erase":
            self.firmware.erase_config(Trigger.CONSOLE_CONFIG_ERASE)

    async def _devinfo(self, args: list[str]) -> None:
        firmware, p = self.firmware, self.firmware.profile
        self._print(proto.render_devinfo(firmware.ssid, p.template_name, p.template_id, p.firmware_type, p.fw_version))

    async def _connect(self, args: list[str]) -> None:
        reply = proto.connect_reply(args)
        if reply == proto.CONNECT_BAD_TOKEN and not self.firmware.behaviour.console_checks_token_size():
            reply = proto.CONNECT_OK
        self._print(reply)
        if reply != proto.CONNECT_OK:
            return
        firmware = self.firmware
        config = ConfigBlob.defaults(firmware.profile.fw_version)
        # `CopyString` into the config's char arrays (audit #22): at most 33 / 33 / 63 bytes
        config.cloud_token, config.wifi_ssid = _c_copy(args[0], 34), _c_copy(args[1], 34)
        config.wifi_pass = _c_copy(args[2], 64) if len(args) > 2 else ""
        firmware.apply_config(config, save=firmware.behaviour.console_connect_saves())
        firmware.switch_to_sta(Trigger.CONSOLE_CONNECT)

    async def _wifi(self, args: list[str]) -> None:
        sub = args[0] if args else "show"
        firmware = self.firmware
        if sub == "show":
            link = firmware.sta_link
            if link is None:
                # not joined: `WiFi.BSSIDstr()` is "" and `WiFi.RSSI()` 0
                self._print(proto.render_wifi_show(firmware.mac_text, "0.0.0.0", "", "", 0))
            else:
                rssi = firmware.rssi_of(link.bssid)
                self._print(proto.render_wifi_show(firmware.mac_text, link.ip, link.ssid, link.bssid, rssi))
        elif sub == "scan":
            for row in await firmware.scan_rows():
                self._print(row)

    async def _firmware(self, args: list[str]) -> None:
        sub = args[0] if args else "info"
        if sub == "info":
            for line in self.firmware.firmware_info_lines():
                self._print(line)
        elif sub == "rollback" and Feature.FIRMWARE_ROLLBACK in self.firmware.profile.family.features:
            if self.firmware.rollback_app():  # `Update.rollBack()` works once an update left the old image
                self._print(proto.ROLLBACK_OK)
                self._restarting = True
                self.firmware.request_restart(Trigger.CONSOLE_REBOOT, after_s=ROLLBACK_REBOOT_DELAY_S)
            else:
                self._print(proto.ROLLBACK_ERROR)

    async def _status(self, args: list[str]) -> None:
        for line in self.firmware.status_lines():
            self._print(line)


def _c_copy(text: str, size: int) -> str:
    """`CopyString(text, char[size])`: at most size-1 bytes; a split UTF-8 character as the choice says."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) < size:
        return text
    errors = "ignore" if choices.CONFIG_TRUNCATION_DROPS_PARTIAL_UTF8 else "surrogateescape"
    return raw[: size - 1].decode("utf-8", errors)


Command = Callable[[EdgentConsole, list[str]], Awaitable[None]]
_COMMANDS: dict[str, Command] = {
    "help": EdgentConsole._help,
    "?": EdgentConsole._help,
    "reboot": EdgentConsole._reboot,
    "config": EdgentConsole._config,
    "devinfo": EdgentConsole._devinfo,
    "connect": EdgentConsole._connect,
    "wifi": EdgentConsole._wifi,
    "firmware": EdgentConsole._firmware,
    "status": EdgentConsole._status,
}

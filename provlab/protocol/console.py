"""The legacy Edgent serial console: BlynkConsole's line rules and the commands' exact replies (spec §5.5).

Exchange on the wire for a typed line (sources `src/Blynk/BlynkConsole.h`, `Edgent_ESP32/Console.h`): every
character is echoed except the CR/LF that ends the line; a line with no word is dropped silently (no prompt);
otherwise the console prints CRLF, then the command's output, then the prompt `>`; an unknown command prints
`Command not found.` CRLF before the prompt. The JSON replies below are printed followed by a bare LF; the
constants hold them without it. `printf`-style replies are cut to 255 bytes (a 256-byte `vsnprintf` buffer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PROMPT = ">"
BOOT_PROMPT = "\n>"
"""What `console_init()` prints at boot, right after the banner."""

COMMAND_NOT_FOUND = "Command not found."
REPLY_END = "\n"
"""Ends every JSON reply of the Edgent commands (`print(R"json(…)json" "\\n")`)."""

REBOOT_REPLY = '{"status":"OK","msg":"rebooting wifi module"}'
CONNECT_BAD_ARGS = '{"status":"error","msg":"invalid arguments. expected: <auth> <ssid> <pass>"}'
CONNECT_BAD_TOKEN = '{"status":"error","msg":"invalid token size"}'
CONNECT_OK = '{"status":"OK","msg":"trying to connect..."}'
ROLLBACK_OK = '{"status":"ok"}'
ROLLBACK_ERROR = '{"status":"error"}'

EDGENT_COMMANDS: tuple[str, ...] = (
    "help",
    "?",
    "reboot",
    "config",
    "devinfo",
    "connect",
    "wifi",
    "firmware",
    "status",
)
"""Registration order in the ESP32/ESP8266 sketch without a file system (`help`, `?` are BlynkConsole's)."""

FS_COMMANDS: tuple[str, ...] = ("ls", "rm", "mv", "cat", "echo")
"""Added after EDGENT_COMMANDS when the sketch is built with `BLYNK_USE_LITTLEFS` / `BLYNK_USE_SPIFFS`."""

INPUT_BUFFER = 256
"""`BLYNK_CONSOLE_INPUT_BUFFER`: a line holds at most 255 characters."""

ARGV_SLOTS = 16
"""`char* argv[16]` in `runCommandInBuff`; `split_argv` keeps one slot free, so at most 15 words."""

MAX_WORDS = ARGV_SLOTS - 1
PRINTF_LIMIT = 255
"""Bytes `BlynkConsole::printf` can print per call (256-byte buffer with its NUL)."""

TOKEN_LENGTH = 32


def render_help(commands: tuple[str, ...] = EDGENT_COMMANDS) -> str:
    """The `help` / `?` output (without the CRLF `println` adds)."""
    return "Available commands: " + ", ".join(commands)


HELP = render_help()


def render_response(output: str | None) -> str:
    """What the console prints after the echoed line: CRLF, the output (None: unknown command), the prompt."""
    body = COMMAND_NOT_FOUND + "\r\n" if output is None else output
    return "\r\n" + body + PROMPT


def clip_printf(text: str) -> str:
    """`text` as one `BlynkConsole::printf` call prints it: at most 255 bytes."""
    raw = text.encode("utf-8")
    if len(raw) <= PRINTF_LIMIT:
        return text
    return raw[:PRINTF_LIMIT].decode("utf-8", errors="ignore")


def render_devinfo(name: str, board: str, tmpl_id: str, fw_type: str, fw_ver: str) -> str:
    """The `devinfo` JSON (no escaping, like the firmware's `printf`), without its trailing LF."""
    return f'{{"name":"{name}","board":"{board}","tmpl_id":"{tmpl_id}","fw_type":"{fw_type}","fw_ver":"{fw_ver}"}}'


def connect_reply(args: list[str]) -> str:
    """The reply of `connect <auth> <ssid> [pass]` to its arguments (the words after `connect`)."""
    if len(args) < 2:
        return CONNECT_BAD_ARGS
    if len(args[0]) != TOKEN_LENGTH:
        return CONNECT_BAD_TOKEN
    return CONNECT_OK


def render_wifi_show(mac: str, ip: str, ssid: str, bssid: str, rssi: int) -> str:
    """`wifi` / `wifi show`: `mac:<MAC> ip:<ip> (<ssid> [<bssid>] <rssi>dBm)`, without its trailing LF."""
    return f"mac:{mac} ip:{ip} ({ssid} [{bssid}] {rssi}dBm)"


@dataclass(frozen=True)
class WifiShow:
    """The `wifi show` reply: the station MAC, its IP (`0.0.0.0` off Wi-Fi) and the network it is on."""

    mac: str
    ip: str
    ssid: str


_WIFI_SHOW = re.compile(r"mac:(?P<mac>\S+) ip:(?P<ip>\S+) \((?P<ssid>.*) \[")


def parse_wifi_show(text: str) -> WifiShow:
    """The first `mac:<MAC> ip:<ip> (<ssid> [` line of `text`; `ConsoleReplyError` when there is none."""
    found = _WIFI_SHOW.search(text)
    if found is None:
        raise ConsoleReplyError(f"not a `wifi show` reply (mac:<MAC> ip:<ip> (<ssid> [<bssid>] <rssi>dBm)): {text!r}")
    return WifiShow(found["mac"], found["ip"], found["ssid"])


def render_wifi_scan_row(current: bool, ssid: str, bssid: str, security: str, channel: int, rssi: int) -> str:
    """One `wifi scan` row: `<*| > <ssid> [<bssid>] <sec> ch:<n> rssi:<n>`, without its trailing LF."""
    return f"{'*' if current else ' '} {ssid} [{bssid}] {security} ch:{channel} rssi:{rssi}"


# ------------------------------------------------------------------------------------------------------------
# Line discipline


def _strtol16(digits: str) -> int:
    """`strtol(digits, NULL, 16)` for the (at most two) characters after `\\x`."""
    match = re.match(r"\s*([-+]?)([0-9A-Fa-f]*)", digits)
    assert match is not None  # the pattern matches any string
    value = int(match[2], 16) if match[2] else 0
    return -value if match[1] == "-" else value


def unescape(word: str) -> str:
    """BlynkConsole `unescape`: `\\0 \\b \\n \\r \\t \\xHH`, and `\\<c>` -> `<c>` (so `\\\\` -> `\\`).

    `\\xHH` always consumes two characters and keeps the low byte of what `strtol` makes of them. The C
    handlers see a `\\0` as the end of the argument; here it stays in the string.
    """
    simple = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t"}
    out: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        escaped = word[i + 1 : i + 2]
        if escaped == "x":
            out.append(chr(_strtol16(word[i + 2 : i + 4]) & 0xFF))
            i += 4
        else:
            out.append(simple.get(escaped, escaped or "\0"))
            i += 2
    return "".join(out)


def split_argv(text: str) -> list[str]:
    """BlynkConsole `split_argv`: words separated by space, tab, CR or LF, each unescaped; at most 15 words
    (further words are dropped)."""
    words = [word for word in re.split(r"[ \t\r\n]+", text) if word]
    return [unescape(word) for word in words[:MAX_WORDS]]


def tokenize_console_line(line: str, *, remote: bool = False) -> list[str]:
    """The words a console line runs as; `[]` means the line is ignored (no output, no prompt).

    Serial typing (default) refills the 256-byte buffer: each time 255 characters are held it is cleared, so
    of an over-long line only the characters after the last multiple of 255 survive. `remote=True` is the
    cloud's `dbg` path (`runCommand`), which keeps the first 255 characters instead.
    """
    limit = INPUT_BUFFER - 1
    # Serial: the terminator is stored too, so a line of exactly 255 characters is cleared when it arrives.
    kept = line[:limit] if remote else line[(len(line) // limit) * limit :]
    return split_argv(kept)


def command_matches(word: str, command: str) -> bool:
    """Commands match the first word case-insensitively and in full (`strncasecmp` over `len+1`)."""
    return word.lower() == command.lower()


# ------------------------------------------------------------------------------------------------------------
# Replies, as the lab's driver reads them


class ConsoleReplyError(ValueError):
    """Console output is not the reply that was expected."""


@dataclass(frozen=True)
class DevInfo:
    """The `devinfo` reply."""

    name: str
    """The soft-AP SSID (`getWiFiName()`)."""
    board: str
    """`BLYNK_TEMPLATE_NAME`."""
    tmpl_id: str
    fw_type: str
    fw_ver: str


@dataclass(frozen=True)
class StatusReply:
    """A `{"status":…,"msg":…}` reply (`reboot`, `connect`, `firmware rollback`)."""

    status: str
    msg: str | None

    @property
    def ok(self) -> bool:
        """The firmware writes both `OK` and `ok`."""
        return self.status.lower() == "ok"


_DEVINFO_FIXED = re.compile(r'\{"name":"(.*?)","board":"(.*?)","tmpl_id":"(.*?)","fw_type":"(.*?)","fw_ver":"(.*?)"\}')
_DEVINFO_KEYS = ("name", "board", "tmpl_id", "fw_type", "fw_ver")


def _json_object(text: str) -> dict[str, object] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_devinfo(text: str) -> DevInfo:
    """The `devinfo` reply found in `text` (echo, CRLF and prompt around it are fine).

    Reads proper JSON first, then the firmware's fixed key order, which survives unescaped quotes in values.
    """
    obj = _json_object(text)
    if obj is not None and all(isinstance(obj.get(key), str) for key in _DEVINFO_KEYS):
        return DevInfo(*(str(obj[key]) for key in _DEVINFO_KEYS))
    fixed = _DEVINFO_FIXED.search(text)
    if fixed:
        return DevInfo(*fixed.groups())
    raise ConsoleReplyError(f'expected a devinfo reply {{"name":…,"board":…,…}}, got {text!r}')


def parse_status_reply(text: str) -> StatusReply:
    """The `{"status":…,"msg":…}` reply found in `text`."""
    obj = _json_object(text)
    if obj is None or not isinstance(obj.get("status"), str):
        raise ConsoleReplyError(f'expected a {{"status":…}} reply, got {text!r}')
    msg = obj.get("msg")
    return StatusReply(status=str(obj["status"]), msg=msg if isinstance(msg, str) else None)

"""The serial output of Edgent boards: line splitting, line prefixes, typed log events and secret masking.

Grammar from spec §5.1 (`[<millis>] <text>\\r\\n`), §5.3 (Edgent lines), §5.4 (Blynk library lines), plus what
real pasted logs contain (shared/data/edgent-logs/README.md): serial-monitor stamps, stray bytes before the
bracket, ESP-IDF and arduino-esp32 core lines, ROM boot text, crash dumps and forum damage.

`parse_event` is stateless: it looks at one line. Decisions worth knowing:

* An event's `line` is kept for evidence but ignored by `==`, so `StateChange(INIT, WAIT_CONFIG)` compares
  equal to the parsed event whatever line it came from.
* Payloads come from the line with trailing whitespace removed (pastes add it; the firmware never prints it).
* An ESP32 reboot yields two `RomBoot` events (the `ets …` line and the `rst:0x…` line), an ESP8266 one.
* A state line whose names are not legacy states (Edgent-2's `IDLE`) yields no event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from provlab.protocol.ncp import EDGENT_STATE, STATE_BY_TEXT, BlynkState
from provlab.protocol.states import EdgentState

# ------------------------------------------------------------------------------------------------------------
# Lines


@dataclass(frozen=True, slots=True)
class LogLine:
    """One serial line, split into the prefixes real logs carry and the text the firmware printed."""

    raw: str
    """The line without its terminator."""
    text: str
    """What follows the `[millis] ` prefix (and any serial-monitor stamp); the whole line without one."""
    millis: int | None
    """The Blynk `[millis]` stamp; None for lines without one (banner, ROM text, ESP-IDF `E (123)` lines)."""
    host_stamp: str | None
    """A serial monitor's `HH:MM:SS.mmm -> ` (Arduino IDE) or `HH:MM:SS.mmm > ` (PlatformIO) prefix, without the
    arrow."""


NO_LINE = LogLine(raw="", text="", millis=None, host_stamp=None)
"""The `line` of an event built by hand (an expectation) rather than parsed."""

# Arduino IDE's `HH:MM:SS.mmm -> `, PlatformIO's `time` filter `HH:MM:SS.mmm > `
_HOST_STAMP = re.compile(r"(\d{1,2}:\d{2}:\d{2}\.\d{3}) ?-?>(?: |$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Up to 16 stray non-alphanumeric characters (`+`, the console prompt `>`, boot garbage, a pasted bullet),
# then `[digits]` followed by a space, the end, or an arduino-esp32 / Edgent-2 `[L]` level tag.
_MILLIS = re.compile(r"[^A-Za-z0-9\[\]]{0,16}\[ *(\d{1,10})\](?: |$|(?=\[[VDIWE]\]))")


def parse_line(raw: str) -> LogLine:
    """Split one line (terminator already removed; a stray trailing CR/LF is dropped) into its parts."""
    line = raw.rstrip("\r\n")
    rest = line
    host_stamp: str | None = None
    stamp = _HOST_STAMP.match(rest)
    if stamp:
        host_stamp = stamp.group(1)
        rest = rest[stamp.end() :]
    rest = _ANSI.sub("", rest)
    millis_match = _MILLIS.match(rest)
    if millis_match:
        return LogLine(
            raw=line,
            text=rest[millis_match.end() :],
            millis=int(millis_match.group(1)),
            host_stamp=host_stamp,
        )
    return LogLine(raw=line, text=rest, millis=None, host_stamp=host_stamp)


def format_log_line(millis: int, text: str) -> bytes:
    """What `BLYNK_LOG` prints: `[<millis>] <text>\\r\\n`; millis wraps at 2**32 like the firmware's."""
    if millis < 0:
        raise ValueError(f"millis counts up from boot, got {millis}")
    return f"[{millis % 2**32}] {text}\r\n".encode()


def render_state_change(old: EdgentState, new: EdgentState) -> str:
    """The text `BlynkState::set` logs, e.g. `INIT => WAIT_CONFIG`."""
    return f"{old.value} => {new.value}"


_EOL = re.compile(rb"\r\n|\r|\n")

TRUNCATED_MARK = " [line truncated]"
"""Appended to each piece of an over-long line except its last."""


class LineSplitter:
    """Incremental bytes -> lines: CRLF, LF or a lone CR end a line; UTF-8 with replacement for garbage.

    A CR at the end of one `feed` and an LF at the start of the next are one terminator. A line longer than
    `max_line` bytes is emitted in pieces of at most `max_line` bytes (never splitting a UTF-8 sequence that
    fits), each but the last ending with TRUNCATED_MARK; `overflowed_lines` counts such lines.
    """

    def __init__(self, max_line: int = 64 * 1024) -> None:
        if max_line < 4:
            raise ValueError(f"max_line must be at least 4 bytes, got {max_line}")
        self.max_line = max_line
        self.overflowed_lines = 0
        self._buf = bytearray()
        self._skip_lf = False
        self._overflowing = False

    def feed(self, data: bytes) -> list[str]:
        """Lines completed by `data`, in order."""
        if not data:
            return []
        out: list[str] = []
        start = 0
        if self._skip_lf and data[:1] == b"\n":
            start = 1
        self._skip_lf = False
        for eol in _EOL.finditer(data, start):
            self._append(data[start : eol.start()], out)
            out.append(self._take())
            start = eol.end()
            if eol.group() == b"\r" and start == len(data):
                self._skip_lf = True
        self._append(data[start:], out)
        return out

    def flush(self) -> str | None:
        """The unterminated tail (end of stream), or None when there is none."""
        self._skip_lf = False
        if not self._buf:
            return None
        return self._take()

    def _append(self, chunk: bytes, out: list[str]) -> None:
        self._buf += chunk
        start = 0
        while len(self._buf) - start > self.max_line:
            cut = self._cut_point(start)
            if not self._overflowing:
                self._overflowing = True
                self.overflowed_lines += 1
            out.append(self._buf[start:cut].decode("utf-8", errors="replace") + TRUNCATED_MARK)
            start = cut
        if start:
            del self._buf[:start]

    def _cut_point(self, start: int) -> int:
        cut = start + self.max_line
        # Step back over UTF-8 continuation bytes (at most 3) so a character is not split.
        for back in range(4):
            if cut - back > start and self._buf[cut - back] & 0xC0 != 0x80:
                return cut - back
        return cut

    def _take(self) -> str:
        text = self._buf.decode("utf-8", errors="replace")
        self._buf.clear()
        self._overflowing = False
        return text


def split_lines(text: str) -> list[str]:
    """Split decoded text like LineSplitter does (CRLF, LF, lone CR); no empty tail after a final EOL."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ------------------------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class LogEvent:
    """Something a log line says happened. `line` is evidence, not identity (excluded from `==`)."""

    line: LogLine = field(default=NO_LINE, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class StateChange(LogEvent):
    """`OLD => NEW` (also `State: …`, `State transition: …` and Edgent-2's spaced names).

    `printed` is the pair of names as the firmware printed them when a log format mapped a name the legacy
    machine does not have (ESP-IDF Edgent's `IDLE`, see `log_formats`); None when the names are the states'.
    """

    old: EdgentState
    new: EdgentState
    printed: tuple[str, str] | None = field(default=None, compare=False, kw_only=True)


@dataclass(frozen=True)
class NcpState(LogEvent):
    """`State: Configuration`: a Blynk.NCP host sketch reporting its NCP's state (`provlab.protocol.ncp`).

    The line names only the new state; a reader that knows the previous one (the line stream) turns it into a
    `StateChange` when `edgent` is not None."""

    state: BlynkState
    edgent: EdgentState | None


@dataclass(frozen=True)
class Ready(LogEvent):
    """`Ready (ping: 12ms).`: logged in to the cloud."""

    ping_ms: int


@dataclass(frozen=True)
class InvalidToken(LogEvent):
    """`Invalid auth token`: the server answered the login with status 9."""


@dataclass(frozen=True)
class LastError(LogEvent):
    """`Last error code: 701`: a provisioning error was stored (spec §3.3)."""

    code: int


@dataclass(frozen=True)
class ConnectFailed(LogEvent):
    """`Connect failed. code: <status>`: the login was answered with another status."""

    code: int


@dataclass(frozen=True)
class LoginTimeout(LogEvent):
    """`Login timeout`."""


@dataclass(frozen=True)
class HeartbeatTimeout(LogEvent):
    """`Heartbeat timeout` (also the BLYNK_DEBUG form with numbers)."""


@dataclass(frozen=True)
class Disconnected(LogEvent):
    """`Disconnected`."""


@dataclass(frozen=True)
class Redirecting(LogEvent):
    """`Redirecting to <host>:<port>`."""

    host: str
    port: int


@dataclass(frozen=True)
class ConnectingTo(LogEvent):
    """`Connecting to <host>:<port>` (library, ESP8266 OTA) or `Connecting to a.b.c.d`."""

    host: str
    port: int | None


@dataclass(frozen=True)
class RestartingAfterError(LogEvent):
    """`Restarting after error.`: ERROR's 10 s are over, the board reboots."""


@dataclass(frozen=True)
class ConfigStored(LogEvent):
    """`Configuration stored to flash`."""


@dataclass(frozen=True)
class ConfigWriteFailed(LogEvent):
    """`Config write failed`."""


@dataclass(frozen=True)
class ConfigDefault(LogEvent):
    """`Using default config.`: the stored blob failed the magic check."""


@dataclass(frozen=True)
class ConfigReadFailed(LogEvent):
    """`Config read failed`."""


@dataclass(frozen=True)
class ResettingConfig(LogEvent):
    """`Resetting configuration!`."""


@dataclass(frozen=True)
class ButtonHoldHint(LogEvent):
    """`Hold the button for 10 seconds to reset configuration...` (older: `Hold the button to reset …`)."""


@dataclass(frozen=True)
class ApplyingConfig(LogEvent):
    """`Applying configuration...`: `/config` arrived."""


@dataclass(frozen=True)
class WifiCredentials(LogEvent):
    """`WiFi SSID: <ssid> Pass: <pass>` (split at the first ` Pass: `)."""

    ssid: str
    password: str


@dataclass(frozen=True)
class CloudTarget(LogEvent):
    """`Blynk cloud: <token> @ <host>:<port>`; the port is printed raw, read here like `String::toInt()`."""

    token: str
    host: str
    port: int


@dataclass(frozen=True)
class ConfigInvalid(LogEvent):
    """`Configuration invalid`: `/config` was refused (500)."""


@dataclass(frozen=True)
class InvalidTemplateConfig(LogEvent):
    """`Invalid configuration of TEMPLATE_ID / TEMPLATE_NAME`: the board hangs."""


@dataclass(frozen=True)
class Preprovisioned(LogEvent):
    """`Firmware is preprovisioned`: a patched `blnkopt` tag supplied the config."""


@dataclass(frozen=True)
class SendingBoardInfo(LogEvent):
    """`Sending board info...`: `/board_info.json` was served."""


@dataclass(frozen=True)
class ScanningNetworks(LogEvent):
    """`Scanning networks...`: `/wifi_scan.json` was requested."""


@dataclass(frozen=True)
class FoundNetworks(LogEvent):
    """`Found networks: <n>`."""

    count: int


@dataclass(frozen=True)
class ApUrl(LogEvent):
    """`AP URL:  blynk.setup` (one or two spaces; Edgent-2 `WiFi AP config page: …`)."""

    url: str


@dataclass(frozen=True)
class ApSsid(LogEvent):
    """`AP SSID: <ssid>` (firmware ≤ v1.1.x)."""

    ssid: str


@dataclass(frozen=True)
class ApIp(LogEvent):
    """`AP IP:   192.168.4.1` (firmware ≤ v1.1.x)."""

    ip: str


@dataclass(frozen=True)
class SwitchingToSta(LogEvent):
    """`Switching to STA...`: the soft-AP is about to go away."""


@dataclass(frozen=True)
class ConnectingWifi(LogEvent):
    """`Connecting to WiFi: <ssid>`."""

    ssid: str


@dataclass(frozen=True)
class GotIp(LogEvent):
    """`Using Dynamic IP: a.b.c.d` / `Using Static IP: a.b.c.d`."""

    ip: str
    static: bool


@dataclass(frozen=True)
class StaticIpFailed(LogEvent):
    """`Failed to configure Static IP`."""


@dataclass(frozen=True)
class Timeout(LogEvent):
    """`Timeout` (cloud connect window over; also an ESP8266 OTA failure)."""


@dataclass(frozen=True)
class OtaUrl(LogEvent):
    """`Firmware update URL: <url>` (ESP32) / `OTA: <url>` (ESP8266)."""

    url: str


@dataclass(frozen=True)
class OtaSuccess(LogEvent):
    """`=== Update successfully completed. Rebooting.` (also `/update`'s `Update Success. Rebooting`)."""


@dataclass(frozen=True)
class OtaFailed(LogEvent):
    """`Update failed.` or `Error #<n>` of the ESP32 OTA."""

    detail: str


@dataclass(frozen=True)
class ServerMessage(LogEvent):
    """`Server: <text>` (command 55 from the cloud)."""

    text: str


@dataclass(frozen=True)
class LibraryBanner(LogEvent):
    """The logo's `/___/ v1.4.0 on ESP32` (or `Blynk v1.4.0 on ESP32` without the fancy logo); the platform is
    `BLYNK_INFO_DEVICE` and may have spaces (`Nano 33 IoT`)."""

    version: str
    platform: str


@dataclass(frozen=True)
class DeviceBanner(LogEvent):
    """A `Key:  value` row of the device banner (`Device`, `Firmware`, `Token`, …; old `Hardware v1.0.0`)."""

    field: str
    value: str


@dataclass(frozen=True)
class RomBoot(LogEvent):
    """ESP ROM boot text: `ets Jun  8 2016 …`, `rst:0xc (SW_CPU_RESET),…`, `ESP-ROM:…`, ESP8266's
    ` ets Jan  8 2013,rst cause:2,…`.

    `reset_cause` is what the line says about the reset (`0xc (SW_CPU_RESET)`, ESP8266 `2`), else None.
    """

    reset_cause: str | None


@dataclass(frozen=True)
class CrashMarker(LogEvent):
    """A line that marks a crash: kind `exception` (ESP8266 `Exception (n):`, detail n), `panic` (Guru
    Meditation), `backtrace`, `stack` (`>>>stack>>>`), `abort`, `soft_wdt`, `brownout`."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class PlatformLog(LogEvent):
    """A line of the platform underneath, not of Edgent: kind `idf` (`E (38703) phy_init: …`) or `arduino`
    (`[D][WiFiGeneric.cpp:374] …`, `[  1234][I][file] …`)."""

    kind: str
    level: str
    source: str
    message: str


# ------------------------------------------------------------------------------------------------------------
# Line grammar

_Builder = Callable[[re.Match[str], LogLine], LogEvent]

_IDF_LINE = re.compile(r"([EWIDV]) \((\d+)\) ([^:]+?): ?(.*)")
_CORE_LINE = re.compile(r"\[([EWIDV])\]\[([^\]]*)\] ?(.*)")
_CORE_FUNCTION = re.compile(r"[\w:~]+\(\): ?")
_BULLETS = re.compile(r"(?:[•·◦▪‣⁃*]+|[-–—](?=\s))\s*")
_STATE_INTRO = re.compile(r"state(?: transition)?:\s*", re.IGNORECASE)
_WORD_EDGES = "*•·.,;:!?()[]{}<>\"'`"


def _to_int(text: str) -> int:
    """`String::toInt()` (atol): optional sign and leading digits, 0 when there are none."""
    match = re.match(r"\s*([-+]?\d+)", text)
    return int(match.group(1)) if match else 0


def _rule(pattern: str, build: _Builder) -> tuple[re.Pattern[str], _Builder]:
    return re.compile(pattern), build


_BANNER_KEYS = (
    "Device|Firmware|Token|Platform|Chip rev|SDK|Flash|Free mem|Boot ver|Boot mode|ESP core|ESP SDK|Product|"
    "Hardware|MAC|FW info"
)

# Tried in order against the message (anchored at its start); first match wins.
_RULES: tuple[tuple[re.Pattern[str], _Builder], ...] = (
    _rule(r"Ready \(ping: (\d+) ?ms\)", lambda m, ln: Ready(int(m[1]), line=ln)),
    _rule(
        rf"State: ({'|'.join(STATE_BY_TEXT)})$",
        lambda m, ln: NcpState(STATE_BY_TEXT[m[1]], EDGENT_STATE.get(STATE_BY_TEXT[m[1]]), line=ln),
    ),
    _rule(r"Invalid (?:auth )?token$", lambda m, ln: InvalidToken(line=ln)),
    _rule(r"Connect failed\. code: (-?\d+)", lambda m, ln: ConnectFailed(int(m[1]), line=ln)),
    _rule(r"Login timeout\b", lambda m, ln: LoginTimeout(line=ln)),
    _rule(r"Heartbeat timeout\b", lambda m, ln: HeartbeatTimeout(line=ln)),
    _rule(r"Disconnected\b", lambda m, ln: Disconnected(line=ln)),
    _rule(r"Redirecting to ([^\s:]+):(\d+)", lambda m, ln: Redirecting(m[1], int(m[2]), line=ln)),
    _rule(r"Connecting to WiFi: ?(.*)", lambda m, ln: ConnectingWifi(m[1], line=ln)),
    _rule(
        r"Connecting to ([^\s:]+)(?::(\d+))?$",
        lambda m, ln: ConnectingTo(m[1], int(m[2]) if m[2] else None, line=ln),
    ),
    _rule(r"Restarting after error\b", lambda m, ln: RestartingAfterError(line=ln)),
    _rule(r"Configuration stored to flash\b", lambda m, ln: ConfigStored(line=ln)),
    _rule(r"Config write failed\b", lambda m, ln: ConfigWriteFailed(line=ln)),
    _rule(r"Using default config\b", lambda m, ln: ConfigDefault(line=ln)),
    _rule(r"Config read failed\b", lambda m, ln: ConfigReadFailed(line=ln)),
    _rule(r"Resetting configuration\b", lambda m, ln: ResettingConfig(line=ln)),
    _rule(r"Hold the button\b.*\breset configuration", lambda m, ln: ButtonHoldHint(line=ln)),
    _rule(r"Applying configuration\b", lambda m, ln: ApplyingConfig(line=ln)),
    _rule(r"WiFi SSID: ?(.*?) Pass: ?(.*)$", lambda m, ln: WifiCredentials(m[1], m[2], line=ln)),
    _rule(
        r"Blynk cloud: ?(.*?) @ (.*):([^:]*)$",
        lambda m, ln: CloudTarget(m[1], m[2], _to_int(m[3]), line=ln),
    ),
    _rule(r"Configuration invalid\b", lambda m, ln: ConfigInvalid(line=ln)),
    _rule(r"Invalid configuration of TEMPLATE_ID\b", lambda m, ln: InvalidTemplateConfig(line=ln)),
    _rule(r"Firmware is preprovisioned\b", lambda m, ln: Preprovisioned(line=ln)),
    _rule(r"Last error code: (-?\d+)", lambda m, ln: LastError(int(m[1]), line=ln)),
    _rule(r"Sending board info\b", lambda m, ln: SendingBoardInfo(line=ln)),
    _rule(r"Scanning networks\b", lambda m, ln: ScanningNetworks(line=ln)),
    _rule(r"Found networks: (-?\d+)", lambda m, ln: FoundNetworks(int(m[1]), line=ln)),
    _rule(r"(?:AP URL|WiFi AP config page): *(\S+)", lambda m, ln: ApUrl(m[1], line=ln)),
    _rule(r"AP SSID: ?(.*)$", lambda m, ln: ApSsid(m[1], line=ln)),
    _rule(r"AP IP: *(\S+)", lambda m, ln: ApIp(m[1], line=ln)),
    _rule(r"Switching to STA\b", lambda m, ln: SwitchingToSta(line=ln)),
    _rule(r"Using (Static|Dynamic) IP: *(\S+)", lambda m, ln: GotIp(m[2], m[1] == "Static", line=ln)),
    _rule(r"Failed to configure Static IP\b", lambda m, ln: StaticIpFailed(line=ln)),
    _rule(r"Timeout\b", lambda m, ln: Timeout(line=ln)),
    _rule(r"(?:Firmware update URL|OTA): *(\S+)", lambda m, ln: OtaUrl(m[1], line=ln)),
    _rule(r"(?:=+ *)?Update (?:successfully completed|Success)\b", lambda m, ln: OtaSuccess(line=ln)),
    _rule(r"(Update failed\.?|Error #-?\d+)", lambda m, ln: OtaFailed(m[1], line=ln)),
    _rule(r"Server: (.*)", lambda m, ln: ServerMessage(m[1], line=ln)),
    _rule(  # the platform may have spaces (`v1.3.0 on Nano 33 IoT`, `on MKR Vidor 4000`)
        r"(?:/_+/|Blynk) +v(\d+\.\d+\.\d+\S*) on (\S.*?)\s*$",
        lambda m, ln: LibraryBanner(m[1], m[2], line=ln),
    ),
    _rule(rf"((?i:{_BANNER_KEYS})) *: *(.*)$", lambda m, ln: DeviceBanner(m[1], m[2], line=ln)),
    _rule(r"(Hardware|Firmware) (v\S+)$", lambda m, ln: DeviceBanner(m[1], m[2], line=ln)),
    _rule(
        r"ets \w{3} +\d{1,2} +\d{4}(?:.*?rst cause:(\d+))?",
        lambda m, ln: RomBoot(m[1], line=ln),
    ),
    _rule(r"rst:(0x[0-9a-fA-F]+(?: \(\w+\))?)", lambda m, ln: RomBoot(m[1], line=ln)),
    _rule(r"ESP-ROM:", lambda m, ln: RomBoot(None, line=ln)),
    _rule(r"Exception \((\d+)\):", lambda m, ln: CrashMarker("exception", m[1], line=ln)),
    _rule(r"Guru Meditation Error: ?(.*)", lambda m, ln: CrashMarker("panic", m[1], line=ln)),
    _rule(r"Backtrace:", lambda m, ln: CrashMarker("backtrace", line=ln)),
    _rule(r">>>stack>>>", lambda m, ln: CrashMarker("stack", line=ln)),
    _rule(r"(?:abort\(\) was called|Abort called)", lambda m, ln: CrashMarker("abort", line=ln)),
    _rule(r"Soft WDT reset", lambda m, ln: CrashMarker("soft_wdt", line=ln)),
    _rule(r"Brownout detector was triggered", lambda m, ln: CrashMarker("brownout", line=ln)),
)


def _normalise(text: str) -> str:
    """Undo forum damage that matters for matching: `…` for `...`, leading bullets, edge whitespace."""
    text = text.replace("…", "...").strip()
    bullets = _BULLETS.match(text)
    return text[bullets.end() :] if bullets else text


def _state_name(words: list[str]) -> EdgentState | None:
    """A state printed as these 1–2 words (upper case, as the firmware prints them), or None."""
    name = " ".join(word.strip(_WORD_EDGES) for word in words)
    if not name or name != name.upper():
        return None
    try:
        return EdgentState.parse(name)
    except ValueError:
        return None


def _state_change(message: str, line: LogLine) -> StateChange | None:
    left, arrow, right = message.partition("=>")
    if not arrow:
        return None
    left = left.strip()
    intro = _STATE_INTRO.match(left)
    old_words = left[intro.end() if intro else 0 :].split()
    if not 1 <= len(old_words) <= 2:
        return None
    old = _state_name(old_words)
    new_words = right.split()
    new = _state_name(new_words[:2]) if len(new_words) >= 2 else None
    new = new or _state_name(new_words[:1])
    if old is None or new is None:
        return None
    return StateChange(old, new, line=line)


def _edgent_event(message: str, line: LogLine) -> LogEvent | None:
    change = _state_change(message, line)
    if change:
        return change
    for pattern, build in _RULES:
        match = pattern.match(message)
        if match:
            return build(match, line)
    return None


def parse_event(line: LogLine) -> LogEvent | None:
    """The event one line states, or None for lines stating none (logo, ROM loader lines, sketch output…)."""
    message = _normalise(line.text)
    platform = _IDF_LINE.fullmatch(message)
    kind = "idf"
    if not platform:
        platform = _CORE_LINE.fullmatch(message)
        kind = "arduino"
    if not platform:
        return _edgent_event(message, line)
    level, source, inner = (
        (platform[1], platform[3], platform[4]) if kind == "idf" else (platform[1], platform[2], platform[3])
    )
    inner = inner.strip()
    function = _CORE_FUNCTION.match(inner)
    event = _edgent_event(inner[function.end() :] if function else inner, line)
    return event or PlatformLog(kind, level, source, inner, line=line)


def iter_events(lines: Iterable[str]) -> Iterator[LogEvent]:
    """Events of raw lines (terminators removed), in order."""
    for raw in lines:
        event = parse_event(parse_line(raw))
        if event is not None:
            yield event


def parse_log(text: str) -> list[LogEvent]:
    """Every event of a whole decoded log."""
    return list(iter_events(split_lines(text)))


# ------------------------------------------------------------------------------------------------------------
# Masking secrets

MASK = "…"
_TOKEN_CHARS = "-_A-Za-z0-9"
_BARE_TOKEN = re.compile(rf"(?<![{_TOKEN_CHARS}])[{_TOKEN_CHARS}]{{32}}(?![{_TOKEN_CHARS}])")
_MD5_LABEL = re.compile(r"MD5: *$", re.IGNORECASE)
_CLOUD_LINE = re.compile(r"(Blynk cloud: ?)(.*?)( @ )")
_WIFI_LINE = re.compile(r"(WiFi SSID: ?.*? Pass: ?)(.*)$")
_CONSOLE_CONNECT = re.compile(r"((?:^|>)\s*connect\s+)(\S+)(\s+\S+)?(?:(\s+)(\S+))?")
_QUERY_TOKEN = re.compile(r"([?&](?:blynk|token|auth)=)([^&\s#]*)")
_QUERY_PASS = re.compile(r"([?&]pass=)([^&\s#]*)")
_JSON_TOKEN = re.compile(r'("(?:blynk|token|auth|cloud_token)"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_JSON_PASS = re.compile(r'("(?:pass|password|wifi_pass)"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def mask_secret(value: str, keep: int = 4) -> str:
    """`value` cut to its first `keep` characters plus `…`; a value not longer than `keep` is masked whole."""
    if not value:
        return value
    if keep <= 0 or len(value) <= keep:
        return MASK
    return value[:keep] + MASK


def _mask_bare_token(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 8) : match.start()]
    return match[0] if _MD5_LABEL.search(before) else mask_secret(match[0])


def _mask_console_connect(match: re.Match[str]) -> str:
    lead, token, ssid, space, password = match.group(1, 2, 3, 4, 5)
    masked = lead + mask_secret(token) + (ssid or "")
    return masked + (space + mask_secret(password, keep=0) if password else "")


def mask_line(text: str) -> str:
    """`text` with auth tokens (first 4 characters kept) and Wi-Fi passwords (nothing kept) masked.

    Covers `Blynk cloud: <token> @`, `WiFi SSID: … Pass: <pass>`, a console `connect <auth> <ssid> <pass>`,
    `blynk=`/`token=`/`auth=`/`pass=` query parameters, the same JSON keys, and any free-standing 32-character
    `[-_A-Za-z0-9]` run (a token) except an MD5 digest labelled `MD5:`.
    """
    text = _CLOUD_LINE.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], text)
    text = _WIFI_LINE.sub(lambda m: m[1] + mask_secret(m[2], keep=0), text)
    text = _CONSOLE_CONNECT.sub(_mask_console_connect, text)
    text = _QUERY_TOKEN.sub(lambda m: m[1] + mask_secret(m[2]), text)
    text = _QUERY_PASS.sub(lambda m: m[1] + mask_secret(m[2], keep=0), text)
    text = _JSON_TOKEN.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], text)
    text = _JSON_PASS.sub(lambda m: m[1] + mask_secret(m[2], keep=0) + m[3], text)
    return _BARE_TOKEN.sub(_mask_bare_token, text)

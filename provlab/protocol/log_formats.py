"""Log-format profiles: how an Edgent firmware family prints its serial log, and reading a whole log line by line.

Two families print differently:

* `arduino`: Arduino Edgent (the legacy sketch in the Blynk library, Edgent-Arduino): `[<millis>] <text>`
  (spec §5.1), read by `serial_log.parse_event`.
* `esp-idf`: Blynk.Edgent for ESP-IDF (`Blynk-Technologies/Edgent-ESP-IDF`, component `blynk/edgent`): ESP-IDF
  log lines `I (771) edgent.c: State: IDLE => CONNECTING_NET`, the state names wrapped in ANSI bold
  (`\\x1b[1m…\\x1b[0m`, which `parse_line` removes). Its states are `IDLE, WAIT_CONFIG, CONNECTING_NET,
  CONNECTING_CLOUD, RUNNING, OTA_UPGRADE, RESET_CONFIG, ERROR` (the library's `edgent_state_name` table);
  `IDLE` has no legacy counterpart and maps to the lab's `INIT` (`choices.IDF_IDLE_STATE`), the printed pair
  stays on the event (`StateChange.printed`). Lines of the component's own sources (`edgent.c`, `nm_wifi.c`,
  `ota.c`, …) are read with its grammar; `nm_wifi.c` logs its own `State: X => Y` (the Wi-Fi manager's states:
  `IDLE, START_DOWN, SCANNING, START_CONNECTING, CONNECTING, CONNECTED`), which is never an Edgent state change.
  Every other line (ROM text, crash dumps, other ESP-IDF components) is read by the Arduino grammar, which knows
  them.
* `auto` reads both, line by line (a line says which family printed it); `detect_format` names the family of a
  whole log.

`LogReader` reads a log and accounts for every line: a state change, a banner line, a known log line, or an
unknown line that is kept (`LineKind`). Nothing is dropped: `read_log(text)` returns one `ReadLine` per line.
It also undoes the forum damage a banner suffers (a quote marker `> `, smart quotes, lost backslashes in the
logo, the version line wrapped after `/___/` or inside the platform).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum

from provlab.protocol import choices
from provlab.protocol.serial_log import (
    ConfigStored,
    ConfigWriteFailed,
    ConnectingWifi,
    DeviceBanner,
    LibraryBanner,
    LogEvent,
    LogLine,
    OtaSuccess,
    OtaUrl,
    PlatformLog,
    StateChange,
    parse_event,
    parse_line,
    split_lines,
)
from provlab.protocol.states import EdgentState

# ------------------------------------------------------------------------------------------------------------
# ESP-IDF Edgent

IDF_LINE = re.compile(r"([EWIDV]) \((\d+)\) ([^:]+?): ?(.*)")
"""An ESP-IDF log line (`esp_log_timestamp()` milliseconds): level, millis, tag, message."""

IDF_EDGENT_SOURCES = frozenset(
    {
        "edgent.c",
        "nm.c",
        "nm_wifi.c",
        "nm_eth.c",
        "ota.c",
        "configstore.c",
        "provisioning.c",
        "provisioning_svr.c",
        "blynk_mqtt_client.c",
        "scli.c",
        "misc.c",
        "utils.c",
        "ethernet_init.c",
    }
)
"""The source files of the ESP-IDF Edgent core library (`lib/edgent_core_*.a` v1.0.0); its log tag is the file's
name (`choices.IDF_TAG_IS_SOURCE_FILE_NAME`)."""

IDF_STATE_NAMES: dict[str, EdgentState] = {
    "IDLE": EdgentState(choices.IDF_IDLE_STATE),
    "WAIT_CONFIG": EdgentState.WAIT_CONFIG,
    "CONNECTING_NET": EdgentState.CONNECTING_NET,
    "CONNECTING_CLOUD": EdgentState.CONNECTING_CLOUD,
    "RUNNING": EdgentState.RUNNING,
    "OTA_UPGRADE": EdgentState.OTA_UPGRADE,
    "RESET_CONFIG": EdgentState.RESET_CONFIG,
    "ERROR": EdgentState.ERROR,
}
"""The names ESP-IDF Edgent prints for its states, and the lab state each one is."""


@dataclass(frozen=True)
class EdgentStarted(LogEvent):
    """ESP-IDF Edgent's `Blynk.Edgent v1.0.0 initialized (device: Blynk Demo-N1A9)` (the README's copy has no
    version); `device` is the soft-AP / BLE name."""

    version: str | None
    device: str


def _idf_tag(tag: str) -> str:
    return tag.rsplit("/", 1)[-1]


_IdfRule = tuple[str, re.Pattern[str], Callable[[re.Match[str], LogLine], LogEvent | None]]


def _idf_state(match: re.Match[str], line: LogLine) -> LogEvent | None:
    old, new = IDF_STATE_NAMES.get(match[1]), IDF_STATE_NAMES.get(match[2])
    if old is None or new is None:
        return None
    printed = (match[1], match[2])
    return StateChange(old, new, printed=None if printed == (old.value, new.value) else printed, line=line)


_IDF_RULES: tuple[_IdfRule, ...] = (
    ("edgent.c", re.compile(r"State: (\S+) => (\S+)$"), _idf_state),
    (
        "edgent.c",
        re.compile(r"Blynk\.Edgent(?: v(\S+))? initialized \(device: (.*)\)$"),
        lambda m, ln: EdgentStarted(m[1], m[2], line=ln),
    ),
    ("edgent.c", re.compile(r"Config saved\b"), lambda m, ln: ConfigStored(line=ln)),
    ("configstore.c", re.compile(r"Config write failed\b"), lambda m, ln: ConfigWriteFailed(line=ln)),
    ("nm_wifi.c", re.compile(r"Connecting to SSID:(.*?) BSSID "), lambda m, ln: ConnectingWifi(m[1], line=ln)),
    ("ota.c", re.compile(r"OTA start -> URL: (\S+)"), lambda m, ln: OtaUrl(m[1], line=ln)),
    ("ota.c", re.compile(r"OTA successful!"), lambda m, ln: OtaSuccess(line=ln)),
)


def idf_edgent_event(line: LogLine) -> LogEvent | None:
    """The event of a line ESP-IDF Edgent's own sources printed; None for any other line.

    A line of an Edgent source that no rule knows is a `PlatformLog` (kind `idf`): known, with no event to act
    on (`nm_wifi.c`'s `State:` lines included).
    """
    match = IDF_LINE.fullmatch(line.text.strip())
    if not match or _idf_tag(match[3]) not in IDF_EDGENT_SOURCES:
        return None
    level, tag, message = match[1], _idf_tag(match[3]), match[4].strip()
    for source, pattern, build in _IDF_RULES:
        if source == tag:
            found = pattern.match(message)
            event = build(found, line) if found else None
            if event is not None:
                return event
    return PlatformLog("idf", level, tag, message, line=line)


# ------------------------------------------------------------------------------------------------------------
# Forum damage of banners

_QUOTE_MARKS = re.compile(r"^(?:>+ )+")
_SMART = str.maketrans({"‘": "'", "’": "'", "´": "'", "“": '"', "”": '"'})
_LOGO_CHARS = frozenset(" _/\\()|',`.")
_WRAPPED_VERSION = re.compile(r"v(\d+\.\d+\.\d+\S*) on (\S.*?)\s*$")
_WRAPPED_PLATFORM = re.compile(r"[A-Za-z0-9][\w.+-]*(?: [\w.+-]+){0,3}")
_SEPARATOR = re.compile(r"-{5,}$")
_STAND_WITH = re.compile(r"#StandWithUkraine\b")


def _undo_forum_damage(line: LogLine) -> LogLine:
    """`line` without a forum's quote markers before an unstamped line. Smart quotes are left alone here (an
    iPhone hotspot's SSID has a real `’`); only the logo's are read as plain ones (`is_logo_art`)."""
    if line.millis is None:
        text = _QUOTE_MARKS.sub("", line.text)
        if text != line.text:
            return replace(line, text=text)
    return line


def is_logo_art(text: str) -> bool:
    """One of the ASCII-art lines of the Blynk logo (spec §5.2), also with its backslashes lost, its spaces
    collapsed or its quote made typographic: only logo characters, at least two underscores."""
    body = text.translate(_SMART).strip()
    return body.count("_") >= 2 and set(body) <= _LOGO_CHARS


# ------------------------------------------------------------------------------------------------------------
# Formats


@dataclass(frozen=True)
class LogFormat:
    """How one firmware family prints its log: its name, what a line looks like, how to read one."""

    name: str
    summary: str
    example: str
    arduino: bool
    """Reads `[millis] text` lines (and everything else the Arduino grammar knows)."""
    idf_edgent: bool
    """Reads ESP-IDF Edgent's own lines with its grammar (IDLE, `initialized`, Wi-Fi, OTA, `nm_wifi.c`'s states
    kept apart); without it they are platform lines whose message the Arduino grammar may still read (a `State:`
    line between two legacy state names)."""

    def parse(self, line: LogLine) -> LogEvent | None:
        """The event `line` states in this format, or None."""
        line = _undo_forum_damage(line)
        if self.idf_edgent:
            event = idf_edgent_event(line)
            if event is not None:
                return event
        event = parse_event(line)
        if event is None and line.millis is None:
            wrapped = _WRAPPED_VERSION.fullmatch(line.text.strip())
            if wrapped:
                return LibraryBanner(wrapped[1], wrapped[2], line=line)
        return event

    def device_millis(self, line: LogLine) -> int | None:
        """The device's own millisecond stamp on `line`: `[millis]`, or ESP-IDF's `(millis)`."""
        if line.millis is not None:
            return line.millis
        if self.idf_edgent:
            match = IDF_LINE.fullmatch(line.text.strip())
            if match:
                return int(match[2])
        return None


ARDUINO = LogFormat(
    "arduino",
    "Arduino Edgent (legacy sketch, Edgent-Arduino): `[<millis>] <text>`",
    "[639] INIT => WAIT_CONFIG",
    arduino=True,
    idf_edgent=False,
)
ESP_IDF = LogFormat(
    "esp-idf",
    "Blynk.Edgent for ESP-IDF: `<L> (<millis>) <tag>: <text>`",
    "I (771) edgent.c: State: IDLE => CONNECTING_NET",
    arduino=True,
    idf_edgent=True,
)
AUTO = LogFormat(
    "auto",
    "either family, line by line (each line says which printed it)",
    "",
    arduino=True,
    idf_edgent=True,
)
FORMATS: dict[str, LogFormat] = {f.name: f for f in (AUTO, ARDUINO, ESP_IDF)}
_ALIASES = {"idf": "esp-idf", "esp_idf": "esp-idf", "espidf": "esp-idf", "arduino-edgent": "arduino"}


def log_format(name: str) -> LogFormat:
    """The format called `name` (`auto`, `arduino`, `esp-idf`; `idf` too); ValueError listing the names."""
    key = name.strip().lower()
    found = FORMATS.get(_ALIASES.get(key, key))
    if found is None:
        raise ValueError(f"unknown log format {name!r}; known: {', '.join(FORMATS)}")
    return found


def detect_format(lines: Iterable[str]) -> LogFormat:
    """`esp-idf` when a line of the log was printed by ESP-IDF Edgent's own sources, else `arduino`."""
    for raw in lines:
        match = IDF_LINE.fullmatch(parse_line(raw).text.strip())
        if match and _idf_tag(match[3]) in IDF_EDGENT_SOURCES:
            return ESP_IDF
    return ARDUINO


# ------------------------------------------------------------------------------------------------------------
# Accounting for every line


class LineKind(Enum):
    STATE_CHANGE = "state change"
    BANNER = "banner"
    """The library logo and version line, the device banner's rows and separators."""
    KNOWN = "known line"
    """A line the firmware, its library, the platform or the ROM prints, with or without an event."""
    UNKNOWN = "unknown line, kept"
    """Nothing provlab knows (sketch output, a user's remark): kept in the log and in the stream, no event."""


@dataclass(frozen=True)
class ReadLine:
    """One line of a log with what it was read as."""

    number: int
    """1-based position in the log."""
    line: LogLine
    event: LogEvent | None
    kind: LineKind
    what: str
    """A word on why it has this kind: the event's class, `logo`, `ROM loader`, `blank`, …"""


# Lines with no event that are known: spec §5.3/§5.4 texts without an event class, ROM and loader text,
# crash-dump bodies. Matched against the text after the stamps (anchored at its start).
_KNOWN_TEXT: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(pattern))
    for what, pattern in (
        ("console prompt", r">\s*$"),
        (
            "Blynk library",
            r"(?:Current time: |Certificate OK|Secure connection failed|Connection failed|SSL error: |Packet too big"
            r"|Invalid HW cmd|Ready$|Connected to WiFi|IP: \d|Cannot get addr info|Can't create socket"
            r"|Can't connect to )",
        ),
        (
            "Edgent",
            r"(?:Update: |Finishing\.\.\.|HTTP response should be 200|Content-Length not defined|Not enough space"
            r"|Expected MD5: |OTA written |Flashing\.\.\.|Config reset canceled|Button: |Cannot parse URL"
            r"|Unsupported protocol: |Client not connected|Response timeout|OTA begin failed|Cannot set MD5"
            r"|Write failed\. |Update not (?:ended|finished)|Command not found\.|Available commands: )",
        ),
        (  # arduino-esp32 `UpdateClass::errorString()` and the `/update` handler's verdict (spec §2.3, §5.3)
            "Update library",
            r"(?:No Error|Flash (?:Write|Erase|Read) Failed|Not Enough Space|Bad Size Given|Stream Read Timeout"
            r"|MD5 Check Failed|Wrong Magic Byte|Could Not Activate The Firmware|Partition Could Not be Found"
            r"|Bad Argument|Aborted|UNKNOWN|Update Success\. Rebooting)\s*$",
        ),
        (
            "ROM loader",
            r"(?:load[: ]0x|entry 0x|Build:\w{3} |tail \d+$|chksum 0x|csum 0x|v[0-9a-f]{8}$|~ld$|configsip: "
            r"|clk_drv:|mode:\w+, clock div|ho \d+ tail|SPIWP:|Rebooting\.\.\.$|waiting for download|ELF file SHA256:)",
        ),
        (
            "crash dump",
            r"(?:[0-9a-f]{8}:(?:\s+[0-9a-f]{8}){1,4}\s*$|epc1=0x|ctx: \w+|sp: [0-9a-f]+ end:|<<<stack<<<"
            r"|Core +\d+ register dump:|PC +: 0x|EXCVADDR|A\d+ +: 0x|last failed alloc)",
        ),
    )
)


def _kind_of(event: LogEvent | None, line: LogLine) -> tuple[LineKind, str]:
    if isinstance(event, StateChange):
        return LineKind.STATE_CHANGE, "StateChange"
    if isinstance(event, (LibraryBanner, DeviceBanner, EdgentStarted)):
        return LineKind.BANNER, type(event).__name__
    if event is not None:
        return LineKind.KNOWN, type(event).__name__
    body = _QUOTE_MARKS.sub("", line.text).strip() if line.millis is None else line.text.strip()
    if not body:
        return LineKind.KNOWN, "blank"
    if is_logo_art(body) or _STAND_WITH.match(body):
        return LineKind.BANNER, "logo"
    if _SEPARATOR.match(body):
        return LineKind.BANNER, "separator"
    for what, pattern in _KNOWN_TEXT:
        if pattern.match(body):
            return LineKind.KNOWN, what
    return LineKind.UNKNOWN, "unknown"


class LogReader:
    """Reads one log line by line in a format, keeping the little context forum damage needs: a library
    version line whose platform was wrapped onto the next line (`… on Nano 33` / `IoT`)."""

    def __init__(self, fmt: LogFormat = AUTO) -> None:
        self.format = fmt
        self.count = 0
        self._banner: LibraryBanner | None = None

    def read(self, raw: str) -> ReadLine:
        self.count += 1
        line = parse_line(raw)
        event = self.format.parse(line)
        kind, what = _kind_of(event, line)
        pending, self._banner = self._banner, None
        if kind is LineKind.UNKNOWN and pending is not None and _WRAPPED_PLATFORM.fullmatch(line.text.strip()):
            event = LibraryBanner(pending.version, f"{pending.platform} {line.text.strip()}", line=line)
            kind, what = LineKind.BANNER, "wrapped platform"
        if isinstance(event, LibraryBanner) and line.millis is None:
            self._banner = event
        return ReadLine(self.count, line, event, kind, what)


def read_log(text: str, fmt: LogFormat | None = None) -> list[ReadLine]:
    """Every line of a whole decoded log, read (`fmt` None: `detect_format` chooses)."""
    lines = split_lines(text)
    reader = LogReader(fmt or detect_format(lines))
    return [reader.read(raw) for raw in lines]


def account(read: Iterable[ReadLine]) -> Counter[LineKind]:
    """How many lines of each kind."""
    return Counter(item.kind for item in read)

"""Bodies of Blynk protocol messages: INTERNAL (info, meta, ota, dbg), HARDWARE, REDIRECT (spec §6.4–6.7)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provlab.protocol import choices
from provlab.protocol.frames import join_args

# Order of the info message of the Arduino/ESP library (`src/BlynkApiArduino.h`, spec §6.4).
# The optional `cpu` and `con` keys sit between `dev` and `tmpl`; ESP32 sends neither.
ESP32_INFO_KEYS: tuple[str, ...] = ("mcu", "fw-type", "build", "blynk", "h-beat", "buff-in", "dev", "tmpl")

# Order of the info message of the Linux C++ client (`linux/BlynkApiLinux.h`, OBSERVED, spec §6.4).
LINUX_INFO_KEYS: tuple[str, ...] = (
    "ver", "h-beat", "buff-in", "dev", "fw-type", "fw", "build", "conn", "tmpl",
)  # fmt: skip

# First argument of an INTERNAL body (spec §6.5).
INTERNAL_META = "meta"
INTERNAL_OTA = "ota"
INTERNAL_DBG = "dbg"
INTERNAL_RTC = "rtc"
INTERNAL_UTC = "utc"
INTERNAL_VFS = "vfs"
INTERNAL_APP_CONNECTED = "acon"
INTERNAL_APP_DISCONNECTED = "adis"

# BLYNK_DEFAULT_PORT: the port a REDIRECT without one means (spec §6.2).
REDIRECT_DEFAULT_PORT = 80

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_C_SPACE = " \t\n\v\f\r"
_DIGITS = "0123456789"


class MalformedBodyError(ValueError):
    """A message body that does not have the shape its command requires."""


# --- number parsing the way the firmware does it ---------------------------------------------------


def arduino_atol(text: str) -> int:
    """C `atol` as the firmware runs it (`String::toInt()`, `BlynkParam::asLong()`).

    Leading whitespace, an optional sign, then decimal digits up to the first non-digit; no digits -> 0.
    newlib's `atol` is `strtol`, which clamps to the range of `long` (32 bits on ESP32/ESP8266).
    """
    i, n = 0, len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    value = int(text[start:i]) if i > start else 0
    if negative:
        value = -value
    high = (1 << (choices.C_LONG_BITS - 1)) - 1
    return max(-high - 1, min(high, value))


def as_uint16(value: int) -> int:
    """A C integer stored into a `uint16_t` (wraps modulo 65536)."""
    return value & 0xFFFF


# --- info message -----------------------------------------------------------------------------------


def parse_info(body: bytes) -> dict[str, str]:
    """The key/value pairs of an info message.

    Tolerates a trailing NUL (the Linux client sends one) and a key without a value at the end (dropped).
    Pairs with an empty key are skipped; a later duplicate wins.
    """
    if not body:
        return {}
    parts = body.decode("utf-8", "replace").split("\0")
    info: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        key = parts[i]
        if key:
            info[key] = parts[i + 1]
    return info


def render_info(pairs: Mapping[str, str] | Sequence[tuple[str, str]]) -> bytes:
    """An info message: keys and values joined by NUL, no trailing NUL."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    flat: list[str] = []
    for key, value in items:
        if "\0" in key or "\0" in value:
            raise ValueError(f"info pair {key!r}={value!r} contains NUL; expected text without NUL")
        flat += (key, value)
    return "\0".join(flat).encode("utf-8")


def compile_stamp(when: _dt.datetime) -> str:
    """`__DATE__ " " __TIME__` of a C compiler: `Nov  6 2026 03:29:17` (day padded with a space)."""
    return f"{_MONTHS[when.month - 1]} {when.day:2d} {when.year:04d} {when:%H:%M:%S}"


def esp32_info(
    fw_ver: str,
    fw_type: str,
    build: str,
    blynk_ver: str = "1.4.0",
    heartbeat: int = 40,
    buff_in: int = 1024,
    dev: str = "ESP32",
    *,
    tmpl: str,
) -> bytes:
    """The info message an ESP32 Edgent board sends after login, keys in `ESP32_INFO_KEYS` order."""
    values = (fw_ver, fw_type, build, blynk_ver, str(heartbeat), str(buff_in), dev, tmpl)
    return render_info(list(zip(ESP32_INFO_KEYS, values, strict=True)))


def _first(info: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        if key in info:
            return info[key]
    return None


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class DeviceInfo:
    """What any client's info message says, under one set of names."""

    version: str | None = None  # library version: `ver` (Linux, Python, JS) or `blynk` (Arduino)
    fw_ver: str | None = None  # firmware version: `fw` (Linux) or `mcu` / `ncp` (Arduino)
    fw_type: str | None = None
    template_id: str | None = None
    heartbeat: int | None = None  # seconds
    buff_in: int | None = None
    device: str | None = None
    build: str | None = None
    connection: str | None = None  # `conn` (Linux) or `con` (Arduino)
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: bytes) -> DeviceInfo:
        return cls.from_pairs(parse_info(body))

    @classmethod
    def from_pairs(cls, info: Mapping[str, str]) -> DeviceInfo:
        return cls(
            version=_first(info, "ver", "blynk"),
            fw_ver=_first(info, "fw", "mcu", "ncp"),
            fw_type=info.get("fw-type"),
            template_id=info.get("tmpl"),
            heartbeat=_int_or_none(info.get("h-beat")),
            buff_in=_int_or_none(info.get("buff-in")),
            device=info.get("dev"),
            build=info.get("build"),
            connection=_first(info, "conn", "con"),
            raw=dict(info),
        )


# --- other INTERNAL bodies --------------------------------------------------------------------------


def meta_set_body(field: str, value: str) -> bytes:
    """`meta\\0set\\0<field>\\0<value>`: what `Blynk.setMetadata` sends (Edgent: `Hotspot Name`)."""
    return join_args((INTERNAL_META, "set", field, value))


def parse_meta_set(args: list[bytes]) -> tuple[str, str] | None:
    """(field, value) of a `meta set` INTERNAL message, or None when the arguments are something else."""
    if len(args) < 4 or args[0] != b"meta" or args[1] != b"set":
        return None
    return args[2].decode("utf-8", "replace"), args[3].decode("utf-8", "replace")


def ota_body(url: str) -> bytes:
    """`ota\\0<url>`: the cloud tells the board to download firmware from `url` (Blynk.Air)."""
    return join_args((INTERNAL_OTA, url))


def dbg_body(line: str) -> bytes:
    """`dbg\\0<line>`: the cloud runs an Edgent console command on the board."""
    return join_args((INTERNAL_DBG, line))


def rtc_body(unix_seconds: int) -> bytes:
    """`rtc\\0<unix seconds>`: the cloud's answer to `rtc\\0sync`."""
    return join_args((INTERNAL_RTC, unix_seconds))


def internal_op(args: list[bytes]) -> str:
    """The sub-command of an INTERNAL message (its first argument), `""` when there is none."""
    return args[0].decode("utf-8", "replace") if args else ""


# The INTERNAL sub-commands the C++ library dispatches, by the 4 bytes it compares (`BlynkProtocol.h`).
LIBRARY_INTERNAL_OPS: tuple[str, ...] = (
    INTERNAL_RTC,
    INTERNAL_OTA,
    INTERNAL_APP_CONNECTED,
    INTERNAL_APP_DISCONNECTED,
    INTERNAL_META,
    INTERNAL_VFS,
    INTERNAL_DBG,
    INTERNAL_UTC,
)


def library_internal_op(args: list[bytes]) -> str | None:
    """The sub-command the C++ library sees: it `memcpy`s the first 4 bytes of argument 0 (its NUL included,
    so `ota` matches `ota\0`) and compares them as one `uint32_t`; `metaX` therefore dispatches as `meta`.
    None when no known sub-command matches (the library then ignores the message)."""
    if not args:
        return None
    head = (args[0] + b"\0")[:4]
    for op in LIBRARY_INTERNAL_OPS:
        if (op.encode() + b"\0")[:4] == head:
            return op
    return None


def library_pin(text: str) -> int:
    """A pin number as the library reads it: `asInt()` (atol) stored into a `uint8_t`."""
    return arduino_atol(text) & 0xFF


# --- HARDWARE ---------------------------------------------------------------------------------------


def _value_text(value: str | int | float) -> str:
    if isinstance(value, bool):  # C++ prints a bool as 1/0
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def hardware_vw(pin: int | str, *values: str | int | float) -> bytes:
    """`vw\\0<pin>\\0<v1>[\\0<v2>…]`: a virtual pin write (floats as Python's `str()`)."""
    return join_args(("vw", str(pin), *(_value_text(v) for v in values)))


@dataclass(frozen=True)
class HardwareOp:
    """A HARDWARE body: `op` (`vw`, `dw`, `aw`, `dr`, `ar`, `pm`, `vr`, …), its pin and its values."""

    op: str
    pin: str
    values: list[str] = field(default_factory=list)

    def encode(self) -> bytes:
        return join_args((self.op, self.pin, *self.values))


def parse_hardware(args: list[bytes]) -> HardwareOp:
    """The HARDWARE (or BRIDGE payload) arguments as an operation; a missing pin reads as `""`."""
    if not args:
        raise MalformedBodyError("HARDWARE body is empty; expected `<op>\\0<pin>[\\0<value>…]`")
    text = [a.decode("utf-8", "replace") for a in args]
    return HardwareOp(text[0], text[1] if len(text) > 1 else "", text[2:])


# --- REDIRECT ---------------------------------------------------------------------------------------


def redirect_body(host: str, port: int | None) -> bytes:
    """`<host>[\\0<port>]`: the cloud sends the device to another server."""
    if port is None:
        return join_args((host,))
    return join_args((host, port))


def parse_redirect(body: bytes) -> tuple[str, int]:
    """(host, port) of a REDIRECT; port 80 when absent, else parsed like the library (`atol` into uint16)."""
    args = body.split(b"\0") if body else []
    if not args:
        raise MalformedBodyError("REDIRECT body is empty; expected `<host>[\\0<port>]`")
    host = args[0].decode("utf-8", "replace")
    # Like BlynkParam's iterator: a port is present when any byte follows the host's NUL.
    if len(body) <= len(args[0]) + 1:
        return host, REDIRECT_DEFAULT_PORT
    return host, as_uint16(arduino_atol(args[1].decode("ascii", "replace")))

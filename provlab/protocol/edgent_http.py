"""The legacy Edgent SoftAP HTTP API: `/config`, `/board_info.json`, `/wifi_scan.json` and the built-in pages.

Byte-exact to the ESP32 Edgent sketch (spec §2.3–2.5): JSON is produced the way the firmware's `snprintf`
does it, without escaping and cut at the firmware's buffer sizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from urllib.parse import quote, urlencode

from provlab.protocol import choices
from provlab.protocol.internal import arduino_atol, as_uint16

JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"

CONFIG_SAVED = b'{"status":"ok","msg":"Configuration saved"}'
CONFIG_TRYING = b'{"status":"ok","msg":"Trying to connect..."}'
CONFIG_INVALID = b'{"status":"error","msg":"Configuration invalid"}'
RESET_OK = b'{"status":"ok","msg":"Configuration reset"}'

# Sizes of the char arrays of the config blob (spec §3.1); a C string keeps one byte for its NUL.
SSID_FIELD_SIZE = 34
PASS_FIELD_SIZE = 64
HOST_FIELD_SIZE = 34
TOKEN_LENGTH = 32

BOARD_INFO_BUFFER = 512  # `char buff[512]` of the /board_info.json handler
SCAN_ITEM_BUFFER = 256  # `char buff[256]` per network of the /wifi_scan.json handler
SCAN_MAX_NETWORKS = 15
# The firmware's format string for one network (spec §2.5).
SCAN_ITEM_FORMAT = '  {"ssid":"%s","bssid":"%s","rssi":%i,"sec":"%s","ch":%i}'
# The ESP8266 sketch's (spec §2.5): `,"hidden":%d` added.
SCAN_ITEM_HIDDEN_FORMAT = '  {"ssid":"%s","bssid":"%s","rssi":%i,"sec":"%s","ch":%i,"hidden":%d}'

# `wifiSecToStr` of each firmware (spec §2.5).
SECURITY_NAMES_ESP32: tuple[str, ...] = (
    "OPEN", "WEP", "WPA", "WPA2", "WPA+WPA2", "WPA2-EAP", "WPA3", "WPA2+WPA3", "WAPI", "unknown",
)  # fmt: skip
SECURITY_NAMES_ESP8266: tuple[str, ...] = ("OPEN", "WEP", "WPA", "WPA2", "WPA+WPA2", "unknown")
SECURITY_NAMES_WIO: tuple[str, ...] = ("WEP", "WPA/PSK", "WPA2/PSK", "WPA/WPA2/PSK", "OPEN", "unknown")


@dataclass(frozen=True)
class HttpReply:
    """What a handler of the board's web server sends: status, Content-Type and body."""

    status: int
    content_type: str
    body: bytes


def not_found(uri: str) -> HttpReply:
    """The WebServer's answer to an unregistered path (`uri` without the query string)."""
    return HttpReply(404, HTML, b"Not found: " + uri.encode("utf-8"))


# --- /board_info.json -------------------------------------------------------------------------------

# The firmware's format string (spec §2.4), with the two capability literals made parameters.
BOARD_INFO_FORMAT = (
    '{"board":"%s","tmpl_id":"%s","fw_type":"%s","fw_ver":"%s","ssid":"%s","bssid":"%s","mac":"%s",'
    '"last_error":%d,"wifi_scan":%s,"static_ip":%s}'
)

_BOARD_INFO_TEXT_KEYS = ("board", "tmpl_id", "fw_type", "fw_ver", "ssid", "bssid", "mac")
_BOARD_INFO_KNOWN_KEYS = frozenset((*_BOARD_INFO_TEXT_KEYS, "last_error", "wifi_scan", "static_ip"))
# In every known variant: legacy ESP32/ESP8266/Wio, v0.6.1 Inject, Python RPi Edgent, Edgent-Arduino 0.9.
BOARD_INFO_REQUIRED_KEYS: tuple[str, ...] = ("tmpl_id", "fw_ver")
# Present in the legacy ESP32 sketch at HEAD: what `strict` parsing demands.
BOARD_INFO_LEGACY_KEYS: tuple[str, ...] = (*_BOARD_INFO_TEXT_KEYS, "last_error")


class BoardInfoError(ValueError):
    """A `/board_info.json` body that is not JSON, lacks keys, or has a value of the wrong type."""


@dataclass(frozen=True)
class BoardInfo:
    """The board's self-description served at `/board_info.json`.

    `extra` keeps every key this class has no field for (`5ghz`, `hw_ver`, `vendor`, `uid`, `ifs`, …);
    `absent` names the legacy keys the parsed body lacked (their fields then hold "" or 0).
    """

    board: str
    tmpl_id: str
    fw_type: str
    fw_ver: str
    ssid: str
    bssid: str
    mac: str
    last_error: int
    wifi_scan: bool = True
    static_ip: bool = True
    extra: dict[str, object] = field(default_factory=dict)
    absent: tuple[str, ...] = ()

    def render(self, appended: tuple[tuple[str, object], ...] = ()) -> bytes:
        """The body, byte-exact: `snprintf` into 512 bytes, so at most 511 bytes, no JSON escaping.

        `appended`: keys a family's format string has after `static_ip` (Wio Terminal: `"5ghz":true`)."""
        text = BOARD_INFO_FORMAT % (
            self.board,
            self.tmpl_id,
            self.fw_type,
            self.fw_ver,
            self.ssid,
            self.bssid,
            self.mac,
            self.last_error,
            _json_bool(self.wifi_scan),
            _json_bool(self.static_ip),
        )
        if appended:
            tail = "".join(f',"{key}":{json.dumps(value)}' for key, value in appended)
            text = text[:-1] + tail + "}"
        return text.encode("utf-8")[: BOARD_INFO_BUFFER - 1]

    @classmethod
    def parse(cls, body: bytes, *, strict: bool = False) -> BoardInfo:
        """Read any firmware variant's board info; `strict` demands every key of the legacy ESP32 format.

        Edgent-Arduino 0.9 names are mapped: `name` -> ssid; the `wifi` entry of `ifs` -> mac, wifi_scan
        and static_ip.
        """
        data = _json_object(body, "board info", BoardInfoError)
        wifi_if = _edgent2_wifi_interface(data)
        values: dict[str, object] = dict(data)
        if "ssid" not in values and "name" in values:
            values["ssid"] = values["name"]
        if wifi_if is not None:
            for ours, theirs in (("mac", "mac"), ("wifi_scan", "scan"), ("static_ip", "static_ip")):
                if ours not in values and theirs in wifi_if:
                    values[ours] = wifi_if[theirs]
        required = BOARD_INFO_LEGACY_KEYS if strict else BOARD_INFO_REQUIRED_KEYS
        missing = [key for key in required if key not in values]
        if missing:
            raise BoardInfoError(
                f"board info lacks {', '.join(missing)}; expected keys {', '.join(required)}; "
                f"seen {', '.join(data) or 'none'}"
            )
        texts = {key: _text_value(values, key, BoardInfoError) for key in _BOARD_INFO_TEXT_KEYS}
        last_error = values.get("last_error", 0)
        if type(last_error) is not int:
            raise BoardInfoError(f"board info last_error is {last_error!r}; expected an integer")
        return cls(
            **texts,
            last_error=last_error,
            wifi_scan=_flag_value(values, "wifi_scan"),
            static_ip=_flag_value(values, "static_ip"),
            extra={k: v for k, v in data.items() if k not in _BOARD_INFO_KNOWN_KEYS},
            absent=tuple(key for key in BOARD_INFO_LEGACY_KEYS if key not in values),
        )


def _json_bool(flag: bool) -> str:
    return "true" if flag else "false"


def _json_object(body: bytes, what: str, error: type[ValueError]) -> dict[str, object]:
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise error(f"{what} is not valid JSON ({exc}); body starts {body[:80]!r}") from None
    if not isinstance(data, dict):
        raise error(f"{what} is a JSON {type(data).__name__}; expected an object")
    return data


def _edgent2_wifi_interface(data: Mapping[str, object]) -> Mapping[str, object] | None:
    interfaces = data.get("ifs")
    if not isinstance(interfaces, list):
        return None
    for interface in interfaces:
        if isinstance(interface, dict) and interface.get("name") == "wifi":
            return interface
    return None


def _text_value(values: Mapping[str, object], key: str, error: type[ValueError]) -> str:
    value = values.get(key, "")
    if not isinstance(value, str):
        raise error(f"{key} is {value!r}; expected a string")
    return value


def _flag_value(values: Mapping[str, object], key: str) -> bool:
    value = values.get(key, False)
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):  # Edgent-Arduino 0.9 writes 0/1
        return bool(value)
    raise BoardInfoError(f"board info {key} is {value!r}; expected true/false")


def board_info_reply(info: BoardInfo) -> HttpReply:
    return HttpReply(200, JSON, info.render())


# --- /wifi_scan.json --------------------------------------------------------------------------------


class WifiScanError(ValueError):
    """A `/wifi_scan.json` body that is not a list of networks."""


@dataclass(frozen=True)
class ScanEntry:
    """One network of a scan as the board reports it."""

    ssid: str
    bssid: str
    rssi: int
    sec: str
    ch: int
    hidden: int | None = None
    """ESP8266's `,"hidden":%d` (`WiFi.isHidden()`); None: the key is not printed (ESP32, Wio)."""

    def render(self) -> bytes:
        """One list item, two spaces first, cut at the handler's 256-byte `snprintf` buffer."""
        if self.hidden is None:
            text = SCAN_ITEM_FORMAT % (self.ssid, self.bssid, self.rssi, self.sec, self.ch)
        else:
            text = SCAN_ITEM_HIDDEN_FORMAT % (self.ssid, self.bssid, self.rssi, self.sec, self.ch, self.hidden)
        return text.encode("utf-8")[: SCAN_ITEM_BUFFER - 1]


def sort_like_firmware(entries: Iterable[ScanEntry], first: int | None = None) -> list[ScanEntry]:
    """Strongest first, in the exact order of the firmware's in-place swap sort (not stable on ties).

    Pass i of that sort settles position i for good and never touches positions before it, so with `first`
    only the first `first` passes run: the first `first` entries are exactly the full sort's, the rest are
    left as those passes leave them, and the cost is O(first × n) instead of O(n²)."""
    order = list(entries)
    passes = len(order) if first is None else min(first, len(order))
    for i in range(passes):
        for j in range(i + 1, len(order)):
            if order[j].rssi > order[i].rssi:
                order[i], order[j] = order[j], order[i]
    return order


def render_wifi_scan(entries: Iterable[ScanEntry]) -> bytes:
    """The body: the 15 strongest networks, one per line inside `[` `]`; `[]` when there are none."""
    return b"".join(wifi_scan_pieces(entries))


def wifi_scan_pieces(entries: Iterable[ScanEntry]) -> list[bytes]:
    """The body in the pieces the ESP8266 sketch sends one `sendContent()` each (one chunk each when chunked):
    `[\n`, every item, `,\n` between items, `\n]`; `[]` alone when there are no networks."""
    top = sort_like_firmware(entries, SCAN_MAX_NETWORKS)[:SCAN_MAX_NETWORKS]
    if not top:
        return [b"[]"]
    pieces = [b"[\n"]
    for index, entry in enumerate(top):
        if index:
            pieces.append(b",\n")
        pieces.append(entry.render())
    pieces.append(b"\n]")
    return pieces


def parse_wifi_scan(body: bytes) -> list[ScanEntry]:
    """The networks of a scan body, in the order served (extra keys such as ESP8266's `hidden` ignored)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise WifiScanError(f"wifi scan is not valid JSON ({exc}); body starts {body[:80]!r}") from None
    if not isinstance(data, list):
        raise WifiScanError(f"wifi scan is a JSON {type(data).__name__}; expected a list")
    entries: list[ScanEntry] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise WifiScanError(f"wifi scan item {index} is {item!r}; expected an object")
        missing = [key for key in ("ssid", "bssid", "rssi", "sec", "ch") if key not in item]
        if missing:
            raise WifiScanError(f"wifi scan item {index} lacks {', '.join(missing)}; seen {', '.join(item)}")
        rssi, ch = item["rssi"], item["ch"]
        if type(rssi) is not int or type(ch) is not int:
            raise WifiScanError(f"wifi scan item {index} has rssi={rssi!r} ch={ch!r}; expected integers")
        entries.append(
            ScanEntry(
                ssid=_text_value(item, "ssid", WifiScanError),
                bssid=_text_value(item, "bssid", WifiScanError),
                rssi=rssi,
                sec=_text_value(item, "sec", WifiScanError),
                ch=ch,
            )
        )
    return entries


def wifi_scan_reply(entries: Iterable[ScanEntry]) -> HttpReply:
    return HttpReply(200, JSON, render_wifi_scan(entries))


# --- /config ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticIp:
    """The static IPv4 settings of `/config` (`ip`, `mask`, `gw`, `dns`, `dns2`)."""

    ip: IPv4Address | None = None
    mask: IPv4Address | None = None
    gw: IPv4Address | None = None
    dns: IPv4Address | None = None
    dns2: IPv4Address | None = None


def parse_ipv4(text: str) -> IPv4Address | None:
    """A dotted IPv4 address read like the firmware's `IPAddress::fromString`; None when it does not parse."""
    if not choices.STATIC_IP_PARSE_LIKE_ARDUINO:
        try:
            return IPv4Address(text)
        except ValueError:
            return None
    octets = text.split(".")
    if len(octets) != 4:
        return None
    values: list[int] = []
    for octet in octets:
        if not octet or any(c not in "0123456789" for c in octet):
            return None
        value = int(octet)
        if value > 255:
            return None
        values.append(value)
    return IPv4Address(bytes(values))


def _c_field(text: str, size: int) -> str:
    """`text` as `String::toCharArray(field, size)` stores it: at most size-1 bytes."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) < size:
        return text
    errors = "ignore" if choices.CONFIG_TRUNCATION_DROPS_PARTIAL_UTF8 else "surrogateescape"
    return raw[: size - 1].decode("utf-8", errors)


def _c_length(text: str) -> int:
    """`String::length()`: bytes, not characters."""
    return len(text.encode("utf-8", "surrogateescape"))


def _port_value(text: str) -> int | None:
    return as_uint16(arduino_atol(text)) if text else None


@dataclass(frozen=True)
class ConfigRequest:
    """What a `/config` request carries, after the firmware's own rules (spec §2.3.1).

    `valid` is the firmware's test `token.length() == 32 && ssid.length() > 0`, lengths in bytes, on the
    SSID after `ssidManual` was applied. `static_ip` is set only when `ip` parses (the firmware then sets
    CONFIG_FLAG_STATIC_IP); `ip_fields` holds every address that parsed, which the firmware stores even
    without the flag. Token and password stay out of `repr`.
    """

    ssid: str
    password: str = field(repr=False)
    token: str = field(repr=False)
    host: str | None = None
    port_ssl: int | None = None
    port: int | None = None
    save: bool = False
    static_ip: StaticIp | None = None
    ip_fields: StaticIp = field(default_factory=StaticIp)
    valid: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid", _c_length(self.token) == TOKEN_LENGTH and _c_length(self.ssid) > 0)


def parse_config_args(args: Mapping[str, str]) -> ConfigRequest:
    """Apply the firmware's `/config` handler to decoded query/form parameters (absent reads as "")."""

    def arg(name: str) -> str:
        return args.get(name, "")

    ssid = arg("ssidManual") or arg("ssid")
    host = arg("host")
    ip_fields = StaticIp(
        ip=parse_ipv4(arg("ip")),
        mask=parse_ipv4(arg("mask")),
        gw=parse_ipv4(arg("gw")),
        dns=parse_ipv4(arg("dns")),
        dns2=parse_ipv4(arg("dns2")),
    )
    return ConfigRequest(
        ssid=_c_field(ssid, SSID_FIELD_SIZE),
        password=_c_field(arg("pass"), PASS_FIELD_SIZE),
        token=arg("blynk"),
        host=_c_field(host, HOST_FIELD_SIZE) if host else None,
        port_ssl=_port_value(arg("port_ssl")),
        port=_port_value(arg("port")),
        save=arduino_atol(arg("save")) != 0,
        static_ip=ip_fields if ip_fields.ip is not None else None,
        ip_fields=ip_fields,
    )


def config_reply(req: ConfigRequest) -> HttpReply:
    """200 `Configuration saved` / 200 `Trying to connect...` / 500 `Configuration invalid`."""
    if not req.valid:
        return HttpReply(500, JSON, CONFIG_INVALID)
    return HttpReply(200, JSON, CONFIG_SAVED if req.save else CONFIG_TRYING)


def build_config_query(
    ssid: str,
    password: str,
    token: str,
    host: str | None = None,
    port: int | None = None,
    port_ssl: int | None = None,
    save: bool = False,
    ssid_manual: str | None = None,
    static_ip: StaticIp | None = None,
) -> str:
    """The phone's `/config` query string, URL-encoded, parameters in a fixed order, None values left out."""
    ips = static_ip or StaticIp()
    pairs: list[tuple[str, object]] = [
        ("ssid", ssid),
        ("ssidManual", ssid_manual),
        ("pass", password),
        ("blynk", token),
        ("host", host),
        ("port", port),
        ("port_ssl", port_ssl),
        ("save", 1 if save else None),
        ("ip", ips.ip),
        ("mask", ips.mask),
        ("gw", ips.gw),
        ("dns", ips.dns),
        ("dns2", ips.dns2),
    ]
    return urlencode([(k, str(v)) for k, v in pairs if v is not None], quote_via=quote)


# --- other endpoints --------------------------------------------------------------------------------


def reset_reply() -> HttpReply:
    return HttpReply(200, JSON, RESET_OK)


def config_form_html() -> bytes:
    """The page at `/`: a form that sends ssid, pass, blynk, host and port_ssl to `config` by GET."""
    return _CONFIG_FORM.encode("utf-8")


def root_reply() -> HttpReply:
    return HttpReply(200, HTML, config_form_html())


def update_form_html() -> bytes:
    """The page at `GET /update`: a multipart upload form whose file field is `update`."""
    return _UPDATE_FORM.encode("utf-8")


def update_form_reply() -> HttpReply:
    return HttpReply(200, HTML, update_form_html())


def update_result_reply(ok: bool) -> HttpReply:
    """The answer to `POST /update` (the board reboots a second later)."""
    return HttpReply(200, TEXT, b"OK") if ok else HttpReply(500, TEXT, b"FAIL")


_CONFIG_FORM = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WiFi setup</title>
<style>
form { max-width: 24em; margin: 2em auto; font-family: sans-serif; }
label { display: block; margin-top: 0.8em; }
input { width: 100%; box-sizing: border-box; }
</style>
</head>
<body>
<form action="config" method="get">
<label>Network name (SSID)<input name="ssid" type="text" maxlength="32" required></label>
<label>Network password<input name="pass" type="text" maxlength="63"></label>
<label>Auth token<input name="blynk" type="text" pattern="[-_a-zA-Z0-9]{32}" maxlength="32" required></label>
<label>Cloud host<input name="host" type="text" value="blynk.cloud"></label>
<label>Cloud port (TLS)<input name="port_ssl" type="number" value="443" min="1" max="65535"></label>
<p><input type="submit" value="Apply"></p>
</form>
</body>
</html>
"""

_UPDATE_FORM = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Firmware update</title></head>
<body>
<form method="post" action="" enctype="multipart/form-data">
<input name="update" type="file">
<input type="submit" value="Update">
</form>
</body>
</html>
"""

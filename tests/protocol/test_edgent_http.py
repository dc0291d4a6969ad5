"""Golden bodies and `/config` rules of the legacy Edgent SoftAP HTTP API (spec §2.3–2.5)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from ipaddress import IPv4Address
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provlab.protocol.edgent_http import (
    CONFIG_INVALID,
    CONFIG_SAVED,
    CONFIG_TRYING,
    RESET_OK,
    SECURITY_NAMES_ESP32,
    BoardInfo,
    BoardInfoError,
    ConfigRequest,
    HttpReply,
    ScanEntry,
    StaticIp,
    WifiScanError,
    build_config_query,
    config_form_html,
    config_reply,
    not_found,
    parse_config_args,
    parse_ipv4,
    parse_wifi_scan,
    render_wifi_scan,
    reset_reply,
    sort_like_firmware,
    update_form_html,
    update_result_reply,
)

TOKEN = "0123456789abcdef0123456789ABCDEF"
# The format string of spec §2.4, copied literally.
SPEC_BOARD_INFO_FORMAT = (
    '{"board":"%s","tmpl_id":"%s","fw_type":"%s","fw_ver":"%s","ssid":"%s","bssid":"%s","mac":"%s",'
    '"last_error":%d,"wifi_scan":true,"static_ip":true}'
)


def test_reply_bodies_are_the_spec_strings() -> None:
    assert CONFIG_SAVED == b'{"status":"ok","msg":"Configuration saved"}'
    assert CONFIG_TRYING == b'{"status":"ok","msg":"Trying to connect..."}'
    assert CONFIG_INVALID == b'{"status":"error","msg":"Configuration invalid"}'
    assert RESET_OK == b'{"status":"ok","msg":"Configuration reset"}'
    assert reset_reply() == HttpReply(200, "application/json", RESET_OK)
    assert not_found("/nope") == HttpReply(404, "text/html", b"Not found: /nope")
    assert update_result_reply(True) == HttpReply(200, "text/plain", b"OK")
    assert update_result_reply(False) == HttpReply(500, "text/plain", b"FAIL")


# --- /config --------------------------------------------------------------------------------------


def test_config_replies() -> None:
    saved = config_reply(parse_config_args({"ssid": "Home", "pass": "pw", "blynk": TOKEN, "save": "1"}))
    assert saved == HttpReply(200, "application/json", CONFIG_SAVED)
    trying = config_reply(parse_config_args({"ssid": "Home", "pass": "pw", "blynk": TOKEN}))
    assert trying == HttpReply(200, "application/json", CONFIG_TRYING)
    invalid = config_reply(parse_config_args({"ssid": "Home", "blynk": TOKEN[:31], "save": "1"}))
    assert invalid == HttpReply(500, "application/json", CONFIG_INVALID)


@pytest.mark.parametrize(
    ("token", "ssid", "valid"),
    [
        (TOKEN, "Home", True),
        (TOKEN[:31], "Home", False),
        (TOKEN + "x", "Home", False),
        ("", "Home", False),
        (TOKEN, "", False),
        ("é" * 16, "Home", True),  # String::length() counts bytes: 16 two-byte chars are 32
        ("é" * 32, "Home", False),  # 32 characters but 64 bytes
    ],
)
def test_validity_rule(token: str, ssid: str, valid: bool) -> None:
    req = parse_config_args({"ssid": ssid, "blynk": token})
    assert req.valid is valid
    assert req.token == token  # raw as sent


def test_absent_params_read_as_empty() -> None:
    req = parse_config_args({})
    assert not req.valid
    assert (req.ssid, req.password, req.token, req.host, req.port_ssl, req.port, req.save, req.static_ip) == (
        "", "", "", None, None, None, False, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("save", "expected"),
    [("1", True), ("true", False), ("2", True), ("0", False), ("", False), (" 1", True), ("-1", True),
     ("1abc", True), ("yes", False), ("TRUE", False)],
)  # fmt: skip
def test_save_follows_string_toint(save: str, expected: bool) -> None:
    req = parse_config_args({"ssid": "Home", "blynk": TOKEN, "save": save})
    assert req.save is expected
    assert config_reply(req).body == (CONFIG_SAVED if expected else CONFIG_TRYING)


def test_ssid_manual_wins_when_non_empty() -> None:
    assert parse_config_args({"ssid": "Seen", "ssidManual": "Typed", "blynk": TOKEN}).ssid == "Typed"
    assert parse_config_args({"ssid": "Seen", "ssidManual": "", "blynk": TOKEN}).ssid == "Seen"
    typed_only = parse_config_args({"ssid": "", "ssidManual": "Hidden", "blynk": TOKEN})
    assert typed_only.ssid == "Hidden" and typed_only.valid


@pytest.mark.parametrize(
    ("port_ssl", "expected"),
    [
        ("443", 443),
        ("9443", 9443),
        (" 8443", 8443),
        ("+443", 443),
        ("443abc", 443),
        ("abc", 0),
        (" ", 0),  # non-empty, so applied: toInt(" ") == 0
        ("-1", 65535),  # stored into uint16_t
        ("70000", 4464),
        ("99999999999", 65535),  # strtol clamps to 2147483647 first
        ("", None),
    ],
)
def test_port_ssl_follows_string_toint(port_ssl: str, expected: int | None) -> None:
    req = parse_config_args({"ssid": "Home", "blynk": TOKEN, "port_ssl": port_ssl})
    assert req.port_ssl == expected


def test_port_is_parsed_but_separate_from_port_ssl() -> None:
    req = parse_config_args({"ssid": "Home", "blynk": TOKEN, "port": "80"})
    assert (req.port, req.port_ssl) == (80, None)
    req = parse_config_args({"ssid": "Home", "blynk": TOKEN, "port": "8080", "port_ssl": "443"})
    assert (req.port, req.port_ssl) == (8080, 443)


def test_host_only_when_non_empty_and_cut_to_its_field() -> None:
    assert parse_config_args({"host": ""}).host is None
    assert parse_config_args({"host": "fra1.blynk.cloud"}).host == "fra1.blynk.cloud"
    long_host = "a" * 30 + ".example.org"
    assert parse_config_args({"host": long_host}).host == long_host[:33]


def test_fields_are_cut_like_the_char_arrays() -> None:
    req = parse_config_args({"ssid": "S" * 40, "pass": "p" * 70, "blynk": TOKEN})
    assert req.ssid == "S" * 33
    assert req.password == "p" * 63
    assert req.valid
    # 17 two-byte characters are 34 bytes; 33 fit and the split character is dropped
    assert parse_config_args({"ssid": "é" * 17}).ssid == "é" * 16
    assert parse_config_args({"ssid": "S" * 33}).ssid == "S" * 33


def test_secrets_stay_out_of_repr() -> None:
    req = parse_config_args({"ssid": "Home", "pass": "hunter2secret", "blynk": TOKEN})
    assert "hunter2secret" not in repr(req) and TOKEN not in repr(req) and "Home" in repr(req)


def test_static_ip_set_only_when_ip_parses() -> None:
    args = {
        "ssid": "Home", "blynk": TOKEN, "ip": "192.168.1.50", "mask": "255.255.255.0", "gw": "192.168.1.1",
        "dns": "1.1.1.1", "dns2": "garbage",
    }  # fmt: skip
    req = parse_config_args(args)
    assert req.static_ip == StaticIp(
        ip=IPv4Address("192.168.1.50"),
        mask=IPv4Address("255.255.255.0"),
        gw=IPv4Address("192.168.1.1"),
        dns=IPv4Address("1.1.1.1"),
        dns2=None,
    )
    no_ip = parse_config_args({**args, "ip": "300.1.1.1"})
    assert no_ip.static_ip is None
    assert no_ip.ip_fields.mask == IPv4Address("255.255.255.0")  # stored in the blob even without the flag
    assert parse_config_args({"ssid": "Home", "blynk": TOKEN}).static_ip is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("192.168.001.010", "192.168.1.10"),  # fromString reads leading zeros as decimal
        ("255.255.255.255", "255.255.255.255"),
        ("256.1.1.1", None),
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("1..2.3", None),
        (" 1.2.3.4", None),
        ("1.2.3.4 ", None),
        ("", None),
        ("::1", None),
    ],
)
def test_parse_ipv4_like_the_firmware(text: str, expected: str | None) -> None:
    parsed = parse_ipv4(text)
    assert (str(parsed) if parsed is not None else None) == expected


def test_build_config_query_exact() -> None:
    query = build_config_query("My Wifi", "p&ss=1/2 %", TOKEN, host="blynk.cloud", port=80, port_ssl=443, save=True)
    assert query == (
        f"ssid=My%20Wifi&pass=p%26ss%3D1%2F2%20%25&blynk={TOKEN}&host=blynk.cloud&port=80&port_ssl=443&save=1"
    )
    assert build_config_query("Home", "", TOKEN) == f"ssid=Home&pass=&blynk={TOKEN}"


def test_build_config_query_order_and_round_trip() -> None:
    static = StaticIp(ip=IPv4Address("10.0.0.9"), mask=IPv4Address("255.0.0.0"), dns2=IPv4Address("9.9.9.9"))
    query = build_config_query("Seen", "pw", TOKEN, port_ssl=9443, ssid_manual="Typé", static_ip=static, host="h")
    keys = [k for k, _ in parse_qsl(query, keep_blank_values=True)]
    assert keys == ["ssid", "ssidManual", "pass", "blynk", "host", "port_ssl", "ip", "mask", "dns2"]
    req = parse_config_args(dict(parse_qsl(query, keep_blank_values=True)))
    assert (req.ssid, req.password, req.token, req.host, req.port_ssl, req.save) == (
        "Typé", "pw", TOKEN, "h", 9443, False,
    )  # fmt: skip
    assert req.static_ip == static
    assert req.valid


# --- /board_info.json ---------------------------------------------------------------------------

INFO = BoardInfo(
    board="Device",
    tmpl_id="TMPLxxxxxx",
    fw_type="TMPLxxxxxx",
    fw_ver="0.1.0",
    ssid="Blynk Device-1W7R",
    bssid="24:6F:28:AA:BB:CD",
    mac="24:6F:28:AA:BB:CC",
    last_error=0,
)


def test_board_info_render_is_byte_exact() -> None:
    assert INFO.render() == (
        b'{"board":"Device","tmpl_id":"TMPLxxxxxx","fw_type":"TMPLxxxxxx","fw_ver":"0.1.0",'
        b'"ssid":"Blynk Device-1W7R","bssid":"24:6F:28:AA:BB:CD","mac":"24:6F:28:AA:BB:CC",'
        b'"last_error":0,"wifi_scan":true,"static_ip":true}'
    )
    filled = SPEC_BOARD_INFO_FORMAT % (
        "Device", "TMPLxxxxxx", "TMPLxxxxxx", "0.1.0", "Blynk Device-1W7R", "24:6F:28:AA:BB:CD",
        "24:6F:28:AA:BB:CC", 703,
    )  # fmt: skip
    assert BoardInfo(**{**INFO.__dict__, "last_error": 703}).render() == filled.encode()


def test_board_info_is_not_json_escaped_and_capped_at_511_bytes() -> None:
    quoted = BoardInfo(**{**INFO.__dict__, "board": 'My "Lamp"\\'})
    assert b'"board":"My "Lamp"\\",' in quoted.render()
    with pytest.raises(BoardInfoError, match="not valid JSON"):
        BoardInfo.parse(quoted.render())
    long = BoardInfo(**{**INFO.__dict__, "board": "x" * 600})
    body = long.render()
    assert len(body) == 511
    assert body == (b'{"board":"' + b"x" * 600)[:511]


def test_board_info_round_trip_and_strict_parse() -> None:
    parsed = BoardInfo.parse(INFO.render(), strict=True)
    assert parsed == INFO
    assert parsed.absent == () and parsed.extra == {}


def test_board_info_strict_names_missing_keys() -> None:
    data = json.loads(INFO.render())
    del data["mac"], data["last_error"]
    with pytest.raises(BoardInfoError) as err:
        BoardInfo.parse(json.dumps(data).encode(), strict=True)
    assert "mac" in str(err.value) and "last_error" in str(err.value)
    lenient = BoardInfo.parse(json.dumps(data).encode())
    assert lenient.mac == "" and lenient.last_error == 0 and lenient.absent == ("mac", "last_error")


def test_board_info_other_variants_parse() -> None:
    rpi = BoardInfo.parse(
        b'{"board":"Pi","tmpl_id":"TMPLp","fw_type":"TMPLp","fw_ver":"1.0.0","ssid":"Blynk Pi-1A2B3",'
        b'"bssid":"aa:bb:cc:dd:ee:ff","wifi_scan":true,"static_ip":false}'
    )
    assert (rpi.board, rpi.static_ip, rpi.wifi_scan, rpi.absent) == ("Pi", False, True, ("mac", "last_error"))
    wio = BoardInfo.parse(INFO.render()[:-1] + b',"5ghz":true}')
    assert wio.extra == {"5ghz": True}
    inject = BoardInfo.parse(b'{"board":"B","vendor":"V","tmpl_id":"T","fw_ver":"0.6.1","hw_ver":"1"}')
    assert inject.extra == {"vendor": "V", "hw_ver": "1"} and not inject.wifi_scan
    edgent2 = BoardInfo.parse(
        b'{"vendor":"Blynk","tmpl_id":"TMPL2","fw_type":"TMPL2","fw_ver":"0.9.0","name":"Blynk Lamp-1W7R",'
        b'"uid":"u-1","bssid":"AA:AA:AA:AA:AA:AA","last_error":722,'
        b'"ifs":[{"name":"wifi","mac":"BB:BB:BB:BB:BB:BB","scan":1,"5ghz":0,"static_ip":1}]}'
    )
    assert (edgent2.ssid, edgent2.mac, edgent2.last_error, edgent2.wifi_scan, edgent2.static_ip) == (
        "Blynk Lamp-1W7R", "BB:BB:BB:BB:BB:BB", 722, True, True,
    )  # fmt: skip
    assert edgent2.extra["uid"] == "u-1" and "board" in edgent2.absent


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1]", "expected an object"),
        (b'{"board":"B"}', "lacks tmpl_id, fw_ver"),
        (b'{"tmpl_id":"T","fw_ver":"1","last_error":"0"}', "last_error"),
        (b'{"tmpl_id":"T","fw_ver":1}', "fw_ver"),
        (b'{"tmpl_id":"T","fw_ver":"1","wifi_scan":"yes"}', "wifi_scan"),
        (b'{"tmpl_id":"\xff","fw_ver":"1"}', "not valid JSON"),
    ],
)
def test_board_info_errors_say_what_was_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BoardInfoError, match=message):
        BoardInfo.parse(body)


# --- /wifi_scan.json ----------------------------------------------------------------------------


def test_wifi_scan_layout_is_byte_exact() -> None:
    body = render_wifi_scan(
        [
            ScanEntry("Weak", "11:11:11:11:11:11", -80, "OPEN", 11),
            ScanEntry("Home", "22:22:22:22:22:22", -40, "WPA2", 6),
        ]
    )
    assert body == (
        b"[\n"
        b'  {"ssid":"Home","bssid":"22:22:22:22:22:22","rssi":-40,"sec":"WPA2","ch":6},\n'
        b'  {"ssid":"Weak","bssid":"11:11:11:11:11:11","rssi":-80,"sec":"OPEN","ch":11}'
        b"\n]"
    )
    assert render_wifi_scan([]) == b"[]"
    single = render_wifi_scan([ScanEntry('a"b', "x", -1, "WEP", 1)])
    assert single == b'[\n  {"ssid":"a"b","bssid":"x","rssi":-1,"sec":"WEP","ch":1}\n]'


def test_wifi_scan_keeps_the_15_strongest() -> None:
    entries = [ScanEntry(f"n{i}", f"b{i}", -30 - i, "WPA2", 1) for i in range(20)]
    parsed = parse_wifi_scan(render_wifi_scan(reversed(entries)))
    assert [e.ssid for e in parsed] == [f"n{i}" for i in range(15)]
    assert parsed == entries[:15]


def test_wifi_scan_ties_follow_the_firmware_swap_sort() -> None:
    a = ScanEntry("A", "a", -50, "WPA2", 1)
    b = ScanEntry("B", "b", -50, "WPA2", 1)
    c = ScanEntry("C", "c", -40, "WPA2", 1)
    # The firmware's i/j swap loop moves C to the front by swapping it with A, leaving B before A
    # (a stable sort would give C, A, B).
    assert [e.ssid for e in parse_wifi_scan(render_wifi_scan([a, b, c]))] == ["C", "B", "A"]


def test_parse_wifi_scan_variants_and_errors() -> None:
    esp8266 = b'[{"ssid":"X","bssid":"y","rssi":-60,"sec":"WPA2","ch":3,"hidden":0}]'
    assert parse_wifi_scan(esp8266) == [ScanEntry("X", "y", -60, "WPA2", 3)]
    assert parse_wifi_scan(b"[]") == []
    with pytest.raises(WifiScanError, match="lacks ch"):
        parse_wifi_scan(b'[{"ssid":"X","bssid":"y","rssi":-60,"sec":"WPA2"}]')
    with pytest.raises(WifiScanError, match="integers"):
        parse_wifi_scan(b'[{"ssid":"X","bssid":"y","rssi":"-60","sec":"WPA2","ch":1}]')
    with pytest.raises(WifiScanError, match="expected a list"):
        parse_wifi_scan(b"{}")
    with pytest.raises(WifiScanError, match="not valid JSON"):
        parse_wifi_scan(b"[")


def test_security_names_esp32() -> None:
    assert SECURITY_NAMES_ESP32 == (
        "OPEN", "WEP", "WPA", "WPA2", "WPA+WPA2", "WPA2-EAP", "WPA3", "WPA2+WPA3", "WAPI", "unknown",
    )  # fmt: skip


# --- built-in pages -----------------------------------------------------------------------------


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.forms: list[dict[str, str | None]] = []
        self.inputs: list[dict[str, str | None]] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append(dict(attrs))
        elif tag == "input":
            self.inputs.append(dict(attrs))
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def _read(html: bytes) -> _FormReader:
    reader = _FormReader()
    reader.feed(html.decode("utf-8"))
    return reader


def test_config_form() -> None:
    page = _read(config_form_html())
    assert page.title == "WiFi setup"
    assert page.forms == [{"action": "config", "method": "get"}]
    by_name = {i["name"]: i for i in page.inputs if "name" in i}
    assert list(by_name) == ["ssid", "pass", "blynk", "host", "port_ssl"]
    assert "required" in by_name["ssid"]
    assert by_name["blynk"]["pattern"] == "[-_a-zA-Z0-9]{32}"
    assert by_name["blynk"]["maxlength"] == "32" and "required" in by_name["blynk"]
    assert by_name["host"]["value"] == "blynk.cloud"
    assert by_name["port_ssl"]["value"] == "443"
    submits = [i for i in page.inputs if i.get("type") == "submit"]
    assert [s["value"] for s in submits] == ["Apply"]


def test_update_form() -> None:
    page = _read(update_form_html())
    assert len(page.forms) == 1
    assert page.forms[0]["method"] == "post" and page.forms[0]["enctype"] == "multipart/form-data"
    assert {"name": "update", "type": "file"} in page.inputs


def test_config_request_is_frozen() -> None:
    req = parse_config_args({"ssid": "Home", "blynk": TOKEN})
    assert isinstance(req, ConfigRequest)
    with pytest.raises(AttributeError):
        req.ssid = "x"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-95, max_value=-30), max_size=60))
def test_the_scan_sort_settles_the_first_15_exactly_as_the_full_swap_sort(rssis: list[int]) -> None:
    """Issue 17: `/wifi_scan.json` sorts only as far as it serves (15 networks), O(15 n) instead of O(n²), and the
    15 it serves are the full swap sort's, ties included (narrow RSSI range: many ties)."""
    entries = [
        ScanEntry(f"net-{i}", f"02:00:00:00:{i // 256:02X}:{i % 256:02X}", r, "WPA2", 6) for i, r in enumerate(rssis)
    ]
    full = sort_like_firmware(entries)
    partial = sort_like_firmware(entries, 15)
    assert partial[:15] == full[:15]
    assert sorted(e.ssid for e in partial) == sorted(e.ssid for e in entries)  # nothing lost, nothing doubled

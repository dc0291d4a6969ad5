"""Edgent states and the serial-log grammar on real pasted logs and synthetic lines (spec §1.1, §3.3, §5)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provlab.protocol import serial_log
from provlab.protocol.ncp import BlynkState
from provlab.protocol.serial_log import (
    NO_LINE,
    TRUNCATED_MARK,
    ApIp,
    ApplyingConfig,
    ApSsid,
    ApUrl,
    ButtonHoldHint,
    CloudTarget,
    ConfigDefault,
    ConfigInvalid,
    ConfigReadFailed,
    ConfigStored,
    ConfigWriteFailed,
    ConnectFailed,
    ConnectingTo,
    ConnectingWifi,
    CrashMarker,
    DeviceBanner,
    Disconnected,
    FoundNetworks,
    GotIp,
    HeartbeatTimeout,
    InvalidTemplateConfig,
    InvalidToken,
    LastError,
    LibraryBanner,
    LineSplitter,
    LogEvent,
    LoginTimeout,
    LogLine,
    NcpState,
    OtaFailed,
    OtaSuccess,
    OtaUrl,
    PlatformLog,
    Preprovisioned,
    Ready,
    Redirecting,
    ResettingConfig,
    RestartingAfterError,
    RomBoot,
    ScanningNetworks,
    SendingBoardInfo,
    ServerMessage,
    StateChange,
    StaticIpFailed,
    SwitchingToSta,
    Timeout,
    WifiCredentials,
    format_log_line,
    mask_line,
    mask_secret,
    parse_event,
    parse_line,
    parse_log,
    render_state_change,
    split_lines,
)
from provlab.protocol.states import EdgentState, ProvError

S = EdgentState
LOGS = Path(__file__).parent / "logs"


def read_log(name: str) -> str:
    return (LOGS / name).read_bytes().decode("utf-8", errors="replace")


def changes(events: list[LogEvent]) -> list[tuple[EdgentState, EdgentState]]:
    return [(e.old, e.new) for e in events if isinstance(e, StateChange)]


# ------------------------------------------------------------------------------------------------------------
# States and error codes


def test_state_names_and_codes_are_the_firmware_table() -> None:
    table = [(s.value, s.code) for s in EdgentState]
    assert table == [
        ("WAIT_CONFIG", 0),
        ("CONFIGURING", 1),
        ("CONNECTING_NET", 2),
        ("CONNECTING_CLOUD", 3),
        ("RUNNING", 4),
        ("OTA_UPGRADE", 5),
        ("SWITCH_TO_STA", 6),
        ("RESET_CONFIG", 7),
        ("ERROR", 8),
        ("INIT", 9),
    ]
    assert EdgentState.from_code(9) is S.INIT
    with pytest.raises(ValueError, match="code 10"):
        EdgentState.from_code(10)


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("WAIT_CONFIG", S.WAIT_CONFIG),
        ("WAIT CONFIG", S.WAIT_CONFIG),
        ("CONNECTING  CLOUD", S.CONNECTING_CLOUD),
        ("ota upgrade", S.OTA_UPGRADE),
        (" INIT ", S.INIT),
    ],
)
def test_state_parse_accepts_both_spellings(name: str, state: EdgentState) -> None:
    assert EdgentState.parse(name) is state


@pytest.mark.parametrize("name", ["IDLE", "WAITCONFIG", "", "RUN"])
def test_state_parse_lists_known_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"known states: WAIT_CONFIG, CONFIGURING, .*, ERROR, INIT$"):
        EdgentState.parse(name)


def test_prov_errors() -> None:
    assert [int(e) for e in ProvError] == [0, 700, 701, 702, 703, 704]
    assert ProvError(701).describe() == "Could not connect to the router"
    assert ProvError.TOKEN.describe() == "Invalid token error (after connection)"
    assert all(e.describe() for e in ProvError)


# ------------------------------------------------------------------------------------------------------------
# Line prefixes


@pytest.mark.parametrize(
    ("raw", "text", "millis", "host_stamp"),
    [
        ("[1234] INIT => WAIT_CONFIG", "INIT => WAIT_CONFIG", 1234, None),
        ("[388] ", "", 388, None),
        ("[388]", "", 388, None),
        ("+[34157] Switching to STA...", "Switching to STA...", 34157, None),
        (">[1041] INIT => WAIT_CONFIG", "INIT => WAIT_CONFIG", 1041, None),
        ("\ufffd\ufffd\x00[12] ok", "ok", 12, None),
        ("18:46:51.156 -> [2296346] Disconnected", "Disconnected", 2296346, "18:46:51.156"),
        ("18:46:56.676 ->", "", None, "18:46:56.676"),
        ("18:46:56.676 -> ", "", None, "18:46:56.676"),
        ("18:46:56.739 -> ets Jun 8 2016 00:22:57", "ets Jun 8 2016 00:22:57", None, "18:46:56.739"),
        (
            "E (38703) phy_init: NVS has not been initialized.",
            "E (38703) phy_init: NVS has not been initialized.",
            None,
            None,
        ),
        (
            "[D][WiFiGeneric.cpp:374] _eventCallback(): x",
            "[D][WiFiGeneric.cpp:374] _eventCallback(): x",
            None,
            None,
        ),
        ("[  1234][I][BlynkEdgent] WAIT CONFIG => IDLE", "[I][BlynkEdgent] WAIT CONFIG => IDLE", 1234, None),
        (
            " ets Jan  8 2013,rst cause:2, boot mode:(3,7)",
            " ets Jan  8 2013,rst cause:2, boot mode:(3,7)",
            None,
            None,
        ),
        ("value[3] = 5", "value[3] = 5", None, None),
        ("[12]x", "[12]x", None, None),
        ("    ___  __          __", "    ___  __          __", None, None),
        ("\x1b[0;31mE (1) wifi: boom\x1b[0m", "E (1) wifi: boom", None, None),
        ("[5] text\r\n", "text", 5, None),
    ],
)
def test_parse_line(raw: str, text: str, millis: int | None, host_stamp: str | None) -> None:
    line = parse_line(raw)
    assert (line.text, line.millis, line.host_stamp) == (text, millis, host_stamp)
    assert line.raw == raw.rstrip("\r\n")


def test_format_log_line_is_what_the_firmware_prints() -> None:
    assert format_log_line(1234, "INIT => WAIT_CONFIG") == b"[1234] INIT => WAIT_CONFIG\r\n"
    assert format_log_line(0, "") == b"[0] \r\n"
    assert format_log_line(2**32 + 5, "wrapped") == b"[5] wrapped\r\n"
    with pytest.raises(ValueError, match="millis"):
        format_log_line(-1, "x")
    assert render_state_change(S.INIT, S.WAIT_CONFIG) == "INIT => WAIT_CONFIG"


@given(
    st.integers(0, 2**32 - 1),
    st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n"), max_size=80),
)
def test_formatted_lines_parse_back(millis: int, text: str) -> None:
    raw = format_log_line(millis, text).decode()
    line = parse_line(split_lines(raw)[0])
    assert (line.millis, line.text) == (millis, text)


# ------------------------------------------------------------------------------------------------------------
# LineSplitter

STREAM = b"[1] a\r\n[2] b\r\n\r\n[3] c\rX\nY\r\n\xe2\x80\xa6 tail"
STREAM_LINES = ["[1] a", "[2] b", "", "[3] c", "X", "Y"]


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[str]:
    out: list[str] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out


def test_splitter_whole_stream() -> None:
    splitter = LineSplitter()
    assert splitter.feed(STREAM) == STREAM_LINES
    assert splitter.flush() == "… tail"
    assert splitter.flush() is None


def test_splitter_every_split_in_two_and_three_gives_the_same_lines() -> None:
    for i, j in itertools.combinations_with_replacement(range(len(STREAM) + 1), 2):
        splitter = LineSplitter()
        lines = feed_all(splitter, [STREAM[:i], STREAM[i:j], STREAM[j:]])
        assert lines == STREAM_LINES, (i, j)
        assert splitter.flush() == "… tail", (i, j)


def test_splitter_byte_by_byte() -> None:
    splitter = LineSplitter()
    assert feed_all(splitter, [bytes([b]) for b in STREAM]) == STREAM_LINES


def test_crlf_split_across_feeds_is_one_terminator() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"[1] a\r") == ["[1] a"]
    assert splitter.feed(b"\n") == []
    assert splitter.feed(b"\n") == [""]  # a second LF is a real empty line
    assert splitter.feed(b"a\rb\r") == ["a", "b"]
    assert splitter.feed(b"") == []
    assert splitter.feed(b"\nc\n") == ["c"]


def test_splitter_garbage_bytes_survive() -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"\xff\xfe[12] ok\r\n\x00\x80abc\n\xc3\n")
    assert lines == ["\ufffd\ufffd[12] ok", "\x00\ufffdabc", "\ufffd"]
    assert parse_line(lines[0]).millis == 12


def test_splitter_joins_utf8_split_across_feeds() -> None:
    splitter = LineSplitter()
    data = "Connecting to WiFi: Café…\n".encode()
    cut = data.index(b"\xa6")  # in the middle of the ellipsis
    assert splitter.feed(data[:cut]) == []
    assert splitter.feed(data[cut:]) == ["Connecting to WiFi: Café…"]


def test_one_megabyte_line_is_emitted_in_marked_pieces() -> None:
    splitter = LineSplitter()
    big = b"A" * (1024 * 1024)
    lines: list[str] = []
    for start in range(0, len(big), 4096):
        lines += splitter.feed(big[start : start + 4096])
    lines += splitter.feed(b"\r\n[5] next\r\n")
    pieces, rest = lines[:-1], lines[-1]
    assert rest == "[5] next"
    assert len(pieces) == 16
    assert all(p == "A" * 65536 + TRUNCATED_MARK for p in pieces[:-1])
    assert pieces[-1] == "A" * 65536
    assert sum(len(p.removesuffix(TRUNCATED_MARK)) for p in pieces) == len(big)
    assert splitter.overflowed_lines == 1


def test_one_megabyte_line_at_once_and_unterminated() -> None:
    splitter = LineSplitter(max_line=1000)
    lines = splitter.feed(b"B" * 1_000_001)
    assert len(lines) == 1000 and all(line.endswith(TRUNCATED_MARK) for line in lines)
    assert splitter.flush() == "B"
    assert splitter.overflowed_lines == 1
    splitter.feed(b"C" * 1001 + b"\n")
    assert splitter.overflowed_lines == 2


def test_overlong_line_is_not_cut_inside_a_character() -> None:
    splitter = LineSplitter(max_line=8)
    lines = splitter.feed(("aaaaaaa" + "é" * 3 + "\n").encode())
    assert lines == ["aaaaaaa" + TRUNCATED_MARK, "ééé"]
    assert "\ufffd" not in "".join(lines)


def test_split_lines_matches_the_splitter() -> None:
    text = STREAM.decode("utf-8") + "\n"
    assert split_lines(text) == [*STREAM_LINES, "… tail"]
    assert split_lines("") == []


# ------------------------------------------------------------------------------------------------------------
# Real logs


def test_log_02_esp8266_provisioning_then_cloud() -> None:
    events = parse_log(read_log("02-esp8266-v1.1.0-provisioned-connects-truncated.log"))
    assert changes(events) == [
        (S.INIT, S.WAIT_CONFIG),
        (S.WAIT_CONFIG, S.CONFIGURING),
        (S.CONFIGURING, S.SWITCH_TO_STA),
        (S.SWITCH_TO_STA, S.CONNECTING_NET),
        (S.CONNECTING_NET, S.CONNECTING_CLOUD),
    ]
    others = [e for e in events if not isinstance(e, (StateChange, DeviceBanner))]
    assert others == [
        LibraryBanner("1.1.0", "ESP8266"),
        ApSsid("Blynk TempSensB04-8E17E"),
        ApIp("192.168.4.1"),
        ApUrl("blynk.setup"),
        SendingBoardInfo(),
        ApplyingConfig(),
        WifiCredentials("XXXXX", "XXXXX"),
        CloudTarget("QcS8leMqMtcCBZVTaq-M4fnGB3av6BLS", "blynk.cloud", 443),
        SwitchingToSta(),
        ConnectingWifi("XXXXX"),
        GotIp("192.168.0.108", static=False),
        ConnectingTo("blynk.cloud", 443),
    ]
    banner = {e.field: e.value for e in events if isinstance(e, DeviceBanner)}
    assert banner["Product"] == "TempSensB04"
    assert banner["MAC"] == "EC:FA:BC:93:C0:02"
    assert banner["Boot Mode"] == "1"
    assert banner["Firmware"] == "0.1.0 (build Jan  2 2023 16:45:09)"
    assert len(banner) == 12
    switching = next(e for e in events if isinstance(e, SwitchingToSta))
    assert switching.line.millis == 34157 and switching.line.raw == "+[34157] Switching to STA..."


def test_log_05_button_reset_with_idf_line_interleaved() -> None:
    events = parse_log(read_log("05-esp32-huzzah32-button-reset-config-idf-error-interleaved.log"))
    assert events == [
        ButtonHoldHint(),
        ResettingConfig(),
        ConfigStored(),
        StateChange(S.RESET_CONFIG, S.WAIT_CONFIG),  # no line ever entered RESET_CONFIG
        PlatformLog(
            "idf",
            "E",
            "phy_init",
            "esp_phy_load_cal_data_from_nvs: NVS has not been initialized. "
            "Call nvs_flash_init before starting WiFi/BT.",
        ),
        ApSsid("Blynk BackpAQV3-3E796"),
        ApIp("192.168.4.1"),
        ApUrl("blynk.setup"),
    ]
    assert events[4].line.millis is None
    assert [e.line.millis for e in events[:4]] == [37471, 38039, 38042, 38297]


def test_log_06_ota_then_crash_with_serial_monitor_stamps() -> None:
    events = parse_log(read_log("06-esp32-ota-upgrade-crash-reboot-serialmonitor-timestamps-truncated.log"))
    assert events == [
        Disconnected(),
        StateChange(S.RUNNING, S.OTA_UPGRADE),
        OtaUrl(
            "http://ny3.blynk.cloud/static/fw_3148441001967791257_-838595071.bin?token=4uUfCoSfmqnv6GDlRMAOe-2yK651jG"
        ),
        CrashMarker("backtrace"),
        RomBoot(None),
        RomBoot("0xc (SW_CPU_RESET)"),
        PlatformLog("arduino", "D", "WiFiGeneric.cpp:374", "_eventCallback(): Event: 0 - WIFI_READY"),
    ]
    assert events[1].line.host_stamp == "18:46:51.156"
    assert events[1].line.millis == 2296346
    assert events[4].line.host_stamp == "18:46:56.739"


def test_log_10_wifi_failure_reboot_loop() -> None:
    events = parse_log(read_log("10-proto-edgent-blynkboard-esp8266-0.4.x-wifi-fail-error-reboot-loop.log"))
    boot = [
        RomBoot("2"),
        DeviceBanner("Hardware", "v1.0.0"),
        DeviceBanner("Firmware", "v1.0.1"),
        StateChange(S.WAIT_CONFIG, S.CONNECTING_NET),  # older firmware: no INIT
        ConnectingWifi("Dom2"),
    ]
    failure = [StateChange(S.CONNECTING_NET, S.ERROR), RestartingAfterError()]
    assert events == failure + boot + failure + boot
    assert sum(isinstance(e, RestartingAfterError) for e in events) == 2
    assert sum(isinstance(e, RomBoot) for e in events) == 2


def test_log_14_provisioning_then_exception() -> None:
    events = parse_log(read_log("14-proto-edgent-template-esp8266-0.5.1-provisioning-then-exception-truncated.log"))
    assert events == [
        DeviceBanner("Hardware", "v1.0.0"),
        DeviceBanner("Firmware", "v1.0.1"),
        ApSsid("Our Product"),
        ApIp("192.168.4.1"),
        ApUrl("our-product.cc"),
        ButtonHoldHint(),
        StateChange(S.WAIT_CONFIG, S.CONFIGURING),
        WifiCredentials("Home", "******"),
        CloudTarget("4f37d21686834f46b9cd736f8676e20d", "server.blynk.cc", 8442),
        StateChange(S.CONFIGURING, S.SWITCH_TO_STA),
        SwitchingToSta(),
        StateChange(S.SWITCH_TO_STA, S.CONNECTING_NET),
        ConnectingWifi("Home"),  # the paste's trailing space is not part of the SSID
        CrashMarker("exception", "0"),
        CrashMarker("stack"),
    ]


def test_synthetic_head_esp32_first_provisioning_through_the_splitter() -> None:
    data = (LOGS / "synthetic-esp32-head-first-provisioning.log").read_bytes()
    splitter = LineSplitter()
    lines = [line for start in range(0, len(data), 7) for line in splitter.feed(data[start : start + 7])]
    assert splitter.flush() is None
    assert all("\r" not in line and "\n" not in line for line in lines)
    events = [e for e in (parse_event(parse_line(line)) for line in lines) if e is not None]
    assert changes(events) == [
        (S.INIT, S.WAIT_CONFIG),
        (S.WAIT_CONFIG, S.CONFIGURING),
        (S.CONFIGURING, S.SWITCH_TO_STA),
        (S.SWITCH_TO_STA, S.CONNECTING_NET),
        (S.CONNECTING_NET, S.CONNECTING_CLOUD),
        (S.CONNECTING_CLOUD, S.RUNNING),
    ]
    assert events[:3] == [RomBoot(None), RomBoot("0x1 (POWERON_RESET)"), ConfigReadFailed()]
    assert LibraryBanner("1.4.0", "ESP32") in events
    banner = {e.field: e.value for e in events if isinstance(e, DeviceBanner)}
    assert banner == {
        "Device": "Blynk Device-1W7R",
        "Firmware": "0.1.0 (build Apr 25 2026 10:00:00)",
        "Platform": "ESP32 @ 240MHz",
        "Chip rev": "3",
        "SDK": "v4.4.7-dirty",
        "Flash": "4096K",
        "Free mem": "241208",
    }
    tail = events[events.index(StateChange(S.INIT, S.WAIT_CONFIG)) :]
    assert [e for e in tail if not isinstance(e, StateChange)] == [
        ApUrl("blynk.setup"),
        SendingBoardInfo(),
        ScanningNetworks(),
        FoundNetworks(3),
        ApplyingConfig(),
        WifiCredentials("LabNet", "correct horse"),
        CloudTarget("Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj", "blynk.cloud", 443),
        SwitchingToSta(),
        ConnectingWifi("LabNet"),
        GotIp("192.168.50.23", static=False),
        ConnectingTo("blynk.cloud", 443),
        Ready(12),
        ConfigStored(),
    ]
    assert tail[0].line.millis == 1041


def test_synthetic_forum_damage() -> None:
    events = parse_log(read_log("synthetic-forum-damage.log"))
    assert changes(events) == [
        (S.INIT, S.WAIT_CONFIG),
        (S.WAIT_CONFIG, S.CONFIGURING),
        (S.CONFIGURING, S.SWITCH_TO_STA),
        (S.SWITCH_TO_STA, S.CONNECTING_NET),
        (S.CONNECTING_NET, S.CONNECTING_CLOUD),
        (S.CONNECTING_CLOUD, S.RUNNING),
    ]
    assert [e for e in events if not isinstance(e, StateChange)] == [
        ApUrl("blynk.setup"),
        SendingBoardInfo(),
        ApplyingConfig(),
        WifiCredentials("xxxx", "xxxx"),
        CloudTarget("XXXXX", "blynk.cloud", 443),
        SwitchingToSta(),
        PlatformLog("arduino", "D", "WiFiGeneric.cpp:374", "_eventCallback(): Event: 7 - STA_GOT_IP"),
        GotIp("192.168.0.108", static=False),
        ConnectingTo("blynk.cloud", 443),
        Ready(8),
    ]
    first = events[0]
    assert (first.line.host_stamp, first.line.millis) == ("18:02:11.010", 639)


# ------------------------------------------------------------------------------------------------------------
# One line, one event


ONE_LINE_EVENTS: list[tuple[str, LogEvent]] = [
    ("[1] INIT => WAIT_CONFIG", StateChange(S.INIT, S.WAIT_CONFIG)),
    ("[1] INIT => CONNECTING_NET", StateChange(S.INIT, S.CONNECTING_NET)),
    ("I (4512) edgent: State: WAIT_CONFIG => CONFIGURING", StateChange(S.WAIT_CONFIG, S.CONFIGURING)),
    ("State transition: CONNECTING_CLOUD => RUNNING", StateChange(S.CONNECTING_CLOUD, S.RUNNING)),
    (
        "[  1234][I][BlynkEdgent] WAIT CONFIG => CONNECTING NET",
        StateChange(S.WAIT_CONFIG, S.CONNECTING_NET),
    ),
    (
        "[   88][I][BlynkEdgent.cpp:120] run(): CONNECTING CLOUD => RUNNING",
        StateChange(S.CONNECTING_CLOUD, S.RUNNING),
    ),
    ("[9] RUNNING => OTA UPGRADE", StateChange(S.RUNNING, S.OTA_UPGRADE)),
    (
        "[9] RESET_CONFIG => WAIT_CONFIG  (after holding the button)",
        StateChange(S.RESET_CONFIG, S.WAIT_CONFIG),
    ),
    ("[9] Ready (ping: 12ms).", Ready(12)),
    ("[9] Ready (ping: 3ms)", Ready(3)),
    ("[11] Invalid auth token", InvalidToken()),
    ("[11] Invalid token", InvalidToken()),
    ("[9] Last error code: 701", LastError(701)),
    ("[9] Connect failed. code: 4", ConnectFailed(4)),
    ("[6009] Login timeout", LoginTimeout()),
    ("[58209] Heartbeat timeout", HeartbeatTimeout()),
    ("[58209] Heartbeat timeout: 58209, 6009, 52000", HeartbeatTimeout()),
    ("[9] Disconnected", Disconnected()),
    ("[9] Redirecting to ny3.blynk.cloud:443", Redirecting("ny3.blynk.cloud", 443)),
    ("[1] Connecting to 127.0.0.1:18080", ConnectingTo("127.0.0.1", 18080)),
    ("[1] Connecting to 10.0.0.5", ConnectingTo("10.0.0.5", None)),
    ("[41622] Restarting after error.", RestartingAfterError()),
    ("[9] Configuration stored to flash", ConfigStored()),
    ("[9] Config write failed", ConfigWriteFailed()),
    ("[9] Using default config.", ConfigDefault()),
    ("[9] Config read failed", ConfigReadFailed()),
    ("[9] Resetting configuration!", ResettingConfig()),
    ("[9] Hold the button for 10 seconds to reset configuration...", ButtonHoldHint()),
    ("[9] Applying configuration...", ApplyingConfig()),
    ("[9] WiFi SSID: My Home Net Pass: p@ss word", WifiCredentials("My Home Net", "p@ss word")),
    ("[9] WiFi SSID:  Pass: ", WifiCredentials("", "")),
    ("[9] Blynk cloud: " + "a" * 32 + " @ blynk.cloud:443", CloudTarget("a" * 32, "blynk.cloud", 443)),
    ("[9] Blynk cloud: tok @ 192.168.1.2:8080abc", CloudTarget("tok", "192.168.1.2", 8080)),
    ("[9] Blynk cloud: tok @ blynk.cloud:", CloudTarget("tok", "blynk.cloud", 0)),
    ("[9] Configuration invalid", ConfigInvalid()),
    ("[9] Invalid configuration of TEMPLATE_ID / TEMPLATE_NAME", InvalidTemplateConfig()),
    ("[9] Firmware is preprovisioned", Preprovisioned()),
    ("[9] Sending board info...", SendingBoardInfo()),
    ("[9] Scanning networks...", ScanningNetworks()),
    ("[9] Found networks: 0", FoundNetworks(0)),
    ("[9] AP URL:  blynk.setup", ApUrl("blynk.setup")),
    ("[9] AP URL: blynk.setup", ApUrl("blynk.setup")),
    ("[9] WiFi AP config page: blynk.setup", ApUrl("blynk.setup")),
    ("[9] AP SSID: Blynk Device-1W7R", ApSsid("Blynk Device-1W7R")),
    ("[9] AP IP:   192.168.4.1", ApIp("192.168.4.1")),
    ("[9] Switching to STA...", SwitchingToSta()),
    ("[9] Connecting to WiFi: My Net", ConnectingWifi("My Net")),
    ("[9] Using Static IP: 192.168.1.10", GotIp("192.168.1.10", static=True)),
    ("[9] Using Dynamic IP: 192.168.1.77", GotIp("192.168.1.77", static=False)),
    ("[9] Failed to configure Static IP", StaticIpFailed()),
    ("[9] Timeout", Timeout()),
    ("[9] Firmware update URL: https://x.example/fw.bin", OtaUrl("https://x.example/fw.bin")),
    ("[9] OTA: http://x.example/fw.bin", OtaUrl("http://x.example/fw.bin")),
    ("[9] === Update successfully completed. Rebooting.", OtaSuccess()),
    ("[9] Update Success. Rebooting", OtaSuccess()),
    ("[9] Update failed.", OtaFailed("Update failed.")),
    ("[9] Error #6", OtaFailed("Error #6")),
    ("[9] Server: maintenance at 03:00", ServerMessage("maintenance at 03:00")),
    ("Blynk v1.4.0 on ESP32-C3", LibraryBanner("1.4.0", "ESP32-C3")),
    (" Device:    Blynk Device-1W7R", DeviceBanner("Device", "Blynk Device-1W7R")),
    (" Token:     abcd - •••• - •••• - ••••", DeviceBanner("Token", "abcd - •••• - •••• - ••••")),
    (" Boot ver:  31", DeviceBanner("Boot ver", "31")),
    ("ets Jun  8 2016 00:22:57", RomBoot(None)),
    ("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", RomBoot("0x1 (POWERON_RESET)")),
    ("ESP-ROM:esp32c3-api1-20210207", RomBoot(None)),
    (" ets Jan  8 2013,rst cause:4, boot mode:(3,6)", RomBoot("4")),
    ("Exception (28):", CrashMarker("exception", "28")),
    (
        "Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.",
        CrashMarker("panic", "Core  1 panic'ed (LoadProhibited). Exception was unhandled."),
    ),
    ("Backtrace: 0x4008889c:0x3ffbfac0", CrashMarker("backtrace")),
    (">>>stack>>>", CrashMarker("stack")),
    ("abort() was called at PC 0x400d2c9b on core 1", CrashMarker("abort")),
    ("Soft WDT reset", CrashMarker("soft_wdt")),
    ("Brownout detector was triggered", CrashMarker("brownout")),
    ("W (120) wifi:unknown", PlatformLog("idf", "W", "wifi", "unknown")),
    (
        "[E][WiFiClient.cpp:258] connect(): socket error",
        PlatformLog("arduino", "E", "WiFiClient.cpp:258", "connect(): socket error"),
    ),
    # Blynk.NCP host sketch (Edgent_NCP.ino:74; banner as in Blynk-Technologies/Blynk-NCP-Example-Arduino#7)
    ("[3032] State: Configuration", NcpState(BlynkState.CONFIG, S.WAIT_CONFIG)),
    ("[3462]         /___/ v1.3.0 on Nano 33 IoT", LibraryBanner("1.3.0", "Nano 33 IoT")),
]


@pytest.mark.parametrize(("raw", "event"), ONE_LINE_EVENTS)
def test_event_of_one_line(raw: str, event: LogEvent) -> None:
    parsed = parse_event(parse_line(raw))
    assert parsed == event
    assert type(parsed) is type(event)
    assert parsed is not None and parsed.line.raw == raw


def test_every_event_type_has_a_one_line_example() -> None:
    kinds = {
        value
        for value in vars(serial_log).values()
        if isinstance(value, type) and issubclass(value, LogEvent) and value is not LogEvent
    }
    assert kinds == {type(event) for _, event in ONE_LINE_EVENTS}


@pytest.mark.parametrize(
    ("raw", "event"),
    [
        ("[34157] Switching to STA…", SwitchingToSta()),
        ("[31500] Sending board info…", SendingBoardInfo()),
        ("[9] Hold the button for 10 seconds to reset configuration…", ButtonHoldHint()),
        ("• [639] INIT => WAIT_CONFIG", StateChange(S.INIT, S.WAIT_CONFIG)),
        ("* [639] INIT => WAIT_CONFIG", StateChange(S.INIT, S.WAIT_CONFIG)),
        ("**[639] INIT => WAIT_CONFIG**", StateChange(S.INIT, S.WAIT_CONFIG)),
        ("[639] • INIT => WAIT_CONFIG", StateChange(S.INIT, S.WAIT_CONFIG)),
        ("[639] INIT=>WAIT_CONFIG", StateChange(S.INIT, S.WAIT_CONFIG)),
        ("[1751] AP URL: blynk.setup", ApUrl("blynk.setup")),
        ("[1750] AP IP: 192.168.4.1", ApIp("192.168.4.1")),
        ("[1] Ready (ping: 12 ms).", Ready(12)),
        ("[50308] Connecting to WiFi: Home ", ConnectingWifi("Home")),
        ("[1] Timeout <- after 50 s", Timeout()),
        ("[1] Restarting after error. and then it loops", RestartingAfterError()),
    ],
)
def test_forum_damage_is_survived(raw: str, event: LogEvent) -> None:
    assert parse_event(parse_line(raw)) == event


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[388] ",
        "    ___  __          __",
        "        /___/ v1.4.0",
        "[396] --------------------------",
        "[38297] nvs_flash_erase: Success",
        "load 0x4010f000, len 1384, room 16 ",
        "3ffffd40:  00000090 3fff1a34 3fff1f8c 401043d1  ",
        "ELF file SHA256: 0000000000000000",
        "[1] IDLE => WAIT CONFIG",  # Edgent-2 state the legacy machine does not have
        "[1] temp => 25",
        "[1] Running => Error",  # the firmware prints upper case only
        "[1] WAIT_CONFIG => ",
        "[1] Connecting to My Home Net",  # an SSID with spaces is not a host
        "Iniciando App",
        "here it hangs for about 30 seconds",
    ],
)
def test_lines_without_events(raw: str) -> None:
    assert parse_event(parse_line(raw)) is None


def test_event_equality_ignores_the_line_but_keeps_it() -> None:
    a = parse_event(parse_line("[1] INIT => WAIT_CONFIG"))
    b = parse_event(parse_line("18:00:00.000 -> [77] INIT => WAIT_CONFIG"))
    assert a == b == StateChange(S.INIT, S.WAIT_CONFIG)
    assert a is not None and b is not None
    assert a.line.millis == 1 and b.line.millis == 77
    assert StateChange(S.INIT, S.WAIT_CONFIG).line is NO_LINE
    different: list[LogEvent] = [Disconnected(), LoginTimeout()]
    assert different[0] != different[1]
    assert "line" not in repr(a)


def test_log_line_is_frozen_and_slotted() -> None:
    line = LogLine(raw="x", text="x", millis=None, host_stamp=None)
    assert not hasattr(line, "__dict__")
    with pytest.raises(AttributeError):
        line.text = "y"  # type: ignore[misc]


def test_parse_log_accepts_any_line_ending() -> None:
    text = "[1] INIT => WAIT_CONFIG\r\n[2] WAIT_CONFIG => CONFIGURING\r[3] Sending board info...\n"
    assert parse_log(text) == [
        StateChange(S.INIT, S.WAIT_CONFIG),
        StateChange(S.WAIT_CONFIG, S.CONFIGURING),
        SendingBoardInfo(),
    ]


# ------------------------------------------------------------------------------------------------------------
# Masking


@pytest.mark.parametrize(
    ("value", "keep", "masked"),
    [
        ("QcS8leMqMtcCBZVTaq-M4fnGB3av6BLS", 4, "QcS8…"),
        ("abcd", 4, "…"),
        ("abc", 4, "…"),
        ("hunter22", 0, "…"),
        ("", 4, ""),
    ],
)
def test_mask_secret(value: str, keep: int, masked: str) -> None:
    assert mask_secret(value, keep) == masked


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (
            "[34152] Blynk cloud: QcS8leMqMtcCBZVTaq-M4fnGB3av6BLS @ blynk.cloud:443",
            "[34152] Blynk cloud: QcS8… @ blynk.cloud:443",
        ),
        ("[9] Blynk cloud: invalid token @ blynk.cloud:443", "[9] Blynk cloud: inva… @ blynk.cloud:443"),
        ("[24410] WiFi SSID: LabNet Pass: correct horse", "[24410] WiFi SSID: LabNet Pass: …"),
        ("[1] WiFi SSID: open Pass: ", "[1] WiFi SSID: open Pass: "),
        (
            "18:46:51.204 -> [2296347] Firmware update URL: http://ny3.blynk.cloud/fw.bin?token=4uUfCoSfmqnv6GDlRM&x=1",
            "18:46:51.204 -> [2296347] Firmware update URL: http://ny3.blynk.cloud/fw.bin?token=4uUf…&x=1",
        ),
        (">connect Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj LabNet hunter22", ">connect Zx9Q… LabNet …"),
        ("connect shorttoken LabNet", "connect shor… LabNet"),
        (
            "GET /config?ssid=LabNet&pass=hunter22&blynk=Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj&host=blynk.cloud",
            "GET /config?ssid=LabNet&pass=…&blynk=Zx9Q…&host=blynk.cloud",
        ),
        (
            '{"ssid": "LabNet", "pass": "hunter22", "blynk": "abc"}',
            '{"ssid": "LabNet", "pass": "…", "blynk": "…"}',
        ),
        (
            "[1] <[1D|00|01|00|20]Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj",
            "[1] <[1D|00|01|00|20]Zx9Q…",
        ),
        (
            "[424] FW info:  469056/2674688, MD5:c7cb58cd3f618ac2d92c9446b7d81960",
            "[424] FW info:  469056/2674688, MD5:c7cb58cd3f618ac2d92c9446b7d81960",
        ),
        ("[1] Connect failed. code: 9", "[1] Connect failed. code: 9"),
        ("[1] Connecting to blynk.cloud:443", "[1] Connecting to blynk.cloud:443"),
    ],
)
def test_mask_line(line: str, masked: str) -> None:
    assert mask_line(line) == masked


@pytest.mark.parametrize(
    "name",
    [
        "02-esp8266-v1.1.0-provisioned-connects-truncated.log",
        "14-proto-edgent-template-esp8266-0.5.1-provisioning-then-exception-truncated.log",
        "synthetic-esp32-head-first-provisioning.log",
    ],
)
def test_no_secret_survives_masking_a_real_log(name: str) -> None:
    text = read_log(name)
    secrets = [e.token for e in parse_log(text) if isinstance(e, CloudTarget)]
    # (log 02 pasted "XXXXX" for both SSID and password; the SSID is no secret and stays)
    secrets += [e.password for e in parse_log(text) if isinstance(e, WifiCredentials) and e.password != e.ssid]
    assert secrets
    masked = "\n".join(mask_line(line) for line in split_lines(text))
    for secret in secrets:
        assert secret not in masked
    assert len(split_lines(masked)) == len(split_lines(text))


@given(
    st.text(alphabet="-_ABCxyz0189", min_size=32, max_size=32),
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), min_size=5, max_size=63),
)
def test_tokens_and_passwords_never_appear_whole(token: str, password: str) -> None:
    assert token not in mask_line(f"[1] Blynk cloud: {token} @ blynk.cloud:443")
    assert token not in mask_line(f"noise {token} noise")
    masked = mask_line(f"[1] WiFi SSID: net Pass: {password}")
    assert masked == "[1] WiFi SSID: net Pass: …"

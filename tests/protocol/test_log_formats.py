"""Log-format profiles and the line accounting: every line of every log in the corpus is read as a state change,
a banner line, a known line or an unknown line that is kept; ESP-IDF Edgent's lines map to the lab's states."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.protocol.log_formats import (
    ARDUINO,
    AUTO,
    ESP_IDF,
    EdgentStarted,
    LineKind,
    LogReader,
    account,
    detect_format,
    is_logo_art,
    log_format,
    read_log,
)
from provlab.protocol.serial_log import (
    ConfigStored,
    ConnectingWifi,
    LibraryBanner,
    OtaSuccess,
    OtaUrl,
    PlatformLog,
    StateChange,
    parse_event,
    parse_line,
    split_lines,
)
from provlab.protocol.states import EdgentState as S

LOGS = Path(__file__).parent / "logs"
ALL_LOGS = sorted(p.name for p in LOGS.glob("*.log"))

UNKNOWN_LINES: dict[str, list[str]] = {
    "05-esp32-huzzah32-button-reset-config-idf-error-interleaved.log": [
        "Initialization finished",
        "[38297] nvs_flash_erase: Success",
    ],
    "06-esp32-ota-upgrade-crash-reboot-serialmonitor-timestamps-truncated.log": ["18:46:57.106 -> Iniciando App"],
    "synthetic-forum-damage.log": ["here it hangs for about 30 seconds"],
}
"""The lines of the corpus provlab knows nothing about (sketch output, a user's remark): kept, listed here so a
line that stops being understood, or starts being, shows up."""


def read(name: str) -> str:
    return (LOGS / name).read_bytes().decode("utf-8", "replace")


def test_the_corpus_has_every_real_log_and_the_new_fixtures() -> None:
    shared = Path("/work/shared/data/edgent-logs")
    real = {p.name for p in shared.glob("*.log")} if shared.is_dir() else set()
    assert real <= set(ALL_LOGS)
    assert {"synthetic-esp-idf-edgent-1.0.0.log", "synthetic-forum-banners.log"} <= set(ALL_LOGS)


@pytest.mark.parametrize("name", ALL_LOGS)
def test_every_line_of_every_log_is_accounted_for(name: str) -> None:
    text = read(name)
    lines_in = split_lines(text)
    read_lines = read_log(text)
    counts = account(read_lines)
    assert [r.number for r in read_lines] == list(range(1, len(lines_in) + 1))
    assert [r.line.raw for r in read_lines] == [raw.rstrip("\r\n") for raw in lines_in]
    assert sum(counts.values()) == len(lines_in)
    assert set(counts) <= set(LineKind)
    unknown = [r.line.raw for r in read_lines if r.kind is LineKind.UNKNOWN]
    assert unknown == UNKNOWN_LINES.get(name, [])
    for r in read_lines:  # a line with an event is never "unknown", and state lines are StateChange
        assert (r.kind is LineKind.STATE_CHANGE) == isinstance(r.event, StateChange)
        assert r.event is None or r.kind is not LineKind.UNKNOWN


@pytest.mark.parametrize("name", ALL_LOGS)
def test_every_state_line_of_the_corpus_is_a_state_change(name: str) -> None:
    """Any line with `=>` between two upper-case state names of either family is read as a state change, except
    the ESP-IDF Wi-Fi manager's own states (`nm_wifi.c`)."""
    states = {s.value for s in S} | {"IDLE", "WAIT CONFIG", "CONNECTING NET", "CONNECTING CLOUD"}
    for r in read_log(read(name)):
        text = r.line.text
        left, arrow, right = text.partition("=>")
        looks_like_state = arrow and any(left.rstrip(" *").endswith(s) for s in states)
        looks_like_state = looks_like_state and any(right.strip(" *").startswith(s) for s in states)
        if looks_like_state and "nm_wifi.c" not in text:
            assert r.kind is LineKind.STATE_CHANGE, r.line.raw


# --- ESP-IDF Edgent -------------------------------------------------------------------------------------


IDLE_NET = ("IDLE", "CONNECTING_NET")


def idf(raw: str) -> StateChange | None:
    event = ESP_IDF.parse(parse_line(raw))
    assert event is None or isinstance(event, StateChange)
    return event


@pytest.mark.parametrize(
    ("raw", "old", "new", "printed"),
    [
        ("I (771) edgent.c: State: \x1b[1mIDLE => CONNECTING_NET\x1b[0m", S.INIT, S.CONNECTING_NET, IDLE_NET),
        ("I (771) edgent.c: State: IDLE => CONNECTING_NET", S.INIT, S.CONNECTING_NET, IDLE_NET),
        ("I (1931) edgent.c: State: CONNECTING_NET => CONNECTING_CLOUD", S.CONNECTING_NET, S.CONNECTING_CLOUD, None),
        ("I (2981) edgent.c: State: CONNECTING_CLOUD => RUNNING", S.CONNECTING_CLOUD, S.RUNNING, None),
        ("I (9) edgent.c: State: WAIT_CONFIG => IDLE", S.WAIT_CONFIG, S.INIT, ("WAIT_CONFIG", "IDLE")),
        ("I (9) edgent.c: State: RUNNING => RESET_CONFIG", S.RUNNING, S.RESET_CONFIG, None),
        (
            "\x1b[0;32mI (9) edgent.c: State: \x1b[1mRUNNING => OTA_UPGRADE\x1b[0m\x1b[0m",
            S.RUNNING,
            S.OTA_UPGRADE,
            None,
        ),
        ("18:00:00.000 -> I (9) edgent.c: State: IDLE => WAIT_CONFIG", S.INIT, S.WAIT_CONFIG, ("IDLE", "WAIT_CONFIG")),
        ("I (9) ./components/blynk__edgent/src_lib/edgent.c: State: ERROR => IDLE", S.ERROR, S.INIT, ("ERROR", "IDLE")),
    ],
)
def test_esp_idf_state_lines_map_to_lab_states_and_keep_the_printed_names(
    raw: str, old: S, new: S, printed: tuple[str, str] | None
) -> None:
    event = idf(raw)
    assert event == StateChange(old, new)
    assert event is not None and event.printed == printed
    assert AUTO.parse(parse_line(raw)) == event


@pytest.mark.parametrize(
    "raw",
    [
        "D (40540) nm_wifi.c: State: \x1b[1mIDLE => SCANNING\x1b[0m",  # the Wi-Fi manager's own states
        "D (43901) nm_wifi.c: State: CONNECTING => CONNECTED",
        "I (9) edgent.c: State: IDLE => NOWHERE",
        "I (9) example: State: IDLE => RUNNING",  # not the library's line
    ],
)
def test_lines_that_look_like_esp_idf_state_changes_but_are_not(raw: str) -> None:
    event = ESP_IDF.parse(parse_line(raw))
    assert isinstance(event, PlatformLog) and event.kind == "idf"
    assert LogReader(ESP_IDF).read(raw).kind is LineKind.KNOWN


@pytest.mark.parametrize(
    ("raw", "event"),
    [
        (
            "I (771) edgent.c: Blynk.Edgent v1.0.0 initialized (device: \x1b[1mBlynk Demo-N1A9\x1b[0m)",
            EdgentStarted("1.0.0", "Blynk Demo-N1A9"),
        ),
        (
            "I (771) edgent.c: Blynk.Edgent initialized (device: Blynk Demo-N1A9)",
            EdgentStarted(None, "Blynk Demo-N1A9"),
        ),
        ("I (851) nm_wifi.c: Connecting to SSID:wifi BSSID 2c:c8:1b:xx:xx:xx CH:11", ConnectingWifi("wifi")),
        ("I (9) edgent.c: Config saved", ConfigStored()),
        ("I (9) ota.c: OTA start -> URL: https://x/fw.bin", OtaUrl("https://x/fw.bin")),
        ("I (9) ota.c: OTA successful!", OtaSuccess()),
        (
            "E (9) edgent.c: Entering ERROR state. Will reboot in 10s.",
            PlatformLog("idf", "E", "edgent.c", "Entering ERROR state. Will reboot in 10s."),
        ),
    ],
)
def test_esp_idf_edgent_lines(raw: str, event: object) -> None:
    assert ESP_IDF.parse(parse_line(raw)) == event


def test_the_arduino_format_knows_no_idle() -> None:
    """The Arduino profile is the legacy grammar: an ESP-IDF line with legacy state names is still a state change
    there, but IDLE is not a legacy state."""
    line = parse_line("I (771) edgent.c: State: IDLE => CONNECTING_NET")
    assert isinstance(ARDUINO.parse(line), PlatformLog)
    assert parse_event(line) == ARDUINO.parse(line)  # the Arduino profile is the existing grammar


def test_formats_by_name_and_by_detection() -> None:
    assert log_format("esp-idf") is log_format("IDF") is ESP_IDF
    assert log_format("arduino") is ARDUINO and log_format("auto") is AUTO
    with pytest.raises(ValueError, match="unknown log format 'zephyr'; known: auto, arduino, esp-idf"):
        log_format("zephyr")
    assert detect_format(split_lines(read("synthetic-esp-idf-edgent-1.0.0.log"))) is ESP_IDF
    for name in ALL_LOGS:
        if "esp-idf" not in name:
            assert detect_format(split_lines(read(name))) is ARDUINO, name


def test_device_millis_come_from_either_stamp() -> None:
    assert ESP_IDF.device_millis(parse_line("I (1931) edgent.c: State: A => B")) == 1931
    assert ESP_IDF.device_millis(parse_line("[639] INIT => WAIT_CONFIG")) == 639
    assert ARDUINO.device_millis(parse_line("I (1931) edgent.c: x")) is None
    assert ESP_IDF.device_millis(parse_line("ESP-ROM:esp32c3-api1-20210207")) is None


def test_the_esp_idf_fixture_walks_idle_to_running_and_reboots() -> None:
    read_lines = read_log(read("synthetic-esp-idf-edgent-1.0.0.log"))
    changes = [r.event for r in read_lines if isinstance(r.event, StateChange)]
    assert changes == [
        StateChange(S.INIT, S.WAIT_CONFIG),
        StateChange(S.WAIT_CONFIG, S.CONNECTING_NET),
        StateChange(S.CONNECTING_NET, S.CONNECTING_CLOUD),
        StateChange(S.CONNECTING_CLOUD, S.RUNNING),
        StateChange(S.RUNNING, S.OTA_UPGRADE),
        StateChange(S.INIT, S.CONNECTING_NET),
        StateChange(S.CONNECTING_NET, S.ERROR),
    ]
    assert [c.printed for c in changes if c.printed] == [("IDLE", "WAIT_CONFIG"), ("IDLE", "CONNECTING_NET")]


# --- banners, also as forums mangle them ----------------------------------------------------------------


def test_banners_with_spaces_in_the_platform_and_forum_damage() -> None:
    banners = [r.event for r in read_log(read("synthetic-forum-banners.log")) if isinstance(r.event, LibraryBanner)]
    assert [(b.version, b.platform) for b in banners] == [
        ("1.3.0", "Nano 33 IoT"),  # quoted with `> `, smart quote in the logo
        ("1.3.0", "MKR Vidor 4000"),  # backslashes lost, version wrapped after `/___/`
        ("1.4.0", "ESP32"),  # serial-monitor stamps
        ("1.2.0", "Arduino Nano 33"),  # wrapped inside the platform: the next line completes it
        ("1.2.0", "Arduino Nano 33 IoT"),
        ("1.4.0", "ESP32-S3"),  # no fancy logo
    ]


@pytest.mark.parametrize(
    ("raw", "platform"),
    [
        ("        /___/ v1.3.0 on Nano 33 IoT", "Nano 33 IoT"),
        ("        /___/ v1.3.0 on Nano 33 IoT  ", "Nano 33 IoT"),
        ("Blynk v1.3.0 on MKR Vidor 4000", "MKR Vidor 4000"),
        ("        /___/ v1.4.0 on TI CC3220", "TI CC3220"),  # BlynkDetectDevice.h's name for TI_CC3220
        ("        /___/ v1.4.0 on ESP32", "ESP32"),
    ],
)
def test_the_library_banner_platform_may_have_spaces(raw: str, platform: str) -> None:
    event = parse_event(parse_line(raw))
    assert isinstance(event, LibraryBanner) and event.platform == platform


@pytest.mark.parametrize(
    ("text", "logo"),
    [
        ("    ___  __          __", True),
        (" /____/_/\\_, /_//_/_/\\_\\", True),
        (" /____/_/_, /_//_/_/_", True),  # backslashes lost
        ("  / _  / / // / _ \\/  '_/", True),
        ("        /___/", True),
        ("__init__", False),
        ("[396] --------------------------", False),
        ("", False),
    ],
)
def test_logo_art(text: str, logo: bool) -> None:
    assert is_logo_art(text) is logo


def test_a_wrapped_platform_is_only_taken_right_after_an_unstamped_banner() -> None:
    reader = LogReader(ARDUINO)
    assert reader.read("[9] Ready (ping: 8ms).").kind is LineKind.KNOWN
    assert reader.read("IoT").kind is LineKind.UNKNOWN
    assert reader.read("        /___/ v1.3.0 on Nano 33").kind is LineKind.BANNER
    assert reader.read("").kind is LineKind.KNOWN
    assert reader.read("IoT").kind is LineKind.UNKNOWN  # a blank line in between: not a continuation


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("18:46:51.156 -> [2296346] RUNNING => OTA_UPGRADE", LineKind.STATE_CHANGE),  # Arduino IDE
        ("18:46:51.156 > [2296346] RUNNING => OTA_UPGRADE", LineKind.STATE_CHANGE),  # PlatformIO `time` filter
        ("18:46:51.156 > I (771) edgent.c: State: IDLE => CONNECTING_NET", LineKind.STATE_CHANGE),
        ("18:46:51.156 >         /___/ v1.3.0 on Nano 33 IoT", LineKind.BANNER),
        ("18:46:51.156 > ", LineKind.KNOWN),
    ],
)
def test_serial_monitor_stamps_of_either_ide(raw: str, kind: LineKind) -> None:
    read_line = LogReader().read(raw)
    assert read_line.kind is kind and read_line.line.host_stamp == "18:46:51.156"


def test_smart_quotes_outside_the_logo_are_kept() -> None:
    """An iPhone hotspot's name has a typographic apostrophe: the SSID stays as the board printed it."""
    event = AUTO.parse(parse_line("[35262] Connecting to WiFi: Bob’s iPhone"))
    assert event == ConnectingWifi("Bob’s iPhone")
    assert LogReader().read("  / _  / / // / _ \\/  ’_/").kind is LineKind.BANNER


@pytest.mark.parametrize(
    "text",
    ["Wrong Magic Byte", "Flash Read Failed", "Not Enough Space", "Could Not Activate The Firmware",
     "MD5 Check Failed", "Update Success. Rebooting"],
)  # fmt: skip
def test_the_update_librarys_error_strings_are_known_lines(text: str) -> None:
    """What `/update` prints through `DEBUG_PRINT(Update.errorString())` is a known line, not 'unknown, kept'."""
    read = LogReader(ARDUINO).read(f"[51234] {text}")
    assert read.kind is LineKind.KNOWN

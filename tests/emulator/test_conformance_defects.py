"""The conformance defects (issue #16.5): each is one decision point, documented, and they stack."""

from __future__ import annotations

from provlab.emulator.defects import FAITHFUL, Defect, behaviour_for
from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.edgent_http import ScanEntry
from provlab.protocol.states import ProvError


def test_at_least_25_defects_each_documented() -> None:
    assert len(Defect) >= 25
    assert all(defect.description for defect in Defect)


def test_config_field_defects_stack() -> None:
    args = {"ssid": "Home", "host": "fra1.blynk.cloud", "port": "80", "port_ssl": "443", "save": "1"}
    read = behaviour_for(["ignores-config-host", "reads-port-not-port-ssl", "ignores-save-flag"]).config_args(args)
    assert read == {"ssid": "Home", "port": "80", "port_ssl": "80"}
    assert FAITHFUL.config_args(args) == args


def test_log_defects_stack_and_leave_other_lines_alone() -> None:
    both = behaviour_for(["cloud-log-without-port", "no-button-hint-log"])
    assert both.log_text("Blynk cloud: abc @ blynk.cloud:443") == "Blynk cloud: abc @ blynk.cloud"
    assert both.log_text("Hold the button for 10 seconds to reset configuration...") is None
    assert both.log_text("AP URL:  blynk.setup") == "AP URL:  blynk.setup"


def test_value_defects_differ_from_the_faithful_firmware() -> None:
    assert FAITHFUL.net_connect_timeout_s() == 50 and behaviour_for(["net-timeout-30s"]).net_connect_timeout_s() == 30
    assert behaviour_for(["network-error-recorded-as-702"]).error_code(ProvError.NETWORK) is ProvError.CLOUD
    assert behaviour_for(["network-error-recorded-as-702"]).error_code(ProvError.TOKEN) is ProvError.TOKEN
    config = ConfigBlob.defaults("0.1.0")
    config.wifi_pass = "p" * 63
    assert len(behaviour_for(["password-truncated-in-flash"]).stored_config(config).wifi_pass) == 31
    assert len(config.wifi_pass) == 63  # RAM keeps the whole password


def test_info_without_template_drops_only_tmpl() -> None:
    body = b"mcu\x000.1.0\x00h-beat\x0040\x00tmpl\x00TMPL0PROVLAB"
    assert behaviour_for(["info-without-template"]).info_body(body) == b"mcu\x000.1.0\x00h-beat\x0040"


def test_unsorted_scan_keeps_scan_order() -> None:
    entries = [ScanEntry(f"N{i}", "AA:BB:CC:DD:EE:0" + str(i), rssi, "WPA2", 6) for i, rssi in enumerate((-80, -40))]
    faithful = b"".join(FAITHFUL.wifi_scan_pieces(entries))
    assert faithful.index(b"N1") < faithful.index(b"N0")
    unsorted = b"".join(behaviour_for(["wifi-scan-unsorted"]).wifi_scan_pieces(entries))
    assert unsorted.index(b"N0") < unsorted.index(b"N1") and unsorted.startswith(b"[\n")


def test_led_defects_change_only_the_pattern_they_name() -> None:
    from provlab.protocol.led import LedPattern
    from provlab.protocol.states import EdgentState as S

    def shown(defect: str, state: S, hold_ms: int | None = None) -> str:
        return str(behaviour_for([defect]).led_pattern(state, hold_ms))

    assert str(FAITHFUL.led_pattern(S.WAIT_CONFIG, None)) == "beat BLUE {50,500}"
    assert shown("led-config-mode-fast-blink", S.WAIT_CONFIG) == "beat BLUE {200,200}"
    assert shown("led-config-mode-fast-blink", S.WAIT_CONFIG, 4000) == "wave WHITE {1000}"
    assert shown("led-ignores-button-hold", S.WAIT_CONFIG, 11_000) == "beat BLUE {50,500}"
    assert str(FAITHFUL.led_pattern(S.WAIT_CONFIG, 11_000)) == "beat WHITE {100,100}"
    assert shown("led-running-not-shown", S.RUNNING) == "beat BLYNK {100,100}"
    assert shown("led-running-not-shown", S.ERROR) == "beat RED {80,100,80,1000}"
    swapped = behaviour_for(["led-red-green-swapped"])
    assert str(swapped.led_pattern(S.RUNNING, None)) == "wave MAGENTA {5000}"
    assert str(swapped.led_pattern(S.ERROR, None)) == "beat BLYNK {80,100,80,1000}"
    assert swapped.led_pattern(S.WAIT_CONFIG, None) == LedPattern.parse("beat BLUE {50,500}")  # blue stays blue


def test_a_defect_says_where_it_cannot_show() -> None:
    from provlab.emulator.profile import PROFILES

    esp32, wio, mqtt = (PROFILES[name]() for name in ("edgent-esp32", "edgent-wio-terminal", "edgent-esp32-mqtt"))
    assert [d for d in Defect if d.applies_to(esp32) is not None] == []
    led = Defect.LED_RUNNING_NOT_SHOWN
    assert led.applies_to(wio) == "edgent-wio-terminal's sketch never starts its LED indicator"
    assert "unpublished firmware (Blynk.NCP)" in (led.applies_to(PROFILES["edgent-ncp-mkr1010"]()) or "")
    assert "unpublished" in (Defect.PINGS_AFTER_45S.applies_to(PROFILES["edgent-ncp-nano33iot"]()) or "")
    assert Defect.PINGS_AFTER_45S.applies_to(mqtt) is not None and Defect.NEVER_SENDS_PINGS.applies_to(mqtt) is None


def test_softap_page_defects_change_only_what_they_name() -> None:
    from provlab.protocol.edgent_http import CONFIG_TRYING, HTML, JSON, HttpReply, not_found

    assert behaviour_for(["save-true-counts-as-save"]).config_args({"save": "true", "ssid": "x"})["save"] == "1"
    assert behaviour_for(["save-true-counts-as-save"]).config_args({"save": "0"}) == {"save": "0"}
    assert FAITHFUL.config_args({"save": "true"}) == {"save": "true"}
    assert behaviour_for(["empty-ssid-accepted"]).ssid_acceptable("") and not FAITHFUL.ssid_acceptable("")
    assert FAITHFUL.reads_form_body() and not behaviour_for(["posted-form-ignored"]).reads_form_body()
    json_reply = HttpReply(200, JSON, CONFIG_TRYING)
    assert behaviour_for(["json-served-as-html"]).http_reply(json_reply).content_type == HTML
    assert behaviour_for(["json-served-as-html"]).http_reply(not_found("/x")) == not_found("/x")
    served = behaviour_for(["not-found-serves-the-form"]).http_reply(not_found("/x"))
    assert served.status == 200 and b"<title>WiFi setup</title>" in served.body
    assert FAITHFUL.http_reply(not_found("/x")) == not_found("/x")


def test_config_mode_has_no_timeout_but_in_the_defect() -> None:
    assert FAITHFUL.config_mode_timeout_s() is None
    assert behaviour_for(["config-mode-times-out"]).config_mode_timeout_s() == 600.0


def test_console_defects_change_only_what_they_name() -> None:
    assert FAITHFUL.console_command_name("DevInfo") == "devinfo"
    assert behaviour_for(["console-commands-case-sensitive"]).console_command_name("DevInfo") == "DevInfo"
    assert not FAITHFUL.console_connect_saves()
    assert behaviour_for(["console-connect-saves-at-once"]).console_connect_saves()


def test_static_ip_not_stored_clears_only_the_flag_on_save() -> None:
    from provlab.protocol.config_blob import ConfigFlag

    config = ConfigBlob.defaults("0.1.0")
    config.flags |= ConfigFlag.STATIC_IP | ConfigFlag.VALID
    stored = behaviour_for(["static-ip-not-stored"]).stored_config(config)
    assert stored.flags == ConfigFlag.VALID and config.flags & ConfigFlag.STATIC_IP  # RAM keeps it
    assert FAITHFUL.stored_config(config).flags & ConfigFlag.STATIC_IP


def test_retries_not_restored_is_the_only_change() -> None:
    assert FAITHFUL.restores_retries() and not behaviour_for(["retries-not-restored"]).restores_retries()


def test_accepts_long_token_takes_33_but_not_31() -> None:
    long = behaviour_for(["accepts-long-token"])
    assert long.token_acceptable("A" * 33) and long.token_acceptable("A" * 32) and not long.token_acceptable("A" * 31)
    assert not FAITHFUL.token_acceptable("A" * 33)


def test_scan_entries_print_the_bssid_as_bssidstr_does() -> None:
    """`WiFi.BSSIDstr(i)` is `%02X:…` in arduino-esp32, the ESP8266 core and rpcWiFi: upper case whatever the
    air reports; the defect prints it in lower case."""
    from provlab.emulator.families import esp32, esp8266, wio_terminal
    from provlab.wifi.backend import AccessPoint, Security

    ap = AccessPoint("Home", "0a:5e:c0:aa:bb:01", 6, -50, Security.WPA2)
    for family in (esp32.FAMILY, esp8266.FAMILY, wio_terminal.FAMILY):
        assert family.scan.entry(ap).bssid == "0A:5E:C0:AA:BB:01"
    entry = esp32.FAMILY.scan.entry(ap)
    pieces = behaviour_for(["wifi-scan-bssid-lowercase"]).wifi_scan_pieces([entry])
    assert b'"bssid":"0a:5e:c0:aa:bb:01"' in b"".join(pieces)

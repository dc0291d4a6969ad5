"""Named firmware defects: small, documented departures from the legacy sketch, switched on per board.

The faithful firmware asks a `Behaviour` at a few well-defined decision points (how `/config` arguments
are read, whether a token is acceptable, what happens before validation, when the reset button fires,
whether ERROR reboots, how `last_error` is kept, whether the AP goes down, what an invalid-token answer
does to the client, whether server PINGs are answered, and the conformance points below them: SoftAP fields,
timers, error codes, log lines, the stored blob, keep-alive, reconnect spacing, button, login info, console, LED).
Each defect is one small mixin that overrides exactly one of those points, documented by its docstring
(`Defect.description`); `behaviour_for()` stacks
the chosen ones over the faithful base. `benchmarks/bench_defects.py` proves the built-in suite catches each.

    board = EmulatedBoard(..., defects={Defect.FORGETS_LAST_ERROR})
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from provlab.emulator.indicator import STATE_PATTERNS, pattern_for
from provlab.emulator.settings import (
    BUTTON_HOLD_TIME_ACTION_S,
    ERROR_REBOOT_DELAY_S,
    RECONNECT_INTERVAL_S,
    WIFI_CLOUD_CONNECT_TIMEOUT_S,
    WIFI_NET_CONNECT_TIMEOUT_S,
)
from provlab.protocol import choices
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.edgent_http import (
    HTML,
    JSON,
    SCAN_MAX_NETWORKS,
    TOKEN_LENGTH,
    BoardInfo,
    HttpReply,
    ScanEntry,
    root_reply,
    wifi_scan_pieces,
)
from provlab.protocol.led import LedColor, LedPattern
from provlab.protocol.states import EdgentState, ProvError

if TYPE_CHECKING:
    from provlab.emulator.profile import FirmwareProfile


class ResetTrigger(Enum):
    """When a ≥ 10 s hold of the reset button resets the configuration."""

    ON_RELEASE = "on release"
    AT_HOLD_TIME = "at 10 s while still held"


class ConfigSaver(Protocol):
    """What a behaviour may do with the flash: the firmware passes itself as this (no import cycle)."""

    def config_save(self, config: ConfigBlob | None = None) -> None: ...


class Behaviour:
    """The legacy Edgent_ESP32 sketch as shipped, at each decision point a defect may change."""

    defects: frozenset[Defect] = frozenset()

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        """Why this behaviour's departure cannot show on boards of `profile` (None: it can, and the built-in suite
        must catch it there). `benchmarks/bench_defects.py --profile` reports such defects as not applicable.
        Every defect departs from a published sketch, so none applies where the provisioning firmware is not
        public (Blynk.NCP: its emulation borrows the legacy sketch's logic, an UNCONFIRMED choice)."""
        if not profile.provisioning_public:
            return f"{profile.name} provisions with unpublished firmware (Blynk.NCP), not the sketch this departs from"
        return None

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        """The `server.arg()` values the `/config` handler reads."""
        return args

    def token_acceptable(self, token: str) -> bool:
        """`token.length() == 32` of the `/config` handler (bytes, like `String::length`)."""
        return len(token.encode("utf-8", "surrogateescape")) == TOKEN_LENGTH

    def ssid_acceptable(self, ssid: str) -> bool:
        """`ssid.length() > 0` of the `/config` handler (spec §2.3.1)."""
        return bool(ssid)

    def config_mode_timeout_s(self) -> float | None:
        """How long config mode waits for a phone: for ever, no legacy sketch has a timeout (spec §1.4 notes)."""
        return None

    def reads_form_body(self) -> bool:
        """`server.arg()` reads a urlencoded POST body as well as the URL query (spec §2.3)."""
        return True

    def http_reply(self, reply: HttpReply) -> HttpReply:
        """A SoftAP page's reply as `server.send()` writes it (spec §2.3)."""
        return reply

    def before_validation(self, board: ConfigSaver, candidate: ConfigBlob) -> None:
        """Runs with the config built from `/config` before it is checked (the sketch does nothing)."""

    def reset_trigger(self) -> ResetTrigger:
        return ResetTrigger.ON_RELEASE

    def restarts_after_error(self) -> bool:
        """`enterError()` ends in `ESP.restart()` after 10 s (unless the button is held)."""
        return True

    def records_last_error(self) -> bool:
        """`config_set_last_error()` stores the code (while the config is not VALID)."""
        return True

    def stops_ap_on_switch(self) -> bool:
        """`enterSwitchToSTA()` turns the radio off (`WiFi.mode(WIFI_OFF)`), so the AP goes away."""
        return True

    def stops_on_invalid_token(self) -> bool:
        """Login answered with status 9: `TOKEN_INVALID`, no further attempts (spec §6.4)."""
        return True

    def answers_server_ping(self) -> bool:
        """A server PING gets `RESPONSE <id> 200` (spec §6.6)."""
        return True

    def static_ip_configurable(self, config: ConfigBlob) -> bool:
        """`WiFi.config(ip, gw, mask, dns, dns2)` succeeds. arduino-esp32 validates neither the mask nor the
        gateway and fails only when an esp_netif call fails, which no stored setting provokes (audit #7): a bad
        mask or an off-subnet gateway joins Wi-Fi and then fails at the cloud."""
        return choices.STATIC_IP_CONFIG_SUCCEEDS

    # --- decision points of the conformance defects (issue #16, point 5) ---------------------------
    def board_info(self, info: BoardInfo) -> BoardInfo:
        """What `/board_info.json` reports (spec §2.4)."""
        return info

    def wifi_scan_pieces(self, entries: list[ScanEntry]) -> list[bytes]:
        """The `/wifi_scan.json` body, in the pieces a family may stream: the 15 strongest, by RSSI descending
        (spec §2.5)."""
        return wifi_scan_pieces(entries)

    def http_reset_erases(self) -> bool:
        """`/reset` sets `RESET_CONFIG` (spec §2.3)."""
        return True

    def net_connect_timeout_s(self) -> float:
        """`WIFI_NET_CONNECT_TIMEOUT` (spec §1.4)."""
        return WIFI_NET_CONNECT_TIMEOUT_S

    def cloud_connect_timeout_s(self) -> float:
        """`WIFI_CLOUD_CONNECT_TIMEOUT` (spec §1.4)."""
        return WIFI_CLOUD_CONNECT_TIMEOUT_S

    def error_reboot_delay_s(self) -> float:
        """`enterError()`'s 10 s before `ESP.restart()` (spec §1.4)."""
        return ERROR_REBOOT_DELAY_S

    def error_waits_for_button(self) -> bool:
        """`while (timeoutMs > millis() || g_buttonPressed)`: ERROR never reboots while the button is held (§4.1)."""
        return True

    def notices_phone_leaving(self) -> bool:
        """CONFIGURING goes back to WAIT_CONFIG when `softAPgetStationNum() == 0` (spec §1.4)."""
        return True

    def restores_retries(self) -> bool:
        """A connection that works sets its retry counter back to `WIFI_CLOUD_MAX_RETRIES` (500) (spec §1.4)."""
        return True

    def retries_after_config(self) -> int:
        """`/config` sets `connectNetRetries = connectBlynkRetries = 1` (spec §1.4)."""
        return 1

    def error_code(self, error: ProvError) -> ProvError:
        """The `BLYNK_PROV_ERR_*` code stored for a failure (spec §3.3)."""
        return error

    def log_text(self, text: str) -> str | None:
        """A `BLYNK_LOG` line's text as printed (None: not printed at all) (spec §5.3, §5.4)."""
        return text

    def persists_valid_flag(self) -> bool:
        """The first cloud connection sets VALID and calls `config_save()` (spec §1.4)."""
        return True

    def reset_writes_flash(self) -> bool:
        """`enterResetConfig()` writes the defaults over the stored blob (spec §3.2)."""
        return True

    def stored_config(self, config: ConfigBlob) -> ConfigBlob:
        """The config as `config_save()` writes it (spec §3.1: `wifiPass[64]`, ...)."""
        return config

    def sends_pings(self) -> bool:
        """The library PINGs a quiet line (spec §6.6; an MQTT client sends PINGREQ within its keep-alive, §7)."""
        return True

    def ping_quiet_s(self, heartbeat_s: float) -> float:
        """How long the line is quiet before the library PINGs: the `h-beat` it announces (spec §6.6)."""
        return heartbeat_s

    def reconnect_interval_s(self) -> float:
        """A new connect attempt at most every 5000 ms (spec §6.4)."""
        return RECONNECT_INTERVAL_S

    def hold_time_action_s(self) -> float:
        """`BUTTON_HOLD_TIME_ACTION` (spec §4.1)."""
        return BUTTON_HOLD_TIME_ACTION_S

    def info_body(self, body: bytes) -> bytes:
        """The INTERNAL info message sent after login (spec §6.4)."""
        return body

    def sends_hotspot_meta(self) -> bool:
        """The first connection sends INTERNAL `meta\\0set\\0Hotspot Name\\0<AP SSID>` (spec §1.4, §6.5)."""
        return True

    def console_checks_token_size(self) -> bool:
        """Console `connect` refuses a token whose length is not 32 (spec §5.5)."""
        return True

    def console_config_default(self) -> str:
        """What a bare console `config` does: `config start` (spec §5.5)."""
        return "start"

    def console_command_name(self, word: str) -> str:
        """The command a typed first word names: matched case-insensitively (spec §5.5)."""
        return word.lower()

    def console_connect_saves(self) -> bool:
        """Console `connect` sets the config without saving it: it is written once the cloud answers (§1.4)."""
        return False

    def led_pattern(self, state: EdgentState, hold_ms: int | None) -> LedPattern:
        """`getPattern()` of `Indicator.h`: a button hold past 10 s / 3 s first, then the state's (spec §4.2)."""
        return pattern_for(state, hold_ms)


class AcceptsShortToken(Behaviour):
    """`/config` takes a 31-character token as valid (an off-by-one in the length check)."""

    def token_acceptable(self, token: str) -> bool:
        return len(token.encode("utf-8", "surrogateescape")) in (TOKEN_LENGTH - 1, TOKEN_LENGTH)


class AcceptsLongToken(Behaviour):
    """`/config` takes any token of 32 characters or more (`length() < 32` as the only check), so a pasted
    token with a trailing character is stored and the board then fails at the cloud."""

    def token_acceptable(self, token: str) -> bool:
        return len(token.encode("utf-8", "surrogateescape")) >= TOKEN_LENGTH


class IgnoresSsidManual(Behaviour):
    """`/config` never reads `ssidManual`, so a typed network name loses to the scanned `ssid`."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        return {key: value for key, value in args.items() if key != "ssidManual"}


class SavesConfigBeforeValidating(Behaviour):
    """`/config` writes what it received to flash before checking it, so an invalid config lands there."""

    def before_validation(self, board: ConfigSaver, candidate: ConfigBlob) -> None:
        board.config_save(candidate)


class NeverRebootsFromError(Behaviour):
    """ERROR is a dead end: the 10 s reboot never comes."""

    def restarts_after_error(self) -> bool:
        return False


class ResetsWhileHeld(Behaviour):
    """The button resets the config the moment the hold reaches 10 s, not on release."""

    def reset_trigger(self) -> ResetTrigger:
        return ResetTrigger.AT_HOLD_TIME


class ForgetsLastError(Behaviour):
    """Failures are never stored, so `board_info.json` reports `last_error` 0 after the reboot."""

    def records_last_error(self) -> bool:
        return False


class KeepsApAfterConfig(Behaviour):
    """After a valid `/config` the SoftAP stays on the air (AP+STA) while the board joins Wi-Fi."""

    def stops_ap_on_switch(self) -> bool:
        return False


class RetriesForeverOnInvalidToken(Behaviour):
    """A login refused with status 9 is retried every 5 s like any failure: no 703, no AP mode."""

    def stops_on_invalid_token(self) -> bool:
        return False


class IgnoresServerPings(Behaviour):
    """Server PINGs get no answer, so the cloud sees a silent device."""

    def answers_server_ping(self) -> bool:
        return False


# --- conformance defects (issue #16, point 5): realistic bugs a conformance scenario must catch ------------


class IgnoresConfigHost(Behaviour):
    """`/config` never reads `host`: the board always dials the compiled-in `blynk.cloud`."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        return {key: value for key, value in super().config_args(args).items() if key != "host"}


class ReadsPortNotPortSsl(Behaviour):
    """`/config` reads the plain `port` (as Blynk.Inject v0.6 did) instead of `port_ssl`."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        read = {key: value for key, value in super().config_args(args).items() if key != "port_ssl"}
        if "port" in read:
            read["port_ssl"] = read["port"]
        return read


class IgnoresSaveFlag(Behaviour):
    """`/config` never reads `save`: `save=1` answers `Trying to connect...` and nothing is stored up front."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        return {key: value for key, value in super().config_args(args).items() if key != "save"}


class BoardInfoBssidIsStaMac(Behaviour):
    """`/board_info.json` reports the station MAC (`WiFi.macAddress()`) as `bssid` instead of the SoftAP's."""

    def board_info(self, info: BoardInfo) -> BoardInfo:
        return dataclasses.replace(info, bssid=info.mac)


class WifiScanUnsorted(Behaviour):
    """`/wifi_scan.json` lists the networks in scan order (no sort by RSSI), still at most 15."""

    def wifi_scan_pieces(self, entries: list[ScanEntry]) -> list[bytes]:
        top = entries[:SCAN_MAX_NETWORKS]
        return [b"[\n" + b",\n".join(entry.render() for entry in top) + b"\n]" if top else b"[]"]


class WifiScanBssidLowercase(Behaviour):
    """`/wifi_scan.json` prints each BSSID in lower case (the console's `wifi scan` formatting reused), which
    the app does not match against the networks it sees."""

    def wifi_scan_pieces(self, entries: list[ScanEntry]) -> list[bytes]:
        return super().wifi_scan_pieces([dataclasses.replace(e, bssid=e.bssid.lower()) for e in entries])


class HttpResetKeepsConfig(Behaviour):
    """`/reset` answers `Configuration reset` but never enters RESET_CONFIG: nothing is reset."""

    def http_reset_erases(self) -> bool:
        return False


class NetTimeout30s(Behaviour):
    """Joining Wi-Fi gives up after 30 s (the v1.0 `WIFI_NET_CONNECT_TIMEOUT`) instead of 50 s."""

    def net_connect_timeout_s(self) -> float:
        return 30.0


class CloudTimeout30s(Behaviour):
    """Connecting to the cloud gives up after 30 s (the v1.0 `WIFI_CLOUD_CONNECT_TIMEOUT`) instead of 50 s."""

    def cloud_connect_timeout_s(self) -> float:
        return 30.0


class ErrorRebootAfter1s(Behaviour):
    """ERROR restarts after 1 s (`delay(1000)` for `10000`) instead of 10 s."""

    def error_reboot_delay_s(self) -> float:
        return 1.0


class ErrorRebootsWhileButtonHeld(Behaviour):
    """ERROR restarts after 10 s even while the button is held (the `g_buttonPressed` check is missing)."""

    def error_waits_for_button(self) -> bool:
        return False


class StaysConfiguringAfterPhoneLeaves(Behaviour):
    """CONFIGURING never goes back to WAIT_CONFIG when the phone leaves the AP."""

    def notices_phone_leaving(self) -> bool:
        return False


class ConfigKeeps500Retries(Behaviour):
    """`/config` does not set the retry counters to 1: a bad config is retried 500 x 50 s before ERROR."""

    def retries_after_config(self) -> int:
        return 500


class NetworkErrorRecordedAs702(Behaviour):
    """A Wi-Fi join that never succeeds is recorded as 702 (cloud) instead of 701 (network)."""

    def error_code(self, error: ProvError) -> ProvError:
        return ProvError.CLOUD if error is ProvError.NETWORK else super().error_code(error)


class CloudLogWithoutPort(Behaviour):
    """`/config` logs `Blynk cloud: <token> @ <host>` without the `:<port>`."""

    def log_text(self, text: str) -> str | None:
        shown = super().log_text(text)
        if shown is not None and shown.startswith("Blynk cloud: ") and ":" in shown[len("Blynk cloud: ") :]:
            return shown.rsplit(":", 1)[0]
        return shown


class NoButtonHintLog(Behaviour):
    """A button press prints nothing (the `Hold the button for 10 seconds...` hint is missing)."""

    def log_text(self, text: str) -> str | None:
        shown = super().log_text(text)
        return None if shown is not None and shown.startswith("Hold the button for 10 seconds") else shown


class ValidFlagNotPersisted(Behaviour):
    """The first cloud connection marks the config VALID in RAM only: after a reboot the board is unconfigured."""

    def persists_valid_flag(self) -> bool:
        return False


class FactoryResetNotWritten(Behaviour):
    """RESET_CONFIG clears the config in RAM but never writes flash: the old config comes back at the next boot."""

    def reset_writes_flash(self) -> bool:
        return False


class PasswordTruncatedInFlash(Behaviour):
    """The stored Wi-Fi password keeps 31 bytes (a `char wifiPass[32]` layout): long passwords fail after reboot."""

    def stored_config(self, config: ConfigBlob) -> ConfigBlob:
        stored = dataclasses.replace(super().stored_config(config))
        stored.wifi_pass = stored.wifi_pass.encode("utf-8", "surrogateescape")[:31].decode("utf-8", "ignore")
        return stored


class StaticIpNotStored(Behaviour):
    """The static IPv4 settings are used but not written (the flag is cleared on save): after a reboot the board
    asks DHCP, on a network where its installer had a reason to pin its address."""

    def stored_config(self, config: ConfigBlob) -> ConfigBlob:
        stored = dataclasses.replace(super().stored_config(config))
        stored.flags &= ~ConfigFlag.STATIC_IP
        return stored


class NeverSendsPings(Behaviour):
    """The library never PINGs a quiet line, so the cloud sees a silent device and drops it."""

    def sends_pings(self) -> bool:
        return False


class PingsAfter45s(Behaviour):
    """The library PINGs after 45 s of quiet (v1.3.2's `BLYNK_HEARTBEAT`) while announcing `h-beat` 40."""

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        if (reason := super().applies_to(profile)) is not None:
            return reason
        if profile.transport != "binary":
            return f"{profile.name} keeps alive by its MQTT keep-alive (45 s, spec §7), announcing no h-beat"
        return None

    def ping_quiet_s(self, heartbeat_s: float) -> float:
        return 45.0


class ReconnectsEvery1s(Behaviour):
    """A failed cloud connection is retried after 1 s instead of 5 s (hammering the server)."""

    def reconnect_interval_s(self) -> float:
        return 1.0


class ResetsAfter3sHold(Behaviour):
    """A 3 s hold resets the configuration (`BUTTON_HOLD_TIME_INDICATION` used as the action time)."""

    def hold_time_action_s(self) -> float:
        return 3.0


class InfoWithoutTemplate(Behaviour):
    """The info message after login leaves out `tmpl` (the template id)."""

    def info_body(self, body: bytes) -> bytes:
        parts = super().info_body(body).split(b"\0")
        pairs = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2) if parts[i] != b"tmpl"]
        return b"\0".join(b"\0".join(pair) for pair in pairs)


class NoHotspotMeta(Behaviour):
    """The first connection never sends the `Hotspot Name` metadata."""

    def sends_hotspot_meta(self) -> bool:
        return False


class ConsoleConnectAnyTokenSize(Behaviour):
    """Console `connect` takes a token of any length instead of answering `invalid token size`."""

    def console_checks_token_size(self) -> bool:
        return False


class IgnoresStaticIp(Behaviour):
    """`/config` never reads `ip`/`mask`/`gw`/`dns`/`dns2`: the board always takes a DHCP address."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        static = ("ip", "mask", "gw", "dns", "dns2")
        return {key: value for key, value in super().config_args(args).items() if key not in static}


class BareConsoleConfigIgnored(Behaviour):
    """A bare console `config` does nothing: only `config start` enters config mode."""

    def console_config_default(self) -> str:
        return ""


def _led_not_seen(profile: FirmwareProfile) -> str | None:
    """Why no LED defect can show on `profile`: its sketch never starts the indicator."""
    return f"{profile.name}'s sketch never starts its LED indicator" if not profile.family.led else None


class SaveTrueCountsAsSave(Behaviour):
    """`/config` takes `save=true` as a save (a truthy-string test instead of `String::toInt()`, which makes it
    0), so the board answers `Configuration saved` and marks a config VALID that the app did not ask to keep."""

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        save = args.get("save", "").strip().lower()
        return {**args, "save": "1"} if save in ("true", "yes", "on") else args


class EmptySsidAccepted(Behaviour):
    """`/config` with an empty `ssid` is accepted (only the token is checked): the board leaves config mode to
    join no network and fails with 701 a minute later instead of answering `Configuration invalid`."""

    def ssid_acceptable(self, ssid: str) -> bool:
        return True


class PostedFormIgnored(Behaviour):
    """`/config` reads only the URL query (`server.uri()` parsed by hand), so a form POSTed to it is a config
    with no fields: `Configuration invalid`."""

    def reads_form_body(self) -> bool:
        return False


class JsonServedAsHtml(Behaviour):
    """The JSON pages go out as `text/html` (`server.send(200, "text/html", json)`), which an app that checks
    the Content-Type refuses."""

    def http_reply(self, reply: HttpReply) -> HttpReply:
        return dataclasses.replace(reply, content_type=HTML) if reply.content_type == JSON else reply


class NotFoundServesTheForm(Behaviour):
    """Every unknown path is answered `200` with the configuration form (a catch-all `onNotFound(handleRoot)`
    left in from `WIFI_CAPTIVE_PORTAL_ENABLE`), so the board looks like a captive portal."""

    def http_reply(self, reply: HttpReply) -> HttpReply:
        return root_reply() if reply.status == 404 else reply


class ConsoleCommandsCaseSensitive(Behaviour):
    """Console commands match only in lower case (`strcmp` for `strcasecmp`): `DEVINFO` is `Command not found.`"""

    def console_command_name(self, word: str) -> str:
        return word


class ConsoleConnectSavesAtOnce(Behaviour):
    """Console `connect` writes the config to flash as VALID at once, so a board whose new network or token
    never works does not fall back to config mode after a reset."""

    def console_connect_saves(self) -> bool:
        return True


class RetriesNotRestored(Behaviour):
    """The retry counters stay at the 1 that `/config` set, even after the board got online: a provisioned
    board that later loses its network tries once for 50 s, then goes to ERROR and reboots."""

    def restores_retries(self) -> bool:
        return False


class ConfigModeTimesOut(Behaviour):
    """Config mode gives up after 10 minutes and restarts (Edgent-Arduino 0.9's `_configTimeoutMs` in a legacy
    build), so a board waiting on the shelf for its installer reboots every 10 minutes."""

    def config_mode_timeout_s(self) -> float | None:
        return 600.0


class LedConfigModeFastBlink(Behaviour):
    """Config mode blinks CONFIGURING's blue {200,200} instead of its own blue {50,500} (a `case` label moved
    in `getPattern()`), so an installer cannot tell waiting from a phone being connected."""

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        return super().applies_to(profile) or _led_not_seen(profile)

    def led_pattern(self, state: EdgentState, hold_ms: int | None) -> LedPattern:
        pattern = super().led_pattern(state, hold_ms)
        if pattern == STATE_PATTERNS[EdgentState.WAIT_CONFIG]:
            return STATE_PATTERNS[EdgentState.CONFIGURING]
        return pattern


class LedIgnoresButtonHold(Behaviour):
    """The LED never shows a button hold (no white breathing after 3 s, no white flashing after 10 s): the
    state's pattern is checked before the hold."""

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        return super().applies_to(profile) or _led_not_seen(profile)

    def led_pattern(self, state: EdgentState, hold_ms: int | None) -> LedPattern:
        return super().led_pattern(state, None)


class LedRunningNotShown(Behaviour):
    """RUNNING keeps CONNECTING_CLOUD's fast blink: the indicator is not told about the last transition."""

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        return super().applies_to(profile) or _led_not_seen(profile)

    def led_pattern(self, state: EdgentState, hold_ms: int | None) -> LedPattern:
        shown = EdgentState.CONNECTING_CLOUD if state is EdgentState.RUNNING else state
        return super().led_pattern(shown, hold_ms)


class LedRedGreenSwapped(Behaviour):
    """Colours go out in GRB order (an RGB LED driver set up for the wrong strip): red and green swap, so
    RUNNING breathes magenta and ERROR flashes green."""

    @classmethod
    def applies_to(cls, profile: FirmwareProfile) -> str | None:
        return super().applies_to(profile) or _led_not_seen(profile)

    def led_pattern(self, state: EdgentState, hold_ms: int | None) -> LedPattern:
        pattern = super().led_pattern(state, hold_ms)
        rgb = int(pattern.color)
        swapped = (rgb >> 8 & 0xFF) << 16 | (rgb >> 16 & 0xFF) << 8 | (rgb & 0xFF)
        return dataclasses.replace(pattern, color=LedColor.nearest(swapped))


class Defect(Enum):
    """A named firmware defect; `.value` is its name on the command line and in reports."""

    ACCEPTS_31_CHAR_TOKEN = "accepts-31-char-token"
    IGNORES_SSID_MANUAL = "ignores-ssid-manual"
    SAVES_CONFIG_BEFORE_VALIDATING = "saves-config-before-validating"
    NEVER_REBOOTS_FROM_ERROR = "never-reboots-from-error"
    RESETS_WHILE_HELD = "resets-while-held"
    FORGETS_LAST_ERROR = "forgets-last-error"
    KEEPS_AP_AFTER_CONFIG = "keeps-ap-after-config"
    RETRIES_FOREVER_ON_INVALID_TOKEN = "retries-forever-on-invalid-token"
    IGNORES_SERVER_PINGS = "ignores-server-pings"
    IGNORES_CONFIG_HOST = "ignores-config-host"
    READS_PORT_NOT_PORT_SSL = "reads-port-not-port-ssl"
    IGNORES_SAVE_FLAG = "ignores-save-flag"
    BOARD_INFO_BSSID_IS_STA_MAC = "board-info-bssid-is-sta-mac"
    WIFI_SCAN_UNSORTED = "wifi-scan-unsorted"
    HTTP_RESET_KEEPS_CONFIG = "http-reset-keeps-config"
    NET_TIMEOUT_30S = "net-timeout-30s"
    CLOUD_TIMEOUT_30S = "cloud-timeout-30s"
    ERROR_REBOOT_AFTER_1S = "error-reboot-after-1s"
    ERROR_REBOOTS_WHILE_BUTTON_HELD = "error-reboots-while-button-held"
    STAYS_CONFIGURING_AFTER_PHONE_LEAVES = "stays-configuring-after-phone-leaves"
    CONFIG_KEEPS_500_RETRIES = "config-keeps-500-retries"
    NETWORK_ERROR_RECORDED_AS_702 = "network-error-recorded-as-702"
    CLOUD_LOG_WITHOUT_PORT = "cloud-log-without-port"
    NO_BUTTON_HINT_LOG = "no-button-hint-log"
    VALID_FLAG_NOT_PERSISTED = "valid-flag-not-persisted"
    FACTORY_RESET_NOT_WRITTEN = "factory-reset-not-written"
    PASSWORD_TRUNCATED_IN_FLASH = "password-truncated-in-flash"
    NEVER_SENDS_PINGS = "never-sends-pings"
    PINGS_AFTER_45S = "pings-after-45s"
    RECONNECTS_EVERY_1S = "reconnects-every-1s"
    RESETS_AFTER_3S_HOLD = "resets-after-3s-hold"
    INFO_WITHOUT_TEMPLATE = "info-without-template"
    NO_HOTSPOT_META = "no-hotspot-meta"
    CONSOLE_CONNECT_ANY_TOKEN_SIZE = "console-connect-any-token-size"
    IGNORES_STATIC_IP = "ignores-static-ip"
    BARE_CONSOLE_CONFIG_IGNORED = "bare-console-config-ignored"
    SAVE_TRUE_COUNTS_AS_SAVE = "save-true-counts-as-save"
    EMPTY_SSID_ACCEPTED = "empty-ssid-accepted"
    POSTED_FORM_IGNORED = "posted-form-ignored"
    JSON_SERVED_AS_HTML = "json-served-as-html"
    NOT_FOUND_SERVES_THE_FORM = "not-found-serves-the-form"
    CONFIG_MODE_TIMES_OUT = "config-mode-times-out"
    ACCEPTS_LONG_TOKEN = "accepts-long-token"
    WIFI_SCAN_BSSID_LOWERCASE = "wifi-scan-bssid-lowercase"
    RETRIES_NOT_RESTORED = "retries-not-restored"
    STATIC_IP_NOT_STORED = "static-ip-not-stored"
    CONSOLE_COMMANDS_CASE_SENSITIVE = "console-commands-case-sensitive"
    CONSOLE_CONNECT_SAVES_AT_ONCE = "console-connect-saves-at-once"
    LED_CONFIG_MODE_FAST_BLINK = "led-config-mode-fast-blink"
    LED_IGNORES_BUTTON_HOLD = "led-ignores-button-hold"
    LED_RUNNING_NOT_SHOWN = "led-running-not-shown"
    LED_RED_GREEN_SWAPPED = "led-red-green-swapped"

    @property
    def behaviour(self) -> type[Behaviour]:
        return _BEHAVIOURS[self]

    @property
    def description(self) -> str:
        """One line: what the defective firmware does differently."""
        return (self.behaviour.__doc__ or "").strip()

    def applies_to(self, profile: FirmwareProfile) -> str | None:
        """Why this defect cannot show on boards of `profile`; None when it can."""
        return self.behaviour.applies_to(profile)

    @classmethod
    def parse(cls, name: str) -> Defect:
        key = _defect_key(name)
        for defect in cls:
            if defect.value == key:
                return defect
        raise ValueError(unknown_defect(name))


def _defect_key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def unknown_defect(name: str) -> str | None:
    """Why `name` names no firmware defect, in one line: the nearest known name when one is close, else every
    known name; None when it names one (any case, `_` for `-`). Every place that takes a defect name (the
    CLI's `--defect`, the pytest plugin's, a config file's `defects`) says the same."""
    key = _defect_key(name)
    known = [defect.value for defect in Defect]
    if key in known:
        return None
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"unknown firmware defect {name!r}; {hint}"


_BEHAVIOURS: dict[Defect, type[Behaviour]] = {
    Defect.ACCEPTS_31_CHAR_TOKEN: AcceptsShortToken,
    Defect.IGNORES_SSID_MANUAL: IgnoresSsidManual,
    Defect.SAVES_CONFIG_BEFORE_VALIDATING: SavesConfigBeforeValidating,
    Defect.NEVER_REBOOTS_FROM_ERROR: NeverRebootsFromError,
    Defect.RESETS_WHILE_HELD: ResetsWhileHeld,
    Defect.FORGETS_LAST_ERROR: ForgetsLastError,
    Defect.KEEPS_AP_AFTER_CONFIG: KeepsApAfterConfig,
    Defect.RETRIES_FOREVER_ON_INVALID_TOKEN: RetriesForeverOnInvalidToken,
    Defect.IGNORES_SERVER_PINGS: IgnoresServerPings,
    Defect.IGNORES_CONFIG_HOST: IgnoresConfigHost,
    Defect.READS_PORT_NOT_PORT_SSL: ReadsPortNotPortSsl,
    Defect.IGNORES_SAVE_FLAG: IgnoresSaveFlag,
    Defect.BOARD_INFO_BSSID_IS_STA_MAC: BoardInfoBssidIsStaMac,
    Defect.WIFI_SCAN_UNSORTED: WifiScanUnsorted,
    Defect.HTTP_RESET_KEEPS_CONFIG: HttpResetKeepsConfig,
    Defect.NET_TIMEOUT_30S: NetTimeout30s,
    Defect.CLOUD_TIMEOUT_30S: CloudTimeout30s,
    Defect.ERROR_REBOOT_AFTER_1S: ErrorRebootAfter1s,
    Defect.ERROR_REBOOTS_WHILE_BUTTON_HELD: ErrorRebootsWhileButtonHeld,
    Defect.STAYS_CONFIGURING_AFTER_PHONE_LEAVES: StaysConfiguringAfterPhoneLeaves,
    Defect.CONFIG_KEEPS_500_RETRIES: ConfigKeeps500Retries,
    Defect.NETWORK_ERROR_RECORDED_AS_702: NetworkErrorRecordedAs702,
    Defect.CLOUD_LOG_WITHOUT_PORT: CloudLogWithoutPort,
    Defect.NO_BUTTON_HINT_LOG: NoButtonHintLog,
    Defect.VALID_FLAG_NOT_PERSISTED: ValidFlagNotPersisted,
    Defect.FACTORY_RESET_NOT_WRITTEN: FactoryResetNotWritten,
    Defect.PASSWORD_TRUNCATED_IN_FLASH: PasswordTruncatedInFlash,
    Defect.NEVER_SENDS_PINGS: NeverSendsPings,
    Defect.PINGS_AFTER_45S: PingsAfter45s,
    Defect.RECONNECTS_EVERY_1S: ReconnectsEvery1s,
    Defect.RESETS_AFTER_3S_HOLD: ResetsAfter3sHold,
    Defect.INFO_WITHOUT_TEMPLATE: InfoWithoutTemplate,
    Defect.NO_HOTSPOT_META: NoHotspotMeta,
    Defect.CONSOLE_CONNECT_ANY_TOKEN_SIZE: ConsoleConnectAnyTokenSize,
    Defect.IGNORES_STATIC_IP: IgnoresStaticIp,
    Defect.BARE_CONSOLE_CONFIG_IGNORED: BareConsoleConfigIgnored,
    Defect.SAVE_TRUE_COUNTS_AS_SAVE: SaveTrueCountsAsSave,
    Defect.EMPTY_SSID_ACCEPTED: EmptySsidAccepted,
    Defect.POSTED_FORM_IGNORED: PostedFormIgnored,
    Defect.JSON_SERVED_AS_HTML: JsonServedAsHtml,
    Defect.NOT_FOUND_SERVES_THE_FORM: NotFoundServesTheForm,
    Defect.CONFIG_MODE_TIMES_OUT: ConfigModeTimesOut,
    Defect.ACCEPTS_LONG_TOKEN: AcceptsLongToken,
    Defect.WIFI_SCAN_BSSID_LOWERCASE: WifiScanBssidLowercase,
    Defect.RETRIES_NOT_RESTORED: RetriesNotRestored,
    Defect.STATIC_IP_NOT_STORED: StaticIpNotStored,
    Defect.CONSOLE_COMMANDS_CASE_SENSITIVE: ConsoleCommandsCaseSensitive,
    Defect.CONSOLE_CONNECT_SAVES_AT_ONCE: ConsoleConnectSavesAtOnce,
    Defect.LED_CONFIG_MODE_FAST_BLINK: LedConfigModeFastBlink,
    Defect.LED_IGNORES_BUTTON_HOLD: LedIgnoresButtonHold,
    Defect.LED_RUNNING_NOT_SHOWN: LedRunningNotShown,
    Defect.LED_RED_GREEN_SWAPPED: LedRedGreenSwapped,
}

FAITHFUL = Behaviour()


def behaviour_for(defects: Iterable[Defect | str] = ()) -> Behaviour:
    """The faithful behaviour with each named defect's one override stacked on top."""
    chosen = sorted({d if isinstance(d, Defect) else Defect.parse(d) for d in defects}, key=lambda d: d.value)
    if not chosen:
        return FAITHFUL
    name = "Defective(" + ", ".join(d.value for d in chosen) + ")"
    bases = tuple(d.behaviour for d in chosen)
    return type(name, bases, {"defects": frozenset(chosen)})()  # type: ignore[no-any-return]

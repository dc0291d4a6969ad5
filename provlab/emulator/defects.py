"""Named firmware defects: small, documented departures from the legacy sketch, switched on per board.

The faithful firmware asks a `Behaviour` at a few well-defined decision points (how `/config` arguments
are read, whether a token is acceptable, what happens before validation, when the reset button fires,
whether ERROR reboots, how `last_error` is kept, whether the AP goes down, what an invalid-token answer
does to the client, whether server PINGs are answered). Each defect is one small mixin that overrides
exactly one of those points; `behaviour_for()` stacks the chosen ones over the faithful base.

    board = EmulatedBoard(..., defects={Defect.FORGETS_LAST_ERROR})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from provlab.protocol import choices
from provlab.protocol.edgent_http import TOKEN_LENGTH

if TYPE_CHECKING:
    from provlab.protocol.config_blob import ConfigBlob


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

    def config_args(self, args: Mapping[str, str]) -> Mapping[str, str]:
        """The `server.arg()` values the `/config` handler reads."""
        return args

    def token_acceptable(self, token: str) -> bool:
        """`token.length() == 32` of the `/config` handler (bytes, like `String::length`)."""
        return len(token.encode("utf-8", "surrogateescape")) == TOKEN_LENGTH

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


class AcceptsShortToken(Behaviour):
    """`/config` takes a 31-character token as valid (an off-by-one in the length check)."""

    def token_acceptable(self, token: str) -> bool:
        return len(token.encode("utf-8", "surrogateescape")) in (TOKEN_LENGTH - 1, TOKEN_LENGTH)


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

    @property
    def behaviour(self) -> type[Behaviour]:
        return _BEHAVIOURS[self]

    @property
    def description(self) -> str:
        """One line: what the defective firmware does differently."""
        return (self.behaviour.__doc__ or "").strip()

    @classmethod
    def parse(cls, name: str) -> Defect:
        key = name.strip().lower().replace("_", "-")
        for defect in cls:
            if defect.value == key:
                return defect
        known = ", ".join(d.value for d in cls)
        raise ValueError(f"unknown firmware defect {name!r}; known defects: {known}")


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

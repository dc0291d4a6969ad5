"""The legacy Edgent state table (spec §1.3–§1.4) as data: every transition the firmware may take.

The board changes state only through `EdgentFirmware.transition(trigger, target)`, which checks the pair
against this table, so the table is the single statement of the state machine and the table-driven test
walks each row. `REBOOT` rows end in `ESP.restart()` (the next boot starts at INIT).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from provlab.protocol.states import EdgentState as S


class Trigger(Enum):
    BOOT_UNCONFIGURED = "boot, config not valid"
    BOOT_CONFIGURED = "boot, config valid or firmware preprovisioned"
    BOARD_INFO_REQUESTED = "GET /board_info.json"
    LAST_STATION_LEFT = "the last station left the AP"
    VALID_CONFIG = "valid /config"
    HTTP_RESET = "/reset"
    HTTP_REBOOT = "/reboot"
    HTTP_UPDATE = "POST /update"
    BUTTON_HELD_10S = "button held >= 10 s, then released"
    CONSOLE_CONFIG = "console `config` / `config start`"
    CONSOLE_CONFIG_ERASE = "console `config erase`"
    CONSOLE_CONNECT = "console `connect <auth> <ssid> [pass]`"
    CONSOLE_REBOOT = "console `reboot`"
    AP_OFF = "enterSwitchToSTA: 1 s, WIFI_OFF, 100 ms, WIFI_STA"
    STATIC_IP_FAILED = "WiFi.config() of the static IP failed (700)"
    NET_CONNECTED = "WL_CONNECTED within 50 s"
    NET_TIMEOUT_RETRY = "50 s without WL_CONNECTED, retries left"
    NET_TIMEOUT_EXHAUSTED = "50 s without WL_CONNECTED, no retries left (701)"
    CLOUD_CONNECTED = "Blynk.connected()"
    TOKEN_INVALID = "login answered with status 9 (703)"
    NET_LOST_CONNECTING = "Wi-Fi dropped while connecting to the cloud"
    CLOUD_TIMEOUT_RETRY = "50 s without a cloud login, retries left"
    CLOUD_TIMEOUT_EXHAUSTED = "50 s without a cloud login, no retries left (702)"
    CLOUD_LOST = "!Blynk.connected() while Wi-Fi is up"
    NET_LOST_RUNNING = "!Blynk.connected() and Wi-Fi down"
    OTA_REQUESTED = "INTERNAL ota, after the 2 s timer"
    OTA_SUCCEEDED = "the update was installed"
    OTA_FAILED = "the update failed"
    OTA_FATAL = "the update failed: OTA_FATAL (log, 1 s, restart; ESP8266, Wio Terminal)"
    CONFIG_RESET_DONE = "enterResetConfig: defaults saved"
    ERROR_TIMEOUT = "10 s in ERROR with the button released"


class Reboot(Enum):
    """The target of a row that ends in `ESP.restart()`."""

    REBOOT = "reboot"


REBOOT = Reboot.REBOOT
Target = S | Reboot

ANY: frozenset[S] = frozenset(s for s in S if s is not S.INIT)
CONFIG_MODE: frozenset[S] = frozenset({S.WAIT_CONFIG, S.CONFIGURING})


@dataclass(frozen=True)
class Transition:
    sources: frozenset[S]
    trigger: Trigger
    target: Target

    def __str__(self) -> str:
        sources = "any" if self.sources == ANY else "/".join(sorted(s.value for s in self.sources))
        target = self.target.value
        return f"{sources} --[{self.trigger.value}]--> {target}"


def _row(sources: S | frozenset[S], trigger: Trigger, target: Target) -> Transition:
    return Transition(frozenset({sources}) if isinstance(sources, S) else sources, trigger, target)


TRANSITIONS: tuple[Transition, ...] = (
    _row(S.INIT, Trigger.BOOT_UNCONFIGURED, S.WAIT_CONFIG),
    _row(S.INIT, Trigger.BOOT_CONFIGURED, S.CONNECTING_NET),
    _row(S.WAIT_CONFIG, Trigger.BOARD_INFO_REQUESTED, S.CONFIGURING),
    _row(S.CONFIGURING, Trigger.LAST_STATION_LEFT, S.WAIT_CONFIG),
    _row(CONFIG_MODE, Trigger.VALID_CONFIG, S.SWITCH_TO_STA),
    _row(CONFIG_MODE, Trigger.HTTP_RESET, S.RESET_CONFIG),
    _row(CONFIG_MODE, Trigger.HTTP_REBOOT, REBOOT),
    _row(CONFIG_MODE, Trigger.HTTP_UPDATE, REBOOT),
    _row(ANY, Trigger.BUTTON_HELD_10S, S.RESET_CONFIG),
    _row(ANY, Trigger.CONSOLE_CONFIG, S.WAIT_CONFIG),
    _row(ANY, Trigger.CONSOLE_CONFIG_ERASE, S.RESET_CONFIG),
    _row(ANY, Trigger.CONSOLE_CONNECT, S.SWITCH_TO_STA),
    _row(ANY, Trigger.CONSOLE_REBOOT, REBOOT),
    _row(S.SWITCH_TO_STA, Trigger.AP_OFF, S.CONNECTING_NET),
    _row(S.CONNECTING_NET, Trigger.STATIC_IP_FAILED, S.ERROR),
    _row(S.CONNECTING_NET, Trigger.NET_CONNECTED, S.CONNECTING_CLOUD),
    _row(S.CONNECTING_NET, Trigger.NET_TIMEOUT_RETRY, S.CONNECTING_NET),
    _row(S.CONNECTING_NET, Trigger.NET_TIMEOUT_EXHAUSTED, S.ERROR),
    _row(S.CONNECTING_CLOUD, Trigger.CLOUD_CONNECTED, S.RUNNING),
    _row(S.CONNECTING_CLOUD, Trigger.TOKEN_INVALID, S.WAIT_CONFIG),
    _row(S.CONNECTING_CLOUD, Trigger.NET_LOST_CONNECTING, S.CONNECTING_NET),
    _row(S.CONNECTING_CLOUD, Trigger.CLOUD_TIMEOUT_RETRY, S.CONNECTING_CLOUD),
    _row(S.CONNECTING_CLOUD, Trigger.CLOUD_TIMEOUT_EXHAUSTED, S.ERROR),
    _row(S.RUNNING, Trigger.CLOUD_LOST, S.CONNECTING_CLOUD),
    _row(S.RUNNING, Trigger.NET_LOST_RUNNING, S.CONNECTING_NET),
    _row(ANY - {S.OTA_UPGRADE}, Trigger.OTA_REQUESTED, S.OTA_UPGRADE),
    _row(S.OTA_UPGRADE, Trigger.OTA_SUCCEEDED, REBOOT),
    _row(S.OTA_UPGRADE, Trigger.OTA_FAILED, S.ERROR),
    _row(S.OTA_UPGRADE, Trigger.OTA_FATAL, REBOOT),
    _row(S.RESET_CONFIG, Trigger.CONFIG_RESET_DONE, S.WAIT_CONFIG),
    _row(S.ERROR, Trigger.ERROR_TIMEOUT, REBOOT),
)

_BY_TRIGGER: dict[Trigger, Transition] = {row.trigger: row for row in TRANSITIONS}
assert len(_BY_TRIGGER) == len(TRANSITIONS), "one row per trigger"


class IllegalTransition(RuntimeError):
    """The firmware tried a transition its state table does not have (an emulator bug)."""


def check(source: S, trigger: Trigger, target: Target) -> Transition:
    """The row allowing `source --trigger--> target`; IllegalTransition when there is none."""
    row = _BY_TRIGGER[trigger]
    if source not in row.sources or row.target != target:
        raise IllegalTransition(
            f"{source.value} --[{trigger.value}]--> {target.value} is not in the state table; the table has {row}"
        )
    return row

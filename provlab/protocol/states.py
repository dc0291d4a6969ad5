"""Legacy Blynk.Edgent states (spec §1.1) and provisioning error codes (spec §3.3)."""

from __future__ import annotations

import re
from enum import Enum, IntEnum


class EdgentState(Enum):
    """A state of the legacy Edgent sketch; `.value` is the name the firmware prints (`StateStr[]`)."""

    WAIT_CONFIG = "WAIT_CONFIG"
    CONFIGURING = "CONFIGURING"
    CONNECTING_NET = "CONNECTING_NET"
    CONNECTING_CLOUD = "CONNECTING_CLOUD"
    RUNNING = "RUNNING"
    OTA_UPGRADE = "OTA_UPGRADE"
    SWITCH_TO_STA = "SWITCH_TO_STA"
    RESET_CONFIG = "RESET_CONFIG"
    ERROR = "ERROR"
    INIT = "INIT"

    @property
    def code(self) -> int:
        """The firmware's `enum State` number: WAIT_CONFIG 0 … ERROR 8, INIT 9 (`MODE_MAX_VALUE`)."""
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> EdgentState:
        """The state with firmware enum number `code`; ValueError for a number outside 0..9."""
        for state, number in _CODES.items():
            if number == code:
                return state
        raise ValueError(f"no Edgent state has code {code}; known codes are 0..{len(_CODES) - 1}")

    @classmethod
    def parse(cls, name: str) -> EdgentState:
        """The state printed as `name`: `WAIT_CONFIG`, Edgent-2's `WAIT CONFIG`, any letter case.

        Raises ValueError listing the known names when `name` is none of them (Edgent-2's `IDLE` included:
        the legacy sketch has no such state).
        """
        key = _SEPARATORS.sub("_", name.strip()).upper()
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(state.value for state in cls)
            raise ValueError(f"unknown Edgent state {name!r}; known states: {known}") from None


_SEPARATORS = re.compile(r"[\s_]+")

_CODES: dict[EdgentState, int] = {state: number for number, state in enumerate(EdgentState)}


class ProvError(IntEnum):
    """`last_error` codes the legacy sketch stores and reports in `board_info.json` (`BLYNK_PROV_ERR_*`)."""

    NONE = 0
    CONFIG = 700
    NETWORK = 701
    CLOUD = 702
    TOKEN = 703
    INTERNAL = 704

    def describe(self) -> str:
        """The firmware's own one-line comment for this code."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[ProvError, str] = {
    ProvError.NONE: "All good",
    ProvError.CONFIG: "Invalid config from app (malformed token, etc.)",
    ProvError.NETWORK: "Could not connect to the router",
    ProvError.CLOUD: "Could not connect to the cloud",
    ProvError.TOKEN: "Invalid token error (after connection)",
    ProvError.INTERNAL: "Other issues (i.e. hardware failure)",
}

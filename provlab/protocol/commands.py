"""Command and status codes of the Blynk hardware binary protocol (spec §6.2, §6.3)."""

from __future__ import annotations

from enum import IntEnum


class Command(IntEnum):
    """The `cmd` byte of a frame header (spec §6.2)."""

    RESPONSE = 0
    LOGIN = 2
    PING = 6
    TWEET = 12
    EMAIL = 13
    NOTIFY = 14
    BRIDGE = 15
    HARDWARE_SYNC = 16
    INTERNAL = 17
    SMS = 18
    PROPERTY = 19
    HARDWARE = 20
    GROUP = 21
    HW_LOGIN = 29
    REDIRECT = 41
    DEBUG_PRINT = 55
    EVENT_LOG = 64
    EVENT_CLEAR = 65


class Status(IntEnum):
    """The status a RESPONSE carries in its length field (spec §6.3, `enum BlynkStatus`)."""

    SUCCESS = 200
    QUOTA_LIMIT_EXCEPTION = 1
    ILLEGAL_COMMAND = 2
    NOT_REGISTERED = 3
    ALREADY_REGISTERED = 4
    NOT_AUTHENTICATED = 5
    NOT_ALLOWED = 6
    DEVICE_NOT_IN_NETWORK = 7
    NO_ACTIVE_DASHBOARD = 8
    INVALID_TOKEN = 9
    ILLEGAL_COMMAND_BODY = 11
    GET_GRAPH_DATA_EXCEPTION = 12
    NTF_INVALID_BODY = 13
    NTF_NOT_AUTHORIZED = 14
    NTF_ECXEPTION = 15  # sic, the library's spelling
    TIMEOUT = 16
    NO_DATA_EXCEPTION = 17
    DEVICE_WENT_OFFLINE = 18
    SERVER_EXCEPTION = 19
    NOT_SUPPORTED_VERSION = 20
    ENERGY_LIMIT = 21
    OPERATION_ACCEPT = 23
    OPERATION_DECLINE = 24


# Statuses the C++ library accepts as a successful login (spec §6.4).
LOGIN_OK_STATUSES: frozenset[int] = frozenset({Status.SUCCESS, Status.ALREADY_REGISTERED})

# Commands a device may log in with: HW_LOGIN (C++ library) and LOGIN (blynklib 0.2.6) (spec §6.2, §10).
LOGIN_COMMANDS: frozenset[int] = frozenset({Command.HW_LOGIN, Command.LOGIN})

_COMMAND_NAMES: dict[int, str] = {c.value: c.name for c in Command}
_STATUS_NAMES: dict[int, str] = {s.value: s.name for s in Status}


def command_name(code: int) -> str:
    """The spec's name of a command code, or `UNKNOWN(n)`."""
    name = _COMMAND_NAMES.get(code)
    return name if name is not None else f"UNKNOWN({code})"


def status_name(code: int) -> str:
    """The spec's name of a status code, or `UNKNOWN(n)`."""
    name = _STATUS_NAMES.get(code)
    return name if name is not None else f"UNKNOWN({code})"

"""What the store refuses: a request against its rules, or a device login with a token it does not accept."""

from __future__ import annotations

from enum import Enum

from provlab.protocol.serial_log import mask_secret


class StoreError(Exception):
    """A request the store refuses (unknown template, bad credentials, unknown device, …)."""


class StoreConflict(StoreError):
    """A write the database refused by a rule of the schema (a unique name or id taken, a row referring to
    one that does not exist); the database's own words are the message."""


class StoreUnavailable(StoreError):
    """The database cannot do it now: locked by another writer past the busy timeout, disk full, connection
    lost. Nothing buffered is lost (a failed flush keeps it); the database's own words are the message."""


class TokenRefusal(str, Enum):
    """Why a device token does not log in."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


class TokenRefused(StoreError):
    """A device login with a token the store does not accept."""

    def __init__(self, token: str, reason: TokenRefusal, detail: str = "") -> None:
        text = {
            TokenRefusal.UNKNOWN: "was never issued by this cloud",
            TokenRefusal.REVOKED: f"was revoked ({detail or 'no reason given'})",
            TokenRefusal.EXPIRED: f"expired before its first login ({detail})",
        }[reason]
        super().__init__(f"token {mask_secret(token)} {text}")
        self.reason = reason
        self.detail = detail

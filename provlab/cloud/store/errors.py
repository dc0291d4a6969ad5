"""What the store refuses: a request against its rules, or a device login with a token it does not accept."""

from __future__ import annotations

from enum import Enum

from provlab.protocol.serial_log import mask_secret


class StoreError(Exception):
    """A request the store refuses (unknown template, bad credentials, unknown device, …)."""


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

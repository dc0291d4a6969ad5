"""The cloud's records as the rest of provlab sees them: orgs, users, templates, datastreams, tokens, devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class Org:
    id: int
    name: str
    parent_id: int | None
    can_create_suborgs: bool


@dataclass(frozen=True)
class User:
    id: int
    email: str
    org_id: int
    role: str
    active: bool = True  # False for an invited user who has not set a password yet
    acting_for: int | None = None  # an OAuth2 bearer: the client's owner, whose permissions cap this user's
    via_client: str | None = None  # an OAuth2 bearer: the client that minted it (journaled with what it does)


class DataType(str, Enum):
    """A datastream's value type (Blynk: Integer, Double, String)."""

    INTEGER = "integer"
    DOUBLE = "double"
    STRING = "string"


@dataclass(frozen=True)
class Datastream:
    """A template's named virtual pin: `id` is the HTTP API's `dataStreamId`, `pin` is `v<n>`."""

    id: int
    pin: str
    name: str
    data_type: DataType = DataType.STRING


@dataclass(frozen=True)
class MetaField:
    id: int
    name: str


@dataclass(frozen=True)
class Template:
    """A device template. One that declares no datastreams, event codes or metafields is *open*:
    every virtual pin V0–V255 acts as a String datastream named `V<n>`, every event code and every
    metafield name is accepted. One that declares some accepts only those (HTTP API errors otherwise)."""

    id: str
    name: str
    org_id: int
    datastreams: tuple[Datastream, ...] = ()
    event_codes: tuple[str, ...] = ()
    metafields: tuple[MetaField, ...] = ()


@dataclass(frozen=True)
class Device:
    id: int
    name: str
    template_id: str
    org_id: int
    owner_id: int | None
    token: str | None
    info: dict[str, str] = field(default_factory=dict)


class TokenKind(str, Enum):
    """Why a token was issued."""

    DYNAMIC = "dynamic"  # for a new device, from the phone (Edgent provisioning)
    REPROVISION = "reprovision"  # a new token for an existing device; replaces the old one at first login
    REFRESH = "refresh"  # replaces the device's token at once (the old one stops working now)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    template_id: str
    user_id: int
    org_id: int
    device_id: int | None
    issued_at: float
    expires_at: float
    activated_at: float | None
    revoked_at: float | None
    kind: TokenKind = TokenKind.DYNAMIC
    revoked_reason: str | None = None

    @property
    def activated(self) -> bool:
        return self.activated_at is not None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: float) -> bool:
        """An unactivated token past its expiry; an activated one never expires."""
        return self.activated_at is None and self.expires_at < now

"""Rows of the store's tables as records, and the statements that more than one repository needs."""

from __future__ import annotations

import json

from provlab.cloud.records import Device, IssuedToken, TokenKind, User
from provlab.cloud.store.backend import Connection, Row
from provlab.cloud.store.database import Database
from provlab.cloud.store.errors import StoreError

USER_COLUMNS = "id, email, org_id, role, active"


def user_from_row(row: Row) -> User:
    return User(row["id"], row["email"], row["org_id"], row["role"], bool(row["active"]))


def device_from_row(row: Row) -> Device:
    return Device(
        id=row["id"],
        name=row["name"],
        template_id=row["template_id"],
        org_id=row["org_id"],
        owner_id=row["owner_id"],
        token=row["token"],
        info=json.loads(row["info"]),
    )


def issued_from_row(row: Row) -> IssuedToken:
    return IssuedToken(
        token=row["token"],
        template_id=row["template_id"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        device_id=row["device_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        activated_at=row["activated_at"],
        revoked_at=row["revoked_at"],
        kind=TokenKind(row["kind"]),
        revoked_reason=row["revoked_reason"],
    )


def live_device(database: Database, device_id: int) -> Device | None:
    """The device, unless it was never created or is deleted."""
    rows = database.query("SELECT * FROM devices WHERE id = ? AND deleted_at IS NULL", (device_id,))
    return device_from_row(rows[0]) if rows else None


def live_device_or_fail(database: Database, device_id: int) -> Device:
    device = live_device(database, device_id)
    if device is None:
        raise StoreError(f"no device {device_id} in this cloud (never created, or deleted)")
    return device


def revoke_in(db: Connection, token: str, reason: str, now: float) -> None:
    """Mark `token` revoked inside the caller's transaction (a token revoked before keeps its first reason)."""
    db.execute(
        "UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE token = ? AND revoked_at IS NULL",
        (now, reason, token),
    )

"""User password hashing for the stub (scrypt, salted, constant-time check)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_N = 2**12  # small on purpose: a lab stub logs users in often and guards nothing of value


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$<salt hex>$<digest hex>` for `password`."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when `password` hashes to `stored`."""
    try:
        _, salt_hex, _ = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, salt), stored)

"""JSON-lines journals for the evidence folder (`phone.jsonl`, `cloud.jsonl`, `steps.jsonl`), secrets masked."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import IO, Any

from provlab.protocol.serial_log import mask_line, mask_secret

SECRET_KEYS = frozenset(
    {
        "token",
        "blynk",
        "pass",
        "password",
        "wifi_pass",
        "accessToken",
        "access_token",
        "authorization",
        "client_secret",
        "clientSecret",
    }
)
PASSWORD_KEYS = frozenset({"pass", "password", "wifi_pass", "client_secret", "clientsecret"})
"""Secrets masked whole (as `mask_line` masks a Wi-Fi password): not even a prefix is a useful hint."""
# Keys whose value is a digest the evidence needs whole (OTA `x-md5`); only a 32-hex-digit value is kept.
DIGEST_KEYS = frozenset({"md5", "x-md5"})
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{32}")


def mask_value(key: str, value: Any) -> Any:
    """Mask what must never appear whole: secrets by key, and tokens inside any string."""
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(key, v) for v in value]
    if isinstance(value, str):
        if key.lower() in PASSWORD_KEYS:
            return mask_secret(value, keep=0)
        if key in SECRET_KEYS or key.lower() in SECRET_KEYS:
            return mask_secret(value)
        if key.lower() in DIGEST_KEYS and _HEX_DIGEST.fullmatch(value):
            return value  # an MD5 digest, not a token
        return mask_line(value)
    return value


class Journal:
    """Appends one JSON object a line; every record gets a wall-clock `ts`."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": fields.pop("ts", time.time()), "kind": kind, **mask_value("", fields)}
        with self._lock:
            self.records.append(record)
            if self._file is not None:
                self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

"""The store's token -> device cache: the current token of every live device that logged in since start.

A known token's login costs one dict lookup instead of a query. Every repository that changes a device or
a token keeps it right (`DeviceRepository`, `TokenRepository`); callers hold the database lock.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from provlab.cloud.records import Device


class TokenCache:
    """Current tokens of live devices, both ways."""

    __slots__ = ("_device_by_token", "_token_by_device")

    def __init__(self) -> None:
        self._device_by_token: dict[str, Device] = {}
        self._token_by_device: dict[int, str] = {}

    def device(self, token: str) -> Device | None:
        return self._device_by_token.get(token)

    def device_by_id(self, device_id: int) -> Device | None:
        token = self._token_by_device.get(device_id)
        return self._device_by_token.get(token) if token is not None else None

    def remember(self, token: str, device: Device) -> None:
        self._device_by_token[token] = device
        self._token_by_device[device.id] = token

    def update(self, device_id: int, **changes: Any) -> None:
        """Change fields of a cached device (`org_id`, `owner_id`, `info`); nothing if it is not cached."""
        token = self._token_by_device.get(device_id)
        cached = self._device_by_token.get(token) if token is not None else None
        if token is not None and cached is not None:
            self._device_by_token[token] = replace(cached, **changes)

    def forget_token(self, token: str) -> None:
        device = self._device_by_token.pop(token, None)
        if device is not None and self._token_by_device.get(device.id) == token:
            del self._token_by_device[device.id]

    def forget_device(self, device_id: int) -> None:
        token = self._token_by_device.pop(device_id, None)
        if token is not None:
            self._device_by_token.pop(token, None)

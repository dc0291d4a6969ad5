"""The cloud stub: store, binary-protocol server and HTTP API started together on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from provlab.cloud.binary_server import BinaryServer
from provlab.cloud.http_api import build_app
from provlab.cloud.presence import PresenceRegistry
from provlab.cloud.store import Device, Store, User

DEFAULT_ADMIN_EMAIL = "admin@provlab.test"
DEFAULT_ADMIN_PASSWORD = "provlab-admin"
DEFAULT_ORG = "Lab Root"
DEFAULT_TEMPLATE_ID = "TMPL0PROVLAB"
DEFAULT_TEMPLATE_NAME = "Device"


@dataclass(frozen=True)
class Endpoints:
    host: str
    binary_port: int
    http_port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


class CloudStub:
    """A Blynk-like cloud on loopback. Async; `lab` gives it a sync face."""

    def __init__(self, db_path: str | Path, *, time_scale: float = 1.0, host: str = "127.0.0.1") -> None:
        self.store = Store(db_path)
        self.host = host
        self.time_scale = time_scale
        self.presence = PresenceRegistry()
        self.binary = BinaryServer(self.store, self.presence, time_scale=time_scale)
        self._runner: web.AppRunner | None = None
        self.endpoints: Endpoints | None = None

    def seed(
        self,
        *,
        admin_email: str = DEFAULT_ADMIN_EMAIL,
        admin_password: str = DEFAULT_ADMIN_PASSWORD,
        org: str = DEFAULT_ORG,
        templates: dict[str, str] | None = None,
    ) -> User:
        """Create the root org, an admin and templates when the store is new; returns the admin."""
        existing = self.store.user_by_email(admin_email)
        if existing is not None:
            return existing
        org_id = self.store.create_org(org)
        for template_id, name in (templates or {DEFAULT_TEMPLATE_ID: DEFAULT_TEMPLATE_NAME}).items():
            self.store.create_template(template_id, name, org_id)
        return self.store.create_user(admin_email, admin_password, org_id)

    async def start(self, binary_port: int = 0, http_port: int = 0) -> Endpoints:
        port = await self.binary.start(self.host, binary_port)
        self._runner = web.AppRunner(build_app(self.store, self.presence), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, http_port)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        actual_http = int(server.sockets[0].getsockname()[1])
        self.endpoints = Endpoints(self.host, port, actual_http)
        return self.endpoints

    async def stop(self) -> None:
        await self.binary.stop()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
        self.store.close()

    def device_for_token(self, token: str) -> Device | None:
        issued = self.store.token(token)
        if issued is None or issued.device_id is None:
            return None
        return self.store.device(issued.device_id)

    async def wait_online(self, token: str, timeout_device_s: float) -> Device | None:
        """Wait until the device holding `token` is online; None on timeout."""

        def online() -> bool:
            device = self.device_for_token(token)
            return device is not None and self.presence.is_online(device.id)

        ok = await self.presence.wait(online, timeout_device_s * self.time_scale)
        return self.device_for_token(token) if ok else None

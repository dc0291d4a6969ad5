"""The cloud stub: store, binary protocol (TCP + TLS), MQTT, HTTP APIs, started together on loopback.

`CloudStub` is also the lab's control panel for the cloud: issue a token as a user, wait until a device is
online, read the event journal, and switch fault knobs (`faults`) or act on devices (drop connections,
revoke, refresh, delete, redirect, push a firmware update, rotate or expire the TLS certificate) while a
scenario runs.
Tenancy (org tree, matrices, transfers) is reachable as `tree` and `access`; invitation mail lands in the
stub's own SMTP sink (`mail_sink`, `mailbox(addr)`) unless `smtp=` names another server.

Async core: `start`/`stop`/`wait_*` are coroutines and every other method must run on the stub's event loop
(the lab calls them through its loop thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from provlab.cloud import console, lab_api
from provlab.cloud.access import Access
from provlab.cloud.binary_server import BinaryServer
from provlab.cloud.certs import LabCertificates
from provlab.cloud.credentials import CredentialLimits, Credentials
from provlab.cloud.faults import FaultKnobs
from provlab.cloud.gateway import DeviceGateway, DeviceOffline
from provlab.cloud.http_api import build_app
from provlab.cloud.http_guard import GuardedAppRunner, HttpDeadlines, Phase
from provlab.cloud.invitations import Invitations
from provlab.cloud.mail import Mail, Mailer, MailSink
from provlab.cloud.mqtt_bridge import MqttBridge, MqttBridgeError, broker_address
from provlab.cloud.mqtt_broker import MqttBroker
from provlab.cloud.ota import DEFAULT_IMAGE_SIZE, OtaPush, OtaStatus, firmware_image, image_version
from provlab.cloud.presence import CloseReason, DeviceLink, PresenceRegistry, Transport
from provlab.cloud.rate_limits import LoginLimits, QuotaLimits
from provlab.cloud.records import Device, IssuedToken, User
from provlab.cloud.store import DEFAULT_TOKEN_TTL_S, Store, StoreError
from provlab.cloud.store.backend import backend_name, sqlite_path
from provlab.cloud.tenancy import OrgTree
from provlab.cloud.tenancy_api import TenancyServices
from provlab.protocol.internal import DeviceInfo, compile_stamp

_log = logging.getLogger(__name__)

DEFAULT_ADMIN_EMAIL = "admin@provlab.test"
DEFAULT_ADMIN_PASSWORD = "provlab-admin"
DEFAULT_ORG = "Lab Root"
DEFAULT_TEMPLATE_ID = "TMPL0PROVLAB"
DEFAULT_TEMPLATE_NAME = "Device"
FLUSH_INTERVAL_S = 0.1  # wall seconds between write-behind flushes


@dataclass(frozen=True)
class Endpoints:
    host: str
    binary_port: int
    http_port: int
    tls_port: int | None = None
    mqtt_port: int | None = None
    mqtts_port: int | None = None
    mqtt_broker: str | None = None
    """The external broker the MQTT device API relays through (`mqtt_bridge.py`), if any."""
    smtp_url: str | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def mqtt_url(self) -> str | None:
        """Where devices connect over MQTT: the stub's own listener, also when it fronts a broker."""
        return f"mqtt://{self.host}:{self.mqtt_port}" if self.mqtt_port is not None else None


@dataclass(frozen=True)
class OnlineDevice:
    """Who is online, since when, how, in which organization."""

    device_id: int
    org_id: int
    template_id: str
    transport: Transport
    peer: str
    since: float


class CloudStub:
    """A Blynk-like cloud on loopback."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        certs: LabCertificates | str | Path | None = None,
        login_limits: LoginLimits | None = None,
        quota_limits: QuotaLimits | None = None,
        mqtt_broker: str | None = None,
        smtp: str | None = "sink",
        credential_limits: CredentialLimits | None = None,
    ) -> None:
        """`smtp`: where invitation mail goes — "sink" (a mail sink the stub runs on loopback, read it
        through `mail_sink`), an `smtp://host:port` server, or None (invitations are refused).
        `credential_limits`: session and OAuth2 bearer lifetimes and login throttles (`credentials.py`).
        `mqtt_broker`: `mqtt://host:port` of an external broker (Mosquitto) the MQTT device API fronts: devices
        still log in here, their traffic is relayed through it (`mqtt_bridge.py`).
        `db_path`: a SQLite file (or `sqlite:PATH`) or a `postgresql://…` URL (see `store.backend`); the TLS
        folder defaults to `certs/` next to a SQLite file and must be given (`certs`) with PostgreSQL."""
        if mqtt_broker is not None:
            broker_address(mqtt_broker)  # a bad URL fails here, before the store is opened
        if certs is None and backend_name(db_path) != "sqlite":
            raise ValueError("a cloud stub on PostgreSQL needs a certificate folder (certs=…): its store has no folder")
        self.store = Store(db_path)
        self.smtp = smtp
        self.mail_sink: MailSink | None = None
        self.tree = OrgTree(self.store)
        self.access = Access(self.store, self.tree)
        self.invitations = Invitations(self.access)
        self.access.on_device_moved = self._device_moved
        self.credentials = Credentials(self.access, credential_limits)
        self.host = host
        self.time_scale = time_scale
        self.presence = PresenceRegistry()
        self.faults = FaultKnobs()
        self.gateway = DeviceGateway(
            self.store,
            self.presence,
            self.faults,
            time_scale=time_scale,
            login_limits=login_limits,
            quota_limits=quota_limits,
        )
        if isinstance(certs, LabCertificates):
            self.certs = certs
        else:
            self.certs = LabCertificates(Path(certs) if certs else Path(sqlite_path(db_path)).parent / "certs")
        self.mqtt_broker = mqtt_broker
        self.bridge: MqttBridge | None = None
        self.binary = BinaryServer(self.gateway)
        self.binary_tls: BinaryServer | None = None
        self.mqtt: MqttBroker | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._runner: web.AppRunner | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.flush_failures = 0  # timer flushes that failed (the data stayed buffered)
        self.endpoints: Endpoints | None = None
        self._admin_email = DEFAULT_ADMIN_EMAIL
        self.console_key = secrets.token_urlsafe(18)
        """Reads the console (`/console#key=…`): lab-only, read-only, new at every start of the stub."""
        self.http_deadlines = HttpDeadlines()  # device seconds; set before start() to change them

    # --- set-up -----------------------------------------------------------------------------------
    def seed(
        self,
        *,
        admin_email: str = DEFAULT_ADMIN_EMAIL,
        admin_password: str = DEFAULT_ADMIN_PASSWORD,
        org: str = DEFAULT_ORG,
        templates: dict[str, str] | None = None,
    ) -> User:
        """Create the root org, an admin and templates when the store is new; returns the admin."""
        self._admin_email = admin_email
        existing = self.store.users.by_email(admin_email)
        if existing is not None:
            return existing
        org_id = self.store.orgs.create(org)
        for template_id, name in (templates or {DEFAULT_TEMPLATE_ID: DEFAULT_TEMPLATE_NAME}).items():
            self.store.templates.create(template_id, name, org_id)
        return self.store.users.create(admin_email, admin_password, org_id)

    def lab_info(self) -> dict[str, object]:
        """What a lab in another process needs to send boards here (`GET /api/v1/lab/info`)."""
        endpoints = self.endpoints
        if endpoints is None:
            raise StoreError("the stub is not started")
        ca = self.certs.ca_file.read_text() if self.certs.exists() else None
        return {
            "host": endpoints.host,
            "binaryPort": endpoints.binary_port,
            "tlsPort": endpoints.tls_port,
            "mqttPort": endpoints.mqtt_port,
            "mqttsPort": endpoints.mqtts_port,
            "mqttBroker": endpoints.mqtt_broker,
            "caPem": ca,
            "templates": {t.id: t.name for t in self.store.templates.all()},
        }

    def is_online(self, device_id: int) -> bool:
        return self.presence.is_online(device_id)

    def seed_org(self, name: str, parent: str | None = None, templates: tuple[str, ...] = ()) -> int:
        """A sub-organization under `parent` (the root org by default) with `templates` enabled; an org of
        that name that already exists is kept as it is (seeding a database twice changes nothing)."""
        existing = self.tree.org_by_name(name)
        if existing is not None:
            return existing.id
        parent_org = self.tree.org_by_name(parent) if parent is not None else None
        if parent is not None and parent_org is None:
            raise StoreError(f"cannot seed org {name!r}: no parent org {parent!r} (seed parents first)")
        parent_id = parent_org.id if parent_org is not None else self.admin().org_id
        org = self.tree.create_org(name, parent_id)
        for template_id in templates:
            self.tree.enable_template(org.id, template_id)
        return org.id

    def seed_user(self, email: str, password: str, org: str | None = None, role: str = "Admin") -> User:
        """An active user of `org` (the root org by default) who can log in with `password`; kept when the
        e-mail is already known."""
        existing = self.store.users.by_email(email)
        if existing is not None:
            return existing
        org_row = self.tree.org_by_name(org) if org is not None else None
        if org is not None and org_row is None:
            raise StoreError(f"cannot seed user {email!r}: no org {org!r}")
        return self.store.users.create(email, password, org_row.id if org_row else self.admin().org_id, role)

    async def start(
        self,
        binary_port: int = 0,
        http_port: int = 0,
        *,
        tls_port: int | None = 0,
        mqtt_port: int | None = 0,
        mqtts_port: int | None = 0,
    ) -> Endpoints:
        """Open the ports (0 = any free one, None = not at all) and start flushing device traffic."""
        tls_wanted = tls_port is not None or mqtts_port is not None
        if tls_wanted:
            self._tls_context = self.certs.ensure().server_context()
        port = await self.binary.start(self.host, binary_port)
        actual_tls = None
        if tls_port is not None:
            self.binary_tls = BinaryServer(self.gateway, ssl_context=self._tls_context)
            actual_tls = await self.binary_tls.start(self.host, tls_port)
        if mqtt_port is not None or mqtts_port is not None:
            self.mqtt = MqttBroker(self.gateway, self.host)
            await self.mqtt.start(mqtt_port, mqtts_port, self._tls_context)
            if self.mqtt_broker is not None:
                self.bridge = MqttBridge(self.mqtt_broker, self.mqtt, self.gateway)
                try:
                    await self.bridge.start()
                except MqttBridgeError:
                    await self.stop()
                    raise
                self.mqtt.bridge = self.bridge
        elif self.mqtt_broker is not None:
            raise MqttBridgeError("fronting an MQTT broker needs the stub's MQTT device API (an MQTT port)")
        smtp_url = self.smtp
        if smtp_url == "sink":
            self.mail_sink = MailSink(self.host)
            await self.mail_sink.start()
            smtp_url = self.mail_sink.url
        services = TenancyServices(
            self.access, self.invitations, Mailer(smtp_url) if smtp_url else None, self.credentials
        )
        app = build_app(self.gateway, services)
        lab_api.add_routes(app, self)
        console.add_routes(app, self.console_key)
        self._runner = GuardedAppRunner(
            app, deadlines=self.http_deadlines.scaled(self.time_scale), on_cut=self._http_cut, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, http_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        actual_http = int(server.sockets[0].getsockname()[1])
        self._flusher = asyncio.create_task(self._flush_forever())
        self.endpoints = Endpoints(
            self.host,
            port,
            actual_http,
            tls_port=actual_tls,
            mqtt_port=self.mqtt.port if self.mqtt else None,
            mqtts_port=self.mqtt.tls_port if self.mqtt else None,
            mqtt_broker=self.mqtt_broker,
            smtp_url=smtp_url,
        )
        return self.endpoints

    def _http_cut(self, phase: Phase, peer: str) -> None:
        self.store.events.add("http_timeout", None, {"peer": peer, "waiting_for": phase.value})

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                self.store.flush()
            except StoreError as exc:  # locked, full, gone: the buffer keeps everything; try again next tick
                self.flush_failures += 1
                if self.flush_failures == 1 or self.flush_failures % 100 == 0:
                    _log.warning(
                        "cloud store %s: flush failed (%s), %d writes kept for the next try",
                        self.store.path,
                        exc,
                        self.store.pending_writes,
                    )

    async def stop(self) -> None:
        """Close every port and connection, write what is pending, close the store."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.binary.stop()
        if self.binary_tls is not None:
            await self.binary_tls.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()  # devices' presence reaches the external broker before the bridge goes
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
        if self.mail_sink is not None:
            await self.mail_sink.stop()
        if not self.store.closed:
            self.store.events.add("cloud_stopped", None, {})
            self.store.close()

    # --- tokens and devices -----------------------------------------------------------------------
    def admin(self) -> User:
        user = self.store.users.by_email(self._admin_email)
        if user is None:
            raise StoreError(f"no admin {self._admin_email!r}; call seed() first")
        return user

    def issue_token(
        self,
        template_id: str = DEFAULT_TEMPLATE_ID,
        user: User | None = None,
        ttl_s: float = DEFAULT_TOKEN_TTL_S,
    ) -> IssuedToken:
        """A dynamic token for a new device of `template_id`, as `user` (the admin by default)."""
        return self.store.tokens.issue(user or self.admin(), template_id, ttl_s)

    def reprovision_token(self, device_id: int, user: User | None = None) -> IssuedToken:
        """A token that, at its first login, replaces the device's token and keeps its id and data (C3)."""
        return self.store.tokens.issue_reprovision(device_id, user or self.admin())

    def refresh_token(self, device_id: int) -> str:
        """New token now; the live session is kicked and the old token stops working (C4)."""
        return self.gateway.refresh(device_id)

    def revoke_token(self, token: str) -> int | None:
        return self.gateway.revoke(token)

    def delete_device(self, device_id: int) -> None:
        """As the console does: the device's token answers INVALID_TOKEN from now on (C2)."""
        self.gateway.delete_device(device_id)

    def device_for_token(self, token: str) -> Device | None:
        issued = self.store.tokens.get(token)
        if issued is None or issued.device_id is None or not issued.activated:
            return None
        return self.store.devices.get(issued.device_id)

    def write_pin(self, device_id: int, pin: str, *values: str) -> bool:
        """Write a datastream as the API would; True when it was pushed to the online device."""
        device = self.store.devices.get(device_id)
        if device is None:
            raise StoreError(f"no device {device_id} in this cloud")
        return self.gateway.write_to_device(device, pin.lower(), [str(v) for v in values])

    def _device_moved(self, device: Device) -> None:
        """A transferred device keeps its live session; the session learns its new org and owner."""
        presence = self.presence.get(device.id)
        if presence is not None:
            presence.device = replace(presence.device, org_id=device.org_id, owner_id=device.owner_id)

    # --- presence ---------------------------------------------------------------------------------
    async def wait_online(self, token: str, timeout_device_s: float) -> Device | None:
        """Wait until the device holding `token` is online; None on timeout."""

        def online() -> bool:
            device = self.store.devices.for_token(token)
            return device is not None and self.presence.is_online(device.id)

        ok = await self.presence.wait(online, timeout_device_s * self.time_scale)
        return self.store.devices.for_token(token) if ok else None

    async def wait_offline(self, device_id: int, timeout_device_s: float) -> bool:
        return await self.presence.wait(
            lambda: not self.presence.is_online(device_id), timeout_device_s * self.time_scale
        )

    def online(self) -> list[OnlineDevice]:
        return [
            OnlineDevice(p.device_id, p.device.org_id, p.device.template_id, p.transport, p.peer, p.since)
            for p in self.presence.sessions()
        ]

    def events(self, kind: str | None = None) -> list[dict[str, object]]:
        return self.store.events.entries(kind)

    def mailbox(self, recipient: str) -> list[Mail]:
        """What the stub's own mail sink received for `recipient` (invitations); [] without a sink."""
        return self.mail_sink.mailbox(recipient) if self.mail_sink is not None else []

    # --- faults and actions -----------------------------------------------------------------------
    def drop_connections(self) -> int:
        """Close every live device session now (devices see the server vanish); returns how many."""
        count = self.gateway.drop_all(CloseReason.DROPPED)
        self.store.events.add("fault_drop_connections", None, {"sessions": count})
        return count

    def _live(self, device_id: int) -> DeviceLink:
        presence = self.presence.get(device_id)
        if presence is None:
            raise DeviceOffline(f"device {device_id} is offline; it has no session to send to")
        return presence.link

    def redirect_device(self, device_id: int, host: str, port: int) -> None:
        """Send the online device elsewhere now: REDIRECT (41) or `downlink/redirect` (C6)."""
        self._live(device_id).redirect(host, port)

    def ping_device(self, device_id: int) -> None:
        """PING (binary) or `downlink/ping` QoS 1 (MQTT) to the online device."""
        self._live(device_id).ping()

    def reconfigure(self, device_id: int) -> None:
        """`downlink/reconfigure` (MQTT). Offline -> `DeviceOffline`; binary -> `DownlinkNotSupported` (C3)."""
        self._live(device_id).reconfigure()

    def push_ota(
        self,
        device_id: int,
        image: bytes | None = None,
        *,
        version: str | None = None,
        build: str | None = None,
        fw_type: str | None = None,
        corrupt: bool = False,
        host: str | None = None,
        size: int = DEFAULT_IMAGE_SIZE,
    ) -> OtaPush:
        """Blynk.Air: offer firmware to the online device now (D6). See `ota.py` for the whole exchange.

        `image` is served as is (an ESP app image; its `blnkinf` tag gives the version when `version` is not
        given); without one, a valid image of `size` bytes saying `mcu` = `version` is made. `fw_type`
        defaults to the device's template id, `build` to now as `__DATE__ " " __TIME__`. The device is told
        `http://<host>:<http port>/static/ota/<id>.bin?token=<its token>`, `host` being the stub's own address
        unless given (e.g. the cloud host name the lab's networks resolve). `corrupt` damages the served
        bytes (the MD5 headers still describe the intended image): the firmware's MD5 check fails.
        Offline -> `DeviceOffline`; a URL too long for a binary-protocol device -> `DownlinkNotSupported`.
        """
        device = self.store.devices.get(device_id)
        if device is None:
            raise StoreError(f"no device {device_id} in this cloud")
        presence = self.presence.get(device_id)
        if presence is None:
            raise DeviceOffline(f"device {device_id} is offline; it has no session to send the OTA to")
        if self.endpoints is None:
            raise StoreError("the cloud stub is not started; it has no HTTP server to serve the image from")
        fw_type = fw_type or device.template_id
        build = build or compile_stamp(datetime.now(timezone.utc))
        if image is None:
            if not version:
                raise ValueError("push_ota needs an image or a version to build one with")
            image = firmware_image(version, fw_type=fw_type, build=build, template_id=device.template_id, size=size)
        else:
            version = version or image_version(image)
            if not version:
                raise ValueError("the OTA image has no blnkinf version tag; pass version=")
        web_host = host or self.endpoints.host
        web_host = f"[{web_host}]" if ":" in web_host else web_host
        package = self.gateway.ota.prepare(
            device,
            image,
            base_url=f"http://{web_host}:{self.endpoints.http_port}",
            version=version,
            build=build,
            fw_type=fw_type,
            corrupt=corrupt,
            transport=presence.transport.value,
            previous_version=DeviceInfo.from_pairs(device.info).fw_ver,
        )
        if not presence.link.ota(self.gateway.ota.offer(package)):
            raise DeviceOffline(f"device {device_id} is going offline; the OTA could not be sent")
        self.gateway.ota.shelve(package)
        return package.push

    def ota_status(self, push_id: str) -> OtaStatus:
        """How far a push got: pushed, downloaded, then succeeded or failed (the device's next info message)."""
        package = self.gateway.ota.get(push_id)
        if package is None:
            raise StoreError(f"no OTA push {push_id!r} in this cloud")
        return package.status

    def firmware_version(self, device_id: int) -> str | None:
        """The firmware version the device last announced (`mcu`/`ncp` or `fw` of its info), None before any."""
        device = self.store.devices.get(device_id)
        return DeviceInfo.from_pairs(device.info).fw_ver if device is not None else None

    def rotate_certificate(self, *, new_ca: bool = False) -> None:
        """New server certificate (same CA), or a new CA too (clients trusting the old CA fail) (C7)."""
        if new_ca:
            self.certs.rotate_ca()
        else:
            self.certs.rotate_server()
        self._reload_tls("certificate_rotated", new_ca=new_ca)

    def expire_certificate(self) -> None:
        """Serve a server certificate that expired yesterday from now on (C7)."""
        self.certs.expire_server()
        self._reload_tls("certificate_expired")

    def _reload_tls(self, kind: str, **detail: object) -> None:
        if self._tls_context is not None:
            self.certs.reload_into(self._tls_context)
        self.store.events.add(kind, None, {"at": time.time(), **detail})

    def stats(self) -> dict[str, int]:
        connections = len(self.binary.connections) + (len(self.binary_tls.connections) if self.binary_tls else 0)
        return {**self.gateway.counters, "online": len(self.presence), "binary_connections": connections}

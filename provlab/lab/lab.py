"""The Lab: builds a world (cloud stub, air, boards, phones) from a config and tears it down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from provlab.cloud.records import Device, User
from provlab.cloud.stub import CloudStub, Endpoints
from provlab.drivers.discovery import find_ports
from provlab.drivers.inventory import Inventory
from provlab.drivers.replay import ReplayBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.station import open_inventory_board
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import PtySerial
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.capabilities import NeedsEmbeddedCloud
from provlab.lab.cloud_rest import CloudRest
from provlab.lab.config import LabConfig, SeedOrg
from provlab.lab.enrollment import Enrollment
from provlab.lab.journal import Journal, mask_value
from provlab.lab.lab_board import LabBoard
from provlab.lab.lab_phone import LabPhone
from provlab.lab.phone import OAuthClient, Phone
from provlab.lab.raw_client import RawDeviceClient
from provlab.lab.remote_cloud import RemoteCloud, RemoteCloudError
from provlab.lab.runtime import LAB_CALL_BUDGET_S, EventLoopThread
from provlab.lab.timeline import write_timeline
from provlab.protocol.ssid import format_mac
from provlab.wifi.backend import HostedAccessPoint
from provlab.wifi.faults import Faults
from provlab.wifi.guard import TrafficGuard
from provlab.wifi.world import Air, open_air

log = logging.getLogger("provlab.lab")
T = TypeVar("T")

MAC_BASE = bytes.fromhex("246F28AA0000")


OPEN_LABS: list[Lab] = []
"""The labs open in this process now (the live progress view of `provlab run` shows their boards)."""


class Lab:
    """A whole provisioning world on loopback. Use as a context manager; everything is removed on exit."""

    def __init__(self, config: LabConfig | None = None, artifacts: str | Path | None = None) -> None:
        self.config = config or LabConfig()
        self.artifacts = Path(artifacts) if artifacts else Path(tempfile.mkdtemp(prefix="provlab-evidence-"))
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._private = Path(tempfile.mkdtemp(prefix="provlab-private-"))  # cloud DB, flash: hold secrets
        self._guard = TrafficGuard.enforce()
        self._guard.__enter__()
        self.loop = EventLoopThread()
        self.air: Air | None = None
        self.phone_journal = Journal(self.artifacts / "phone.jsonl")
        self.boards: list[LabBoard] = []
        self.home: HostedAccessPoint | None = None
        self._stub: CloudStub | None = None  # the embedded stub, or
        self._remote: RemoteCloud | None = None  # a stub running elsewhere (cloud.url)
        self._endpoints: Endpoints | None = None
        self._ca_file: Path | None = None
        self.admin: User | None = None
        self._phones: list[Phone] = []
        self._ports: list[PtySerial] = []
        self._rest_clients: list[CloudRest] = []
        self._closed = False
        OPEN_LABS.append(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        cfg = self.config
        self.air = air = open_air(cfg.wifi)
        endpoints = self._start_remote_cloud() if cfg.cloud_url else self._start_embedded_cloud()
        self._endpoints = endpoints
        device_ports = (endpoints.binary_port, endpoints.tls_port, endpoints.mqtt_port, endpoints.mqtts_port)
        for port in (*device_ports, endpoints.http_port):  # HTTP: the device API and OTA downloads
            if port is not None:
                air.open_internet_port(port)
        air.start_capture(self.artifacts / "wifi.pcap")
        self.home = air.add_network(
            cfg.home.ssid,
            passphrase=cfg.home.passphrase or None,
            dns={cfg.cloud_host: "127.0.0.1"},
            internet=cfg.home.internet,
            channel=cfg.home.channel,
        )
        for extra in cfg.extra_networks:
            air.add_network(
                extra.ssid,
                passphrase=extra.passphrase or None,
                dns={cfg.cloud_host: "127.0.0.1"},
                internet=extra.internet,
                channel=extra.channel,
            )
        for index in range(1, cfg.boards + 1):
            self.add_emulated_board(index)
        for attached in cfg.attached:
            self.attach_board(attached)

    def _seed_templates(self, org: SeedOrg) -> tuple[str, ...]:
        return org.templates if org.templates is not None else (self.config.template_id,)

    def _start_embedded_cloud(self) -> Endpoints:
        cfg = self.config
        cloud = CloudStub(self._private / "cloud.db", time_scale=cfg.time_scale)
        self._stub = cloud
        self.admin = cloud.seed(
            admin_email=cfg.cloud_admin_email,
            admin_password=cfg.cloud_admin_password,
            templates={cfg.template_id: cfg.template_name},
        )
        for org in cfg.seed_orgs:
            cloud.seed_org(org.name, org.parent, self._seed_templates(org))
        for user in cfg.seed_users:
            cloud.seed_user(user.email, user.password, user.org, user.role)
        endpoints = self.loop.run(cloud.start(), 30)
        self._ca_file = cloud.certs.ca_file
        return endpoints

    def _start_remote_cloud(self) -> Endpoints:
        cfg = self.config
        assert cfg.cloud_url is not None
        remote = RemoteCloud(cfg.cloud_url, cfg.cloud_admin_email, cfg.cloud_admin_password, self._private)
        self._remote = remote
        if cfg.template_id not in remote.info.get("templates", {}):
            raise RemoteCloudError(
                f"the cloud at {cfg.cloud_url} has no template {cfg.template_id} (it has "
                f"{', '.join(remote.info.get('templates', {})) or 'none'}); start it with that template or set "
                "template.id"
            )
        remote.seed(
            [{"name": o.name, "parent": o.parent, "templates": list(self._seed_templates(o))} for o in cfg.seed_orgs],
            [{"email": u.email, "password": u.password, "org": u.org, "role": u.role} for u in cfg.seed_users],
        )
        self.admin = remote.user(cfg.cloud_admin_email)
        self._ca_file = remote.ca_file
        binary = remote.port("binaryPort")
        if binary is None:
            raise RemoteCloudError(f"the cloud at {cfg.cloud_url} has no binary-protocol port")
        return Endpoints(
            str(remote.info.get("host", "127.0.0.1")),
            binary,
            urlsplit(remote.url).port or 80,
            tls_port=remote.port("tlsPort"),
            mqtt_port=remote.port("mqttPort"),
            mqtts_port=remote.port("mqttsPort"),
        )

    @property
    def cloud(self) -> CloudStub | None:
        """The embedded cloud stub (its store, presence and control calls). With `cloud.url` there is none
        in this process: scenario steps that need it raise `NeedsEmbeddedCloud` (reported as a skip)."""
        if self._remote is not None:
            raise NeedsEmbeddedCloud(
                f"this lab uses the cloud stub at {self._remote.url}; the step needs the stub in this process "
                "(its store, fault knobs or control calls). Run without cloud.url to include it."
            )
        return self._stub

    @property
    def endpoints(self) -> Endpoints:
        """Where the lab's cloud listens (HTTP API, device ports)."""
        assert self._endpoints is not None, "the lab's cloud is not started"
        return self._endpoints

    def add_emulated_board(self, index: int | None = None) -> LabBoard:
        cfg = self.config
        index = index or len(self.boards) + 1
        profile = PROFILES[cfg.profile](template_id=cfg.template_id, template_name=cfg.template_name)
        mac = MAC_BASE[:4] + (index * 4).to_bytes(2, "big")  # Espressif gives each chip 4 MACs (STA, AP, …)
        port = PtySerial()

        async def make() -> EmulatedBoard:
            board = EmulatedBoard(
                profile,
                mac,
                self._air.board_radio(f"board-{index}", mac=format_mac(mac)),
                self._private / f"board-{index}.nvs",
                port,
                clock=DeviceClock(cfg.time_scale),
                name=f"board-{index}",
                defects=cfg.defects,
                tls_ca=self._ca_file if cfg.cloud_tls else None,
            )
            port.attach(asyncio.get_running_loop())
            return board

        emulated = self.loop.run(make(), 30)
        serial = SerialBoard(
            port.path,
            name=f"board-{index}",
            log_path=self.artifacts / f"board-{index}.log",
            time_scale=cfg.time_scale,
            sideband=EmulatedSideband(emulated, self._run_on_loop),
        )
        self._ports.append(port)
        board = LabBoard(self, index, serial, emulated)
        self.boards.append(board)
        self.loop.run(emulated.power_on(), 30)
        return board

    def attach_board(self, attached: AttachedBoard) -> LabBoard:
        """A board this lab does not emulate: on a serial port, from the inventory, or a replayed recording."""
        cfg = self.config
        index = len(self.boards) + 1
        name = f"board-{index}"
        log_path = self.artifacts / f"{name}.log"
        profile: str | None = None
        serial: SerialBoard
        if attached.source is BoardSource.REPLAY:
            serial = ReplayBoard(attached.target, name=name, log_path=log_path, time_scale=cfg.time_scale)
        elif attached.source is BoardSource.INVENTORY:
            assert cfg.inventory is not None  # LabConfig checks it
            entry = Inventory.load(cfg.inventory).get(attached.target)
            found = Inventory([entry]).locate(find_ports(include_all=True))[0]
            serial = open_inventory_board(found, log_path=log_path, time_scale=cfg.time_scale)
            profile = entry.tags.get("profile")
        else:
            serial = SerialBoard(attached.target, name=name, log_path=log_path, time_scale=cfg.time_scale)
        board = LabBoard(self, index, serial, None, attached=attached, profile=profile)
        self.boards.append(board)
        return board

    @property
    def _cloud(self) -> CloudStub:
        cloud = self.cloud
        assert cloud is not None, "the lab's cloud is not built"
        return cloud

    @property
    def cloud_port(self) -> int:
        """The port boards are told to log in on: the stub's TLS port, or its plain one without TLS."""
        endpoints = self.endpoints
        mqtt = PROFILES[self.config.profile]().transport == "mqtt"
        if mqtt:
            port = endpoints.mqtts_port if self.config.cloud_tls else endpoints.mqtt_port
        else:
            port = endpoints.tls_port if self.config.cloud_tls else endpoints.binary_port
        return port if port is not None else endpoints.binary_port

    @property
    def _air(self) -> Air:
        assert self.air is not None, "the lab's air is not built"
        return self.air

    def _run_on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro, LAB_CALL_BUDGET_S)

    def phone(
        self,
        email: str | None = None,
        password: str | None = None,
        profile: str = "generic",
        *,
        oauth_client: OAuthClient | None = None,
    ) -> LabPhone:
        """A phone logged in as `email`; `profile` models an app/OS behaviour (generic, ios, android).
        With `oauth_client` it logs in by OAuth2 client credentials acting as `email` (no password).
        Without `email`, the cloud's admin (password too)."""
        email, password = self._credentials(email, password)
        phone = Phone(
            self._air.station(f"phone-{len(self._phones) + 1}"),
            self.endpoints.http_url,
            email=email,
            password="" if oauth_client is not None else password,
            oauth_client=oauth_client,
            time_scale=self.config.time_scale,
            journal=self.phone_journal,
            profile=profile,
        )
        self._phones.append(phone)
        return LabPhone(self, phone)

    def _credentials(self, email: str | None, password: str | None) -> tuple[str, str]:
        """`email` and `password`, or the cloud's admin when no e-mail is given."""
        if email is None:
            return self.config.cloud_admin_email, password or self.config.cloud_admin_password
        return email, password or ""

    def cloud_call(self, fn: Callable[[CloudStub], T]) -> T:
        """Run `fn(cloud)` on the stub's event loop (its control API lives there) and return the result."""
        cloud = self._cloud
        return self.loop.call(lambda: fn(cloud), LAB_CALL_BUDGET_S)

    def cloud_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The cloud's journal (of this lab's run, with a shared stub), oldest first."""
        if self._remote is not None:
            return self._remote.events(kind)
        return self.cloud_call(lambda cloud: [dict(e) for e in cloud.events(kind)])

    def wait_cloud_event(self, kind: str, timeout: float = 60.0, since: int = 0) -> dict[str, Any]:
        """The first cloud event of `kind` after the first `since` ones, waiting up to `timeout` device seconds."""
        deadline = time.monotonic() + max(timeout * self.config.time_scale, 2.0)
        while True:
            events = self.cloud_events(kind)
            if len(events) > since:
                return events[since]
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected a cloud event {kind!r} within {timeout:g} s (device time), saw {len(events)}; "
                    f"evidence: {self.artifacts}"
                )
            time.sleep(max(0.1 * self.config.time_scale, 0.005))

    def restart_cloud(self) -> None:
        """Stop the stub and start a new one on the same ports, database and certificates (C12)."""
        old = self._cloud
        endpoints = old.endpoints
        assert endpoints is not None
        self.loop.run(old.stop(), 30)
        cloud = CloudStub(self._private / "cloud.db", time_scale=self.config.time_scale, certs=old.certs)
        self._stub = cloud
        self.loop.run(cloud.start(endpoints.binary_port, endpoints.http_port, tls_port=endpoints.tls_port), 30)

    def rest(self, email: str | None = None, password: str | None = None) -> CloudRest:
        """The cloud's REST API as `email` (the cloud's admin by default; closed with the lab)."""
        client = CloudRest(self.endpoints.http_url, *self._credentials(email, password))
        self._rest_clients.append(client)
        return client

    def invite_user(self, admin: CloudRest, org: int, email: str, password: str, role: str = "Admin") -> CloudRest:
        """Invite `email` into `org`, read the mail from the stub's sink, set the password, log in."""
        admin.invite(org, email, role)
        if self._remote is not None:
            bodies = self._remote.mail_bodies(email)
        else:
            bodies = self.cloud_call(lambda cloud: [m.body for m in cloud.mailbox(email)])
        if len(bodies) != 1:
            raise AssertionError(f"expected one invitation mail to {email}, the sink holds {len(bodies)}")
        admin.accept_invitation(bodies[0], password)
        return self.rest(email, password)

    def raw_device(self) -> RawDeviceClient:
        """A bare device connection to the stub's plain binary port (for misbehaving-device scenarios)."""
        return RawDeviceClient(self.endpoints.binary_port)

    @property
    def faults(self) -> Faults:
        """The air's run-time fault knobs (AP down/up, RSSI, channel, internet, DNS, kick)."""
        return self._air.faults

    def user(self, email: str) -> User:
        user = self._remote.user(email) if self._remote is not None else self._cloud.store.users.by_email(email)
        if user is None:
            raise LookupError(f"the cloud has no user {email!r}")
        return user

    def device_for(self, enrollment: Enrollment) -> Device | None:
        """The device the enrollment's token activated (None before it logged in)."""
        token = enrollment.token
        assert token is not None, "the enrollment never got a token"
        if self._remote is not None:
            found = self._remote.device_for_token(token)
            return found[0] if found is not None else None
        cloud = self._cloud
        return self.loop.call(lambda: cloud.device_for_token(token))

    def is_online(self, device_id: int) -> bool:
        if self._remote is not None:
            found = self._remote.device(device_id)
            return found is not None and found[1]
        cloud = self._cloud
        return self.loop.call(lambda: cloud.presence.is_online(device_id))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError):
            OPEN_LABS.remove(self)
        for client in self._rest_clients:
            client.close()
        for phone in self._phones:
            with contextlib.suppress(Exception):
                self.loop.run(phone.close(), 10)
        for board in self.boards:
            if board.emulated is not None:
                with contextlib.suppress(Exception):
                    self.loop.run(board.emulated.power_off(), 30)
        for board in self.boards:
            board.serial.close()
        for port in self._ports:
            port.close()
        if self._stub is not None or self._remote is not None:
            self._dump_cloud_events()
        if self._stub is not None:
            with contextlib.suppress(Exception):
                self.loop.run(self._stub.stop(), 30)
        if self._remote is not None:
            self._remote.close()
        self.loop.close()
        if self.air is not None:
            self._dump_air_events()
            with contextlib.suppress(Exception):
                self.air.close()
        self.phone_journal.close()
        with contextlib.suppress(Exception):
            write_timeline(self.artifacts)
        self._guard.__exit__(None, None, None)
        shutil.rmtree(self._private, ignore_errors=True)

    def _dump_air_events(self) -> None:
        assert self.air is not None
        with contextlib.suppress(Exception), (self.artifacts / "air.jsonl").open("w", encoding="utf-8") as out:
            for event in list(self.air.events):
                record = {"ts": event.wall_time, "kind": event.kind, "ssid": event.ssid, "bssid": event.bssid}
                if event.station:
                    record["station"] = event.station
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _dump_cloud_events(self) -> None:
        with (
            contextlib.suppress(Exception),
            (self.artifacts / "cloud.jsonl").open("w", encoding="utf-8") as out,
        ):
            events = self._remote.events() if self._remote is not None else self._cloud.store.events.entries()
            for event in events:
                out.write(json.dumps(mask_value("", event), ensure_ascii=False) + "\n")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["LAB_CALL_BUDGET_S", "OPEN_LABS", "Lab", "LabBoard", "LabPhone"]

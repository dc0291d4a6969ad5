"""The Lab: builds a world (cloud stub, air, boards, phones) from a config and tears it down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from provlab.clock.base import LabClock
from provlab.clock.virtual import VirtualClock
from provlab.clock.wall import WallClock
from provlab.cloud.records import Device, User
from provlab.cloud.stub import CloudStub, Endpoints
from provlab.drivers.farm.labgrid_board import place_tags
from provlab.drivers.flashing import FirmwareFile
from provlab.drivers.serial_board import SerialBoard
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import PtySerial
from provlab.emulator.sideband import ALL as ALL_WIRED
from provlab.emulator.sideband import EmulatedSideband
from provlab.emulator.transports import TRANSPORTS
from provlab.lab.attached import inventory_entry, open_attached
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.capabilities import NoAirFaults, NoSecondPhone
from provlab.lab.cloud_rest import CloudRest
from provlab.lab.config import LabConfig
from provlab.lab.enrollment import Enrollment
from provlab.lab.fault_steps import AirFaultSteps, CloudFaultSteps
from provlab.lab.journal import Journal
from provlab.lab.lab_board import LabBoard
from provlab.lab.lab_cloud import LabCloud, open_lab_cloud
from provlab.lab.lab_phone import LabPhone
from provlab.lab.phone import OAuthClient, Phone
from provlab.lab.port_return import LOST_PORTS, LostPort, open_after_loss
from provlab.lab.raw_client import RawDeviceClient
from provlab.lab.runtime import LAB_CALL_BUDGET_S, EventLoopThread, LabTimeout
from provlab.lab.steps import StepJournal
from provlab.lab.teardown import LabTeardownError, Teardown
from provlab.lab.timeline import write_timeline
from provlab.protocol.ssid import format_mac
from provlab.wifi.backend import HostedAccessPoint
from provlab.wifi.guard import TrafficGuard
from provlab.wifi.world import Air, open_air

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

log = logging.getLogger("provlab.lab")
T = TypeVar("T")

MAC_BASE = bytes.fromhex("246F28AA0000")
WAITED_FOR = frozenset({BoardSource.PORT, BoardSource.INVENTORY})
"""Attached boards whose port the next test waits for when it went away (a replay has none, a farm's place is
acquired again)."""


def lab_clock_for(config: LabConfig) -> LabClock:
    """The virtual clock when everything the lab runs is in this process (emulated boards, the embedded
    cloud stub, a simulated or namespaced air); the wall clock, sped up by `time_scale` for the emulated
    parts, when something outside keeps wall time (a board on a serial port or a replayed recording, a
    cloud stub in another process, an MQTT broker the stub fronts). With no emulated board there is nothing
    for `time_scale` to speed up: the phone and the lab's waits run in real time, as the real boards do."""
    outside = config.cloud_url or config.attached or config.mqtt_broker
    if config.clock == "virtual" or (config.clock == "auto" and not outside):
        return VirtualClock()
    return WallClock(config.time_scale if config.boards else 1.0)


OPEN_LABS: list[Lab] = []
"""The labs open in this process now (the live progress view of `provlab run` shows their boards)."""


def _add_note(error: BaseException, note: str) -> None:
    """`note` on `error`'s report (Python 3.11+); logged on older Pythons."""
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:
        log.error("%s", note)


class Lab:
    """A whole provisioning world on loopback. Use as a context manager; everything is removed on exit."""

    def __init__(self, config: LabConfig | None = None, artifacts: str | Path | None = None) -> None:
        self.config = config or LabConfig()
        self.artifacts = Path(artifacts) if artifacts else Path(tempfile.mkdtemp(prefix="provlab-evidence-"))
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._private = Path(tempfile.mkdtemp(prefix="provlab-private-"))  # cloud DB, flash: hold secrets
        self._guard = TrafficGuard.enforce()
        self._guard.__enter__()
        self.clock: LabClock = lab_clock_for(self.config)
        """The one clock of this lab (see `lab_clock_for`)."""
        self.clock.attach_driver()
        self.loop = EventLoopThread(clock=self.clock)
        self.air: Air | None = None
        self.phone_journal = Journal(self.artifacts / "phone.jsonl")
        self.steps = StepJournal(self.artifacts / "steps.jsonl", clock=self.clock.now)
        """Every action the lab takes (board, phone, cloud, air, waits), written to `steps.jsonl`."""
        self.boards: list[LabBoard] = []
        self.home: HostedAccessPoint | None = None
        self._cloud_service: LabCloud | None = None
        """The lab's cloud: embedded in this process or running elsewhere, behind one interface."""
        self.admin: User | None = None
        self._phones: list[Phone] = []
        self._ports: list[PtySerial] = []
        self._board_ports: dict[str, PtySerial] = {}
        self._rest_clients: list[CloudRest] = []
        self._firmware: FirmwareFile | None = None
        self._closed = False
        OPEN_LABS.append(self)
        try:
            self._build()
        except BaseException as failure:
            try:
                self.close()
            except LabTeardownError as teardown:  # the build failure stays the error; the teardown's rides along
                _add_note(failure, str(teardown))
            raise

    def _build(self) -> None:
        cfg = self.config
        self.air = air = open_air(cfg.wifi, clock=self.clock, adapter_options=cfg.phone_radio)
        self._cloud_service = service = open_lab_cloud(cfg, self._private, self.loop, self.clock)
        self.admin = service.admin
        endpoints = service.endpoints
        device_ports = (endpoints.binary_port, endpoints.tls_port, endpoints.mqtt_port, endpoints.mqtts_port)
        for port in (*device_ports, endpoints.http_port):  # HTTP: the device API and OTA downloads
            if port is not None:
                air.open_internet_port(port)
        air.start_capture(self.artifacts / "wifi.pcap", masked=not cfg.unmasked_pcap)
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

    @property
    def cloud_service(self) -> LabCloud:
        """The lab's cloud behind one interface, wherever it runs."""
        assert self._cloud_service is not None, "the lab's cloud is not started"
        return self._cloud_service

    @property
    def cloud(self) -> CloudStub:
        """The embedded cloud stub (its store, presence and control calls). With `cloud.url` there is none
        in this process: scenario steps that need it raise `NeedsEmbeddedCloud` (reported as a skip)."""
        return self.cloud_service.stub()

    @property
    def endpoints(self) -> Endpoints:
        """Where the lab's cloud listens (HTTP API, device ports)."""
        return self.cloud_service.endpoints

    def add_emulated_board(self, index: int | None = None) -> LabBoard:
        cfg = self.config
        index = index or len(self.boards) + 1
        profile = PROFILES[cfg.profile](template_id=cfg.template_id, template_name=cfg.template_name)
        mac = MAC_BASE[:4] + (index * 4).to_bytes(2, "big")  # Espressif gives each chip 4 MACs (STA, AP, …)
        board_out = self.clock.channel(f"board-{index} serial out")
        board_in = self.clock.channel(f"board-{index} serial in")
        port = PtySerial(tx_channel=board_out, rx_channel=board_in)

        async def make() -> EmulatedBoard:
            board = EmulatedBoard(
                profile,
                mac,
                self._air.board_radio(f"board-{index}", mac=format_mac(mac)),
                self._private / f"board-{index}.nvs",
                port,
                clock=DeviceClock(lab_clock=self.clock),
                name=f"board-{index}",
                defects=cfg.defects,
                tls_ca=self.cloud_service.ca_file if cfg.cloud_tls else None,
            )
            port.attach(asyncio.get_running_loop())
            return board

        emulated = self.loop.run(make(), 30)
        self._install_firmware(emulated)
        serial = SerialBoard(
            port.path,
            name=f"board-{index}",
            log_path=self.artifacts / f"board-{index}.log",
            clock=self.clock,
            rx_channel=board_out,
            tx_channel=board_in,
            sideband=EmulatedSideband(emulated, self._run_on_loop, capabilities=getattr(profile, "wired", ALL_WIRED)),
        )
        self._ports.append(port)
        self._board_ports[f"board-{index}"] = port
        board = LabBoard(self, index, serial, emulated)
        self.boards.append(board)
        self.loop.run(emulated.power_on(), 30)
        return board

    def _install_firmware(self, emulated: EmulatedBoard) -> None:
        """`--flash FILE` on an emulated board: the file is its app partition, so it boots that image (its
        version in the banner and `devinfo`) and OTA starts from it. Recorded as a `firmware` step."""
        if self.config.firmware is None:
            return
        if self._firmware is None:
            self._firmware = FirmwareFile.load(self.config.firmware)
        firmware = self._firmware
        with self.steps.step("firmware", emulated.name, **firmware.evidence(), written="app partition (emulated)"):
            emulated.flash.write_app(firmware.data)

    def attach_board(self, attached: AttachedBoard) -> LabBoard:
        """A board this lab does not emulate: on a serial port, from the inventory, a board farm's labgrid place
        (acquired here, released when the board closes), or a replayed recording.
        A real board runs on the wall clock whatever `time_scale` is (that applies to emulated boards only); a
        recording replays at the lab's time scale."""
        index = len(self.boards) + 1
        name = f"board-{index}"
        serial = self._open_attached(attached, name, self.artifacts / f"{name}.log")
        entry = inventory_entry(self.config, attached)
        profile = entry.tags.get("profile") if entry is not None else None
        if attached.source is BoardSource.LABGRID:
            profile = place_tags(serial).get("profile")
        board = LabBoard(self, index, serial, None, attached=attached, profile=profile)
        self.boards.append(board)
        return board

    def _open_attached(self, attached: AttachedBoard, name: str, log_path: Path) -> SerialBoard:
        """Open the board's port; one that went away in an earlier test is waited for (`port_wait` wall seconds,
        a `wait_for_port` step) as a USB device re-enumerates or a port server restarts (`port_return`)."""
        key = str(attached)
        lost = LOST_PORTS.get(key) if attached.source in WAITED_FOR else None
        if lost is None:
            return open_attached(self.config, attached, name, log_path)
        with self.steps.step(
            "wait_for_port", name, port=key, wait_s=self.config.port_wait, lost_log=str(lost.log_path)
        ):
            return open_after_loss(
                key, lost, lambda: open_attached(self.config, attached, name, log_path), wait_s=self.config.port_wait
            )

    def _note_lost_ports(self) -> None:
        """Attached boards whose port is gone as their test ends: the next lab waits for them (`port_return`)."""
        for board in self.boards:
            attached = board.attached
            if attached is not None and attached.source in WAITED_FOR and not board.serial.connected:
                LOST_PORTS.note(str(attached), LostPort(board.name, board.serial.log_path))

    def remove_board(self, board: LabBoard) -> None:
        """Take `board` off the lab (a station's slot gets the next unit): power off, close its port."""
        if board.emulated is not None:
            self.loop.run(board.emulated.power_off(), 30)
        board.serial.close()
        port = self._board_ports.pop(board.name, None)
        if port is not None:
            port.close()
            self._ports.remove(port)
        self.boards.remove(board)

    @property
    def cloud_port(self) -> int:
        """The port boards are told to log in on: the stub's TLS port, or its plain one without TLS."""
        endpoints = self.endpoints
        transport = TRANSPORTS[PROFILES[self.config.profile]().transport]
        port: int | None = getattr(endpoints, transport.tls_port if self.config.cloud_tls else transport.plain_port)
        return port if port is not None else endpoints.binary_port

    @property
    def on_real_air(self) -> bool:
        """Whether the lab runs on the real air around the host (its phone is a real adapter, `wifi = wpa:IFACE`)
        rather than on one it builds."""
        return not self._air.hosted

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
        if self.on_real_air and self._phones:
            raise NoSecondPhone(
                f"this lab's phone is one real adapter ({self.config.wifi}), already {self._phones[0].name}'s radio; "
                "a scenario with two phones needs --wifi sim or netns"
            )
        phone = Phone(
            self._air.station(f"phone-{len(self._phones) + 1}"),
            self.endpoints.http_url,
            email=email,
            password="" if oauth_client is not None else password,
            oauth_client=oauth_client,
            time_scale=self.clock.scale,
            journal=self.phone_journal,
            steps=self.steps,
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
        cloud = self.cloud
        return self.loop.call(lambda: fn(cloud), LAB_CALL_BUDGET_S)

    def cloud_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The cloud's journal (of this lab's run, with a shared stub), oldest first."""
        return self.cloud_service.events(kind)

    def wait_cloud_event(self, kind: str, timeout: float = 60.0, since: int = 0) -> dict[str, Any]:
        """The first cloud event of `kind` after the first `since` ones, waiting up to `timeout` device seconds."""
        deadline = self.clock.deadline(timeout, 2.0)
        while True:
            events = self.cloud_events(kind)
            if len(events) > since:
                return events[since]
            if deadline.expired():
                raise AssertionError(
                    f"expected a cloud event {kind!r} within {self.clock.budget(timeout)}, saw {len(events)}; "
                    f"evidence: {self.artifacts}"
                )
            self.clock.sleep(0.1)

    def concurrently(self, *calls: Callable[[], T], wall_budget_s: float = LAB_CALL_BUDGET_S) -> list[T]:
        """Run `calls` at the same time, each on a thread of its own that drives the lab (two phones racing
        for one board); their results in order, or the first exception. The lab clock moves only while all
        of them wait for the lab, as it does for one driver."""
        count = len(calls)
        results: list[Any] = [None] * count
        errors: list[BaseException | None] = [None] * count
        attached = [threading.Event() for _ in calls]
        waiting = self.clock.driver_wait()
        left = [count]
        left_lock = threading.Lock()

        def body(index: int, call: Callable[[], T]) -> None:
            self.clock.attach_driver()
            attached[index].set()
            try:
                results[index] = call()
            except BaseException as exc:  # handed to the caller below
                errors[index] = exc
            finally:
                with left_lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    waiting.finish()  # the caller drives again from the instant the last call ends
                self.clock.detach_driver()

        threads = [
            threading.Thread(target=body, args=(i, call), name=f"provlab-driver-{i + 1}", daemon=True)
            for i, call in enumerate(calls)
        ]
        for thread in threads:
            thread.start()
        for event in attached:
            event.wait()
        waiting.release()
        try:
            for thread in threads:
                thread.join(wall_budget_s)
        finally:
            waiting.end()
        if any(thread.is_alive() for thread in threads):
            raise LabTimeout(f"concurrent lab calls did not finish within {wall_budget_s:g} s (wall)")
        for error in errors:
            if error is not None:
                raise error
        return results

    def restart_cloud(self) -> None:
        """Stop the stub and start a new one on the same ports, database and certificates (C12)."""
        endpoints = self.endpoints
        with self.steps.step("restart_cloud", "cloud", ports=[endpoints.binary_port, endpoints.http_port]):
            self.cloud_service.restart()

    def wait(self, device_seconds: float) -> None:
        """Let `device_seconds` of device time pass on the lab clock (a step on the record)."""
        with self.steps.step("wait", "lab", device_seconds=device_seconds):
            self.clock.sleep(device_seconds)

    def rest(self, email: str | None = None, password: str | None = None) -> CloudRest:
        """The cloud's REST API as `email` (the cloud's admin by default; closed with the lab)."""
        client = CloudRest(self.endpoints.http_url, *self._credentials(email, password))
        self._rest_clients.append(client)
        return client

    def oauth_client(self) -> OAuthClient:
        """New OAuth2 client credentials owned by the cloud's admin, made as an Admin makes them in the cloud's
        console for automation (a station): whoever uses them (`phone(oauth_client=...)`) logs in with no one's
        password. On the embedded stub they are made in it directly; a stub elsewhere makes them for the admin
        session the lab already holds."""
        return self.cloud_service.admin_oauth_client()

    def invite_user(self, admin: CloudRest, org: int, email: str, password: str, role: str = "Admin") -> CloudRest:
        """Invite `email` into `org`, read the mail from the stub's sink, set the password, log in."""
        admin.invite(org, email, role)
        bodies = self.cloud_service.mail_bodies(email)
        if len(bodies) != 1:
            raise AssertionError(f"expected one invitation mail to {email}, the sink holds {len(bodies)}")
        admin.accept_invitation(bodies[0], password)
        return self.rest(email, password)

    def raw_device(self) -> RawDeviceClient:
        """A bare device connection to the stub's plain binary port (for misbehaving-device scenarios)."""
        return RawDeviceClient(self.endpoints.binary_port)

    @property
    def faults(self) -> AirFaultSteps:
        """The air's run-time fault knobs (AP down/up, RSSI, channel, internet, DNS, kick); each a step."""
        if not self._air.hosted:
            raise NoAirFaults(
                f"this lab's air is the real one ({self.config.wifi}): it has no fault knobs; Wi-Fi faults need "
                "--wifi sim or netns (or a programmable router on the bench)"
            )
        return AirFaultSteps(self._air.faults, self.steps)

    @property
    def cloud_faults(self) -> CloudFaultSteps:
        """The embedded cloud stub's fault knobs (latency, refused logins, failing token issue, redirects);
        each switch a step. `NeedsEmbeddedCloud` (a skip) with a stub running elsewhere."""
        self.cloud  # noqa: B018 - raises NeedsEmbeddedCloud now, not at the first knob
        return CloudFaultSteps(lambda: self.cloud.faults, self.steps)

    def user(self, email: str) -> User:
        user = self.cloud_service.user(email)
        if user is None:
            raise LookupError(f"the cloud has no user {email!r}")
        return user

    def device_for(self, enrollment: Enrollment) -> Device | None:
        """The device the enrollment's token activated (None before it logged in)."""
        token = enrollment.token
        assert token is not None, "the enrollment never got a token"
        return self.cloud_service.device_for_token(token)

    def is_online(self, device_id: int) -> bool:
        return self.cloud_service.is_online(device_id)

    def close(self) -> None:
        """Stop everything and write the evidence; every part is tried even when one fails, and then
        `LabTeardownError` lists what failed to stop or to be written."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError):  # not listed: the lab failed before it was
            OPEN_LABS.remove(self)
        teardown = Teardown()
        for client in self._rest_clients:
            with teardown.attempt(f"closing the REST client of {client.email}"):
                client.close()
        for phone in self._phones:
            with teardown.attempt(f"closing {phone.name}'s cloud client"):
                self.loop.run(phone.close(), 10)
        for board in self.boards:
            if board.emulated is not None:
                with teardown.attempt(f"powering {board.name} off"):
                    self.loop.run(board.emulated.power_off(), 30)
        with teardown.attempt("noting the boards whose port went away"):
            self._note_lost_ports()
        for board in self.boards:
            with teardown.attempt(f"closing {board.name}'s serial port {board.serial.url}"):
                board.serial.close()
        for port in self._ports:
            with teardown.attempt(f"closing the pty {port.path}"):
                port.close()
        service = self._cloud_service
        if service is not None:
            with teardown.attempt("writing cloud.jsonl"):
                service.dump_events(self.artifacts / "cloud.jsonl")
            with teardown.attempt(f"stopping {service.describe()}"):
                service.close()
        with teardown.attempt("stopping the lab's event loop"):
            self.loop.close()
        self.clock.detach_driver()
        self.clock.close()
        if self.air is not None:
            with teardown.attempt("writing air.jsonl"):
                self._dump_air_events()
            with teardown.attempt("closing the air"):
                self.air.close()
        with teardown.attempt("closing phone.jsonl"):
            self.phone_journal.close()
        with teardown.attempt("closing steps.jsonl"):
            self.steps.close()
        with teardown.attempt("writing timeline.html"):
            write_timeline(self.artifacts)
        with teardown.attempt("lifting the traffic guard"):
            self._guard.__exit__(None, None, None)
        with (
            teardown.attempt(f"removing the private folder {self._private} (cloud database, flash images)"),
            contextlib.suppress(FileNotFoundError),  # already gone: nothing left to remove
        ):
            shutil.rmtree(self._private)
        teardown.raise_failures(self.artifacts)

    def _dump_air_events(self) -> None:
        assert self.air is not None
        with (self.artifacts / "air.jsonl").open("w", encoding="utf-8") as out:
            for event in list(self.air.events):
                record = {"ts": event.wall_time, "kind": event.kind, "ssid": event.ssid, "bssid": event.bssid}
                if event.station:
                    record["station"] = event.station
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["LAB_CALL_BUDGET_S", "OPEN_LABS", "Lab", "LabBoard", "LabPhone", "LabTeardownError"]

"""Faults injected while the phone provisions a board, and how the phone reports them (P1-P3, P9, P10)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from phone_world import HOME_SSID, World, run_in_world

from provlab.lab.enrollment import FailureKind
from provlab.lab.journal import Journal
from provlab.protocol.states import EdgentState


def _on_first(world: World, kind: str, action: Any) -> None:
    """Run `action()` right after the phone journals its first `kind` record (a run-time fault)."""
    journal: Journal = world.journal
    original = journal.write
    fired = False

    def write(record_kind: str, **fields: Any) -> dict[str, Any]:
        nonlocal fired
        record = original(record_kind, **fields)
        if record_kind == kind and not fired:
            fired = True
            action()
        return record

    journal.write = write  # type: ignore[method-assign]


def test_home_router_boots_after_the_board(air_kind: str, tmp_path: Path) -> None:
    """P9: the home AP is off when the board starts joining; it appears later and the board gets online."""

    async def body(world: World) -> None:
        world.air.faults.ap_down(HOME_SSID)
        _on_first(world, "cloud_http", lambda: world.air.faults.ap_up_after(HOME_SSID, 0.2))
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.ok, (enrollment.failure, enrollment.diagnosis)
        events = [(e.kind, e.ssid, e.station, e.detail) for e in world.air.events]
        up = events.index(("fault", HOME_SSID, "", "ap_up"))
        board_auth = [
            i
            for i, e in enumerate(events)
            if e[:3] == ("auth", HOME_SSID, "board-1-sta" if world.kind == "sim" else "board-1")
        ]
        assert board_auth and board_auth[0] > up

    run_in_world(air_kind, tmp_path, body)


def test_home_network_without_internet_is_classified_as_702(air_kind: str, tmp_path: Path) -> None:
    async def body(world: World) -> None:
        world.air.faults.set_internet(HOME_SSID, False)
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.failure is FailureKind.CLOUD and enrollment.last_error == 702
        assert "702" in (enrollment.diagnosis or "")

    run_in_world(air_kind, tmp_path, body)


def test_ap_disappears_mid_exchange_and_returns(air_kind: str, tmp_path: Path) -> None:
    async def body(world: World) -> None:
        board = world.boards[0]

        def flap() -> None:
            world.air.faults.ap_down(board.ssid)
            world.air.faults.ap_up_after(board.ssid, 0.05)

        _on_first(world, "joined", flap)
        enrollment = await world.provision(world.phone(), board)
        assert enrollment.ok, (enrollment.failure, [(s.name, s.error) for s in enrollment.steps])
        assert enrollment.rejoins == 1

    run_in_world(air_kind, tmp_path, body)


def test_phone_kicked_by_the_ap_rejoins(air_kind: str, tmp_path: Path) -> None:
    async def body(world: World) -> None:
        board = world.boards[0]
        kicked: list[str] = []
        _on_first(world, "joined", lambda: kicked.extend(world.air.faults.kick(board.ssid)))
        enrollment = await world.provision(world.phone(), board)
        assert kicked == ["phone-1"]
        assert enrollment.ok and enrollment.rejoins == 1

    run_in_world(air_kind, tmp_path, body)


def test_home_ap_lost_while_running_and_back(air_kind: str, tmp_path: Path) -> None:
    """P10: RUNNING -> CONNECTING_NET when the home AP goes; back to RUNNING with the same token."""

    async def body(world: World) -> None:
        board = world.boards[0]
        enrollment = await world.provision(world.phone(), board)
        assert enrollment.ok
        await world.wait_for(lambda: board.state is EdgentState.RUNNING, 60, "RUNNING")
        world.air.faults.ap_down(HOME_SSID)
        await world.wait_for(lambda: board.state is EdgentState.CONNECTING_NET, 60, "CONNECTING_NET")
        world.air.faults.ap_up(HOME_SSID)
        await world.wait_for(lambda: board.state is EdgentState.RUNNING, 120, "RUNNING again")
        device = world.cloud.device_for_token(enrollment.token or "")
        assert device is not None and device.id == enrollment.device_id
        await world.wait_for(lambda: world.cloud.presence.is_online(device.id), 60, "online again")

    run_in_world(air_kind, tmp_path, body)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (lambda f: f.set_dns_failure(HOME_SSID, True), FailureKind.CLOUD),
        (lambda f: f.set_rssi(HOME_SSID, -95), FailureKind.NETWORK),
        (lambda f: f.set_channel(HOME_SSID, 36), FailureKind.NETWORK),  # 5 GHz: an ESP32 cannot see it
    ],
    ids=["dns_failure", "rssi_drop", "wrong_channel"],
)
def test_home_network_faults_are_classified(tmp_path: Path, fault: Any, expected: FailureKind) -> None:
    async def body(world: World) -> None:
        fault(world.air.faults)
        enrollment = await world.provision(world.phone(), world.boards[0])
        assert enrollment.failure is expected, enrollment.diagnosis
        assert enrollment.last_error == expected.value

    run_in_world("sim", tmp_path, body)


def test_board_never_found_is_ap_not_found(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        enrollment = await world.phone().provision("Blynk Nowhere-0000", "x", "y", check=False)
        assert enrollment.failure is FailureKind.AP_NOT_FOUND
        assert [s.name for s in enrollment.steps] == ["cloud_login", "join_ap"]

    run_in_world("sim", tmp_path, body, boards=0)


def test_cloud_refusing_the_phone_is_a_cloud_api_failure(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        phone = world.phone()
        phone.password = "wrong"
        enrollment = await world.provision(phone, world.boards[0])
        assert enrollment.failure is FailureKind.CLOUD_API
        assert enrollment.steps[-1].name == "cloud_login"

    run_in_world("sim", tmp_path, body)


def test_two_phones_configure_the_same_board_at_once(tmp_path: Path) -> None:
    """P11: both phones get a token and send `/config`; one token wins, the cloud holds one device."""

    async def body(world: World) -> None:
        board = world.boards[0]
        first, second = await asyncio.gather(
            world.provision(world.phone(), board, online_timeout=30),
            world.provision(world.phone(), board, online_timeout=30),
        )
        winners = [e for e in (first, second) if e.ok]
        losers = [e for e in (first, second) if not e.ok]
        assert len(winners) == 1 and len(losers) == 1, [(e.failure, e.diagnosis) for e in (first, second)]
        # the loser either lost the AP mid-exchange or waited for a device that went online with the other token
        assert losers[0].failure in (FailureKind.AP_LOST, FailureKind.TIMEOUT)
        devices = [world.cloud.device_for_token(e.token or "") for e in (first, second)]
        assert [d.id for d in devices if d is not None] == [winners[0].device_id]

    run_in_world("sim", tmp_path, body)

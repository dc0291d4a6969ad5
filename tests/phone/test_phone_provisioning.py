"""The phone provisions an emulated board end to end, on the `sim` air and on the `netns` air."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from phone_world import World, run_in_world, skip_without_netns

from provlab.lab.enrollment import FailureKind
from provlab.protocol.states import EdgentState
from provlab.wifi.guard import is_loopback_host, namespace_inode, socket_namespace_inode

HAPPY_STEPS = ["cloud_login", "join_ap", "board_info", "token", "wifi_scan", "config", "leave_ap", "wait_online"]


def test_phone_provisions_an_emulated_board(air_kind: str, tmp_path: Path) -> None:
    async def body(world: World) -> None:
        board = world.boards[0]
        phone = world.phone()
        await world.ap_up(board)
        found = await phone.discover()
        assert [(b.ssid, b.template_name, b.suffix) for b in found] == [(board.ssid, "Device", board.ssid[-4:])]
        enrollment = await world.provision(phone, board)
        assert enrollment.ok, (enrollment.failure, [(s.name, s.error) for s in enrollment.steps])
        assert [s.name for s in enrollment.steps] == HAPPY_STEPS
        assert enrollment.step("config").response["status"] == 200
        assert enrollment.step("join_ap").response["gateway"] == "192.168.4.1"
        await world.wait_for(lambda: board.state is EdgentState.RUNNING, 60, "board RUNNING")
        device = world.cloud.device_for_token(enrollment.token or "")
        assert device is not None and device.id == enrollment.device_id
        assert world.cloud.presence.is_online(device.id)

    run_in_world(air_kind, tmp_path, body)


def test_wrong_home_password_is_classified_as_701_by_rejoining_the_ap(air_kind: str, tmp_path: Path) -> None:
    """P1: `/config` is accepted, the board records 701 and comes back; the phone reads it."""

    async def body(world: World) -> None:
        enrollment = await world.provision(world.phone(), world.boards[0], wifi_pass="wrong-password")
        assert not enrollment.ok
        assert enrollment.step("config").response["status"] == 200
        assert enrollment.failure is FailureKind.NETWORK
        assert enrollment.last_error == 701
        assert enrollment.steps[-1].name == "diagnose"
        assert enrollment.step("diagnose").args["ap"] == "returned"
        assert world.cloud.device_for_token(enrollment.token or "") is None  # the token was never used

    run_in_world(air_kind, tmp_path, body)


def test_a_long_polling_phone_enrolls_and_still_sees_the_ap_come_back(air_kind: str, tmp_path: Path) -> None:
    """`Phone(long_poll=True)` (the fleet bench's phones): one status request waits for the device to come
    online; beside it the AP is watched, so a board that returns with 701 is still diagnosed."""

    async def body(world: World) -> None:
        first, second = world.boards
        phone = world.phone(long_poll=True)
        enrollment = await world.provision(phone, first)
        assert enrollment.ok, (enrollment.failure, [(s.name, s.error) for s in enrollment.steps])
        assert [s.name for s in enrollment.steps] == HAPPY_STEPS
        assert enrollment.step("wait_online").response["online"] is True
        asked = [r for r in world.journal.records if r["kind"] == "cloud_http" and r["method"] == "GET"]
        assert len(asked) == 1 and "?wait=" in asked[0]["path"]  # no polling: one request, answered online
        failed = await world.provision(phone, second, wifi_pass="wrong-password")
        assert failed.failure is FailureKind.NETWORK and failed.last_error == 701
        assert failed.step("diagnose").args["ap"] == "returned"

    run_in_world(air_kind, tmp_path, body, boards=2)


def test_netns_run_sends_nothing_beyond_loopback_from_the_host_namespace(tmp_path: Path) -> None:
    """Every connect/sendto of a whole netns run: loopback, or made by a socket living in a lab namespace."""
    skip_without_netns("netns")
    host = namespace_inode("/proc/self/ns/net")
    seen: list[tuple[str, str, int | None]] = []
    recording = True

    def record(event: str, args: tuple[Any, ...]) -> None:
        if recording and event in ("socket.connect", "socket.sendto") and isinstance(args[1], tuple):
            seen.append((event, str(args[1][0]), socket_namespace_inode(args[0])))

    sys.addaudithook(record)

    async def body(world: World) -> None:
        assert (await world.provision(world.phone(), world.boards[0])).ok

    try:
        run_in_world("netns", tmp_path, body)
    finally:
        recording = False
    beyond = [(event, address, inode) for event, address, inode in seen if not is_loopback_host(address)]
    assert beyond, "the run used the namespaces' networks"  # DHCP, DNS, HTTP to 192.168.4.1, the uplink
    assert all(inode is not None and inode != host for _e, _a, inode in beyond), beyond
    assert {a for _e, a, _i in beyond} >= {"192.168.4.1", "255.255.255.255"}

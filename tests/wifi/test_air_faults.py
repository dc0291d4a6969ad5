"""Faults injected at run time, the same knobs on the `sim` air and the `netns` air."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from provlab.clock.virtual import VirtualClock
from provlab.wifi.backend import DnsFailure, LinkDown, NetworkNotFound
from provlab.wifi.faults import UnknownNetwork
from provlab.wifi.netns.namespace import unavailable_reason
from provlab.wifi.world import Air, open_air

HOME = "ProvlabHome"
PASS = "correct-horse-battery"


@pytest.fixture(params=["sim", "netns"])
def with_air(request: pytest.FixtureRequest) -> Callable[[Callable[[Air], Awaitable[None]]], None]:
    kind = str(request.param)
    if kind == "netns" and (reason := unavailable_reason()) is not None:
        pytest.skip(f"netns backend unavailable here: {reason}")

    def run(body: Callable[[Air], Awaitable[None]]) -> None:
        clock = VirtualClock()  # fault timers and the test's waits count lab time, whatever the host's load
        air = open_air(kind, clock=clock)
        loop = clock.new_loop()
        try:
            air.add_network(HOME, passphrase=PASS, dns={"blynk.cloud": "127.0.0.1"})
            loop.run_until_complete(body(air))
        finally:
            air.close()
            loop.close()

    return run


def _ssids(aps: list[Any]) -> set[str]:
    return {ap.ssid for ap in aps}


def test_ap_disappears_and_returns(with_air: Any) -> None:
    async def body(air: Air) -> None:
        phone = air.station("phone")
        link = await phone.join(HOME, PASS)
        air.faults.ap_down(HOME)
        assert not link.is_up and phone.link is None
        assert HOME not in _ssids(await phone.scan())
        with pytest.raises(NetworkNotFound):
            await phone.join(HOME, PASS)
        air.faults.ap_up(HOME)
        assert (await phone.join(HOME, PASS)).is_up
        kinds = [(e.kind, e.detail) for e in air.events if e.ssid == HOME]
        assert ("deauth", "ap_down") in kinds and ("beacon_stop", "") in kinds and kinds[-1] == ("assoc", "")

    with_air(body)


def test_home_ap_appears_late(with_air: Any) -> None:
    async def body(air: Air) -> None:
        air.faults.ap_down(HOME)
        air.faults.ap_up_after(HOME, 0.05)
        phone = air.station("phone")
        with pytest.raises(NetworkNotFound):
            await phone.join(HOME, PASS)
        for _ in range(200):
            if HOME in _ssids(await phone.scan()):
                break
            await asyncio.sleep(0.01)
        assert (await phone.join(HOME, PASS)).is_up

    with_air(body)


def test_rssi_drop_below_sensitivity_drops_and_hides_the_ap(with_air: Any) -> None:
    async def body(air: Air) -> None:
        phone = air.station("phone")
        link = await phone.join(HOME, PASS)
        air.faults.set_rssi(HOME, -70)
        assert link.is_up and {ap.rssi for ap in await phone.scan() if ap.ssid == HOME} == {-70}
        air.faults.set_rssi(HOME, -95)
        assert not link.is_up
        with pytest.raises(NetworkNotFound):
            await phone.join(HOME, PASS)

    with_air(body)


def test_wrong_channel_for_a_24ghz_station(with_air: Any) -> None:
    async def body(air: Air) -> None:
        board = air.board_radio("board-1").station  # an ESP32: 2.4 GHz, channels 1-13
        phone = air.station("phone")  # dual band
        link = await board.join(HOME, PASS)
        air.faults.set_channel(HOME, 36)
        assert not link.is_up
        assert HOME not in _ssids(await board.scan()) and HOME in _ssids(await phone.scan())
        with pytest.raises(NetworkNotFound):
            await board.join(HOME, PASS)
        assert (await phone.join(HOME, PASS)).is_up

    with_air(body)


def test_network_without_internet_and_dns_failure(with_air: Any) -> None:
    async def body(air: Air) -> None:
        link = await air.station("phone").join(HOME, PASS)
        cloud = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = cloud.sockets[0].getsockname()[1]
        air.open_internet_port(port)
        address = await link.lookup("blynk.cloud")
        _reader, writer = await link.open_connection(address, port, timeout=2)
        writer.close()
        air.faults.set_internet(HOME, False)
        assert link.is_up  # the link stays; the internet behind it is gone
        with pytest.raises((OSError, LinkDown, asyncio.TimeoutError)):
            await link.open_connection(address, port, timeout=0.5)
        air.faults.set_internet(HOME, True)
        _reader, writer = await link.open_connection(address, port, timeout=2)
        writer.close()
        air.faults.set_dns_failure(HOME, True)
        with pytest.raises(DnsFailure):
            await link.lookup("blynk.cloud")
        cloud.close()

    with_air(body)


def test_kick_one_station(with_air: Any) -> None:
    async def body(air: Air) -> None:
        first, second = air.station("phone-1"), air.station("phone-2")
        one, two = await first.join(HOME, PASS), await second.join(HOME, PASS)
        assert air.faults.kick(HOME, "phone-1") == ["phone-1"]
        assert not one.is_up and two.is_up
        assert air.faults.kick(HOME) == ["phone-2"]
        with pytest.raises(UnknownNetwork, match="no network 'Nowhere'"):
            air.faults.kick("Nowhere")

    with_air(body)

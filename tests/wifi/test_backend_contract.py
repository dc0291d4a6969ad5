"""The WifiBackend contract, run unchanged against every backend: sim, netns, wpa (fake
wpa_supplicant control socket, through pywifi) and nm (fake nmcli on PATH)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from wifi_worlds import HOME_PASS, HOME_SSID, OPEN_BSSID, OPEN_SSID, ContractWorld

from provlab.wifi.backend import (
    AuthenticationFailed,
    DnsFailure,
    LinkDown,
    NetworkNotFound,
    Security,
)
from provlab.wifi.http import LinkTransport

MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


async def _who_am_i(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A one-shot HTTP server: answers with the peer address it sees."""
    await reader.readuntil(b"\r\n\r\n")
    peer = writer.get_extra_info("peername")[0].encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(peer), peer))
    await writer.drain()
    writer.close()


def test_scan_lists_each_ap_with_ssid_bssid_channel_rssi_security(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        aps = {ap.ssid: ap for ap in await world.backend.scan()}
        assert {OPEN_SSID, HOME_SSID} <= set(aps)
        softap, home = aps[OPEN_SSID], aps[HOME_SSID]
        assert softap.bssid == OPEN_BSSID and MAC.match(home.bssid)
        assert softap.security is Security.OPEN and home.security is Security.WPA2
        assert softap.channel == 1 and home.channel == 6
        assert -100 < home.rssi < 0 and -100 < softap.rssi < 0

    in_world(body)


def test_join_an_open_ap_and_talk_http_through_the_link_only(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        await world.serve(OPEN_SSID, 8080, _who_am_i)
        link = await world.backend.join(OPEN_SSID)
        assert world.backend.link is link and link.is_up
        assert link.ssid == OPEN_SSID and link.bssid == OPEN_BSSID
        assert link.ip != link.gateway and link.ip.rsplit(".", 1)[0] == link.gateway.rsplit(".", 1)[0]
        async with httpx.AsyncClient(transport=LinkTransport(link)) as client:
            response = await client.get(f"http://{link.gateway}:8080/board_info.json")
        assert response.status_code == 200
        assert response.text == world.seen_as(link)  # the request left from the link's own address

    in_world(body)


def test_dns_is_what_the_joined_network_gives(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        link = await world.backend.join(OPEN_SSID)
        assert await link.lookup("blynk.setup") == link.gateway
        assert await asyncio.to_thread(link.resolve, "BLYNK.SETUP") == link.gateway  # sync, off the loop
        with pytest.raises(DnsFailure):
            await link.lookup("blynk.cloud")  # the SoftAP answers only blynk.setup (spec §2.1)
        home = await world.backend.join(HOME_SSID, HOME_PASS)
        assert await home.lookup("blynk.cloud")
        with pytest.raises(DnsFailure):
            await home.lookup("blynk.setup")

    in_world(body)


def test_wpa2_checks_the_passphrase(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        with pytest.raises(AuthenticationFailed):
            await world.backend.join(HOME_SSID, "wrong-passphrase")
        assert world.backend.link is None
        link = await world.backend.join(HOME_SSID, HOME_PASS)
        assert link.is_up and link.ssid == HOME_SSID

    in_world(body)


def test_an_ssid_that_is_not_on_the_air_is_not_found(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        with pytest.raises(NetworkNotFound):
            await world.backend.join("Blynk Nowhere-0000")

    in_world(body)


def test_leave_takes_the_link_down(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        await world.serve(OPEN_SSID, 8081, _who_am_i)
        link = await world.backend.join(OPEN_SSID)
        await world.backend.leave()
        assert world.backend.link is None and not link.is_up
        with pytest.raises(LinkDown):
            link.endpoint(link.gateway, 8081)
        async with httpx.AsyncClient(transport=LinkTransport(link)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://{link.gateway}:8081/")

    in_world(body)


def test_joining_another_network_replaces_the_link(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        first = await world.backend.join(OPEN_SSID)
        second = await world.backend.join(HOME_SSID, HOME_PASS)
        assert not first.is_up and second.is_up and world.backend.link is second

    in_world(body)


def test_only_stations_joined_to_an_ap_reach_its_servers(in_world) -> None:  # type: ignore[no-untyped-def]
    async def body(world: ContractWorld) -> None:
        if not world.isolating:
            pytest.skip(f"{world.kind}: isolation is the real access point's job")
        other = world.other  # type: ignore[attr-defined]
        await world.serve(OPEN_SSID, 8082, _who_am_i)
        home = await other.join(HOME_SSID, HOME_PASS)
        with pytest.raises((OSError, LinkDown, asyncio.TimeoutError)):
            await home.open_connection("192.168.4.1", 8082, timeout=0.3)

    in_world(body)

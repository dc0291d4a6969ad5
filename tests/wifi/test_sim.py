"""The `sim` air: WPA2 on join, per-network addressing and DNS, isolation, loopback only, air events."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from provlab.wifi.backend import ApFull, LinkDown
from provlab.wifi.http import LinkTransport
from provlab.wifi.sim import SimAir


def test_each_network_has_its_own_loopback_subnet_and_dhcp_like_addresses() -> None:
    async def scenario() -> None:
        air = SimAir()
        home = air.add_network("Home", passphrase="pw-pw-pw-pw")
        softap = air.start_softap("Blynk Device-1W7R", "24:6F:28:AA:BB:CD", 1)
        a, b = air.station("a"), air.station("b")
        link_a = await a.join("Blynk Device-1W7R")
        link_b = await b.join("Blynk Device-1W7R")
        assert (link_a.ip, link_b.ip, link_a.gateway) == ("192.168.4.2", "192.168.4.3", "192.168.4.1")
        assert link_a.local_address != link_b.local_address
        assert all(ip.startswith("127.") for ip in (link_a.local_address, softap.local_gateway, home.local_gateway))
        await a.leave()
        again = await air.station("c").join("Blynk Device-1W7R")
        assert again.ip == "192.168.4.2"  # a released address is handed out again
        assert [n.ssid for n in air.networks()] == ["Home", "Blynk Device-1W7R"]
        assert air.find("Home") is home
        air.remove_network(softap)
        assert air.find("Blynk Device-1W7R") is None and not link_b.is_up

    asyncio.run(scenario())


def test_softap_server_is_reachable_only_from_its_stations() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        air = SimAir()
        softap = air.start_softap("Blynk Device-1W7R", "24:6F:28:AA:BB:CD", 1)
        server = await softap.serve(80, handler)
        air.add_network("Home")
        phone = await air.station("phone").join("Blynk Device-1W7R")
        async with httpx.AsyncClient(transport=LinkTransport(phone)) as client:
            assert (await client.get("http://192.168.4.1/")).text == "ok"
        stranger = await air.station("stranger").join("Home")
        with pytest.raises(LinkDown):
            stranger.endpoint("192.168.4.1", 80)  # another network has no route to the SoftAP
        local = softap.service("192.168.4.1", 80)
        assert local is not None
        reader, writer = await asyncio.open_connection(*local)  # straight at its loopback socket: dropped
        assert await reader.read() == b""
        writer.close()
        await server.close()

    asyncio.run(scenario())


def test_air_events_for_capture_and_timeline() -> None:
    async def scenario() -> SimAir:
        air = SimAir()
        air.add_network("Home", passphrase="pw-pw-pw-pw")
        phone = air.station("phone", mac="02:11:22:33:44:55")
        with pytest.raises(Exception, match="wrong passphrase"):
            await phone.join("Home", "nope")
        await phone.join("Home", "pw-pw-pw-pw")
        await phone.leave()
        return air

    air = asyncio.run(scenario())
    assert [(e.kind, e.detail) for e in air.events] == [
        ("beacon_start", ""),
        ("auth", ""),
        ("auth_fail", ""),
        ("auth", ""),
        ("assoc", ""),
        ("deauth", "leaving"),
    ]
    assert {e.station_mac for e in air.events[1:]} == {"02:11:22:33:44:55"}
    assert all(e.security == "WPA2" and e.channel == 6 for e in air.events)


def test_capture_writes_frames_for_the_events(tmp_path: object) -> None:
    from scapy.layers.dot11 import Dot11Auth, Dot11Beacon, Dot11Deauth, Dot11Elt
    from scapy.utils import rdpcap

    path = f"{tmp_path}/air.pcap"

    async def scenario() -> None:
        air = SimAir()
        air.add_network("Home", passphrase="pw-pw-pw-pw", channel=11)
        capture = air.start_capture(path)
        station = air.station("phone")
        await station.scan()
        with pytest.raises(Exception, match="wrong passphrase"):
            await station.join("Home", "nope")
        await station.join("Home", "pw-pw-pw-pw")
        air.faults.kick("Home")
        capture.flush()  # frames are built when flushed (at the latest when the air closes)
        assert capture.frames_written > 0
        air.close()

    asyncio.run(scenario())
    frames = rdpcap(path)
    beacon = next(f for f in frames if f.haslayer(Dot11Beacon))
    assert beacon[Dot11Elt].info == b"Home" and beacon.ChannelFrequency == 2462
    assert any(f.haslayer(Dot11Elt) and f[Dot11Elt].ID == 0 for f in frames if f.subtype == 4)  # probe request
    reasons = [f[Dot11Deauth].reason for f in frames if f.haslayer(Dot11Deauth)]
    assert reasons == [15, 2]  # 4-way handshake timeout (wrong passphrase), then kicked
    assert [f[Dot11Auth].seqnum for f in frames if f.haslayer(Dot11Auth)] == [1, 2, 1, 2]


def test_sim_sockets_are_loopback_only() -> None:
    """Every address a sim link hands out to connect to is a loopback one."""

    async def scenario() -> None:
        air = SimAir()
        air.add_network("Home", dns={"blynk.cloud": "127.0.0.1"})
        link = await air.station("phone").join("Home")
        host, _port = link.endpoint(link.resolve("blynk.cloud"), 8080)
        assert socket.inet_aton(host)[0] == 127 and socket.inet_aton(link.local_address)[0] == 127

    asyncio.run(scenario())


def test_softap_takes_at_most_four_stations() -> None:
    """arduino-esp32's `softAP()` default `max_connection = 4` (audit #19): a fifth phone is refused."""

    async def scenario() -> None:
        air = SimAir()
        air.start_softap("Blynk Device-1W7R", "24:6F:28:AA:BB:CD", 1)
        phones = [air.station(f"phone{i}") for i in range(5)]
        for phone in phones[:4]:
            await phone.join("Blynk Device-1W7R")
        with pytest.raises(ApFull, match="4 stations"):
            await phones[4].join("Blynk Device-1W7R")
        await phones[0].leave()
        assert (await phones[4].join("Blynk Device-1W7R")).is_up
        home = air.add_network("Home")  # a router keeps no such limit
        for phone in phones:
            await phone.join("Home")
        assert home.station_count == 5

    asyncio.run(scenario())

"""The `sim` air at fleet scale: a /16 home network, scans that cost the networks in range, reused blocks."""

from __future__ import annotations

import asyncio
import ipaddress

from provlab.wifi import dhcp
from provlab.wifi.sim import LoopbackPlan, SimAir


async def _echo_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers with the peer address it sees, then closes."""
    await reader.readline()
    writer.write(f"{writer.get_extra_info('peername')[0]}\n".encode())
    await writer.drain()
    writer.close()


async def _ask(endpoint: tuple[str, int], local: str) -> str:
    reader, writer = await asyncio.open_connection(*endpoint, local_addr=(local, 0))
    writer.write(b"who\n")
    await writer.drain()
    answer = (await reader.readline()).decode().strip()
    writer.close()
    return answer


def test_a_slash_16_home_network_takes_stations_above_dot_254_over_real_sockets() -> None:
    async def scenario() -> None:
        with SimAir() as air:
            home = air.add_network("Home", passphrase="pw-pw-pw-pw", virtual_subnet="192.168.0.0/16")
            server = await home.serve(8080, _echo_peer)  # on the router, open to its stations only
            cloud = await asyncio.start_server(_echo_peer, "127.0.0.1", 0)
            cloud_port = int(cloud.sockets[0].getsockname()[1])
            stations = [air.station(f"s{i}") for i in range(600)]
            links = [await station.join("Home", "pw-pw-pw-pw") for station in stations]
            assert len({link.ip for link in links}) == 600
            last = links[-1]
            assert last.ip == "192.168.2.89"  # .2 + 599 = 601 = 2 * 256 + 89: far above .254
            assert ipaddress.ip_address(last.ip) in ipaddress.ip_network("192.168.0.0/16")
            # the router's own server sees the station's address, and so does an internet host through the relay
            assert await _ask(last.endpoint("192.168.0.1", 8080), last.local_address) == last.local_address
            assert await _ask(last.endpoint("127.0.0.1", cloud_port), last.local_address) == last.local_address
            await stations[3].leave()
            again = await air.station("late").join("Home", "pw-pw-pw-pw")
            assert again.ip == "192.168.0.5"  # the released address goes out again
            await server.close()
            cloud.close()

    asyncio.run(scenario())


def test_dhcp_on_a_slash_16_leases_past_dot_255_and_reuses_the_lowest_released() -> None:
    server = dhcp.DhcpServer("10.20.0.0/16", "10.20.0.1")
    addresses = []
    for n in range(700):
        mac = (0x020000000000 + n).to_bytes(6, "big")
        offer = server.answer(dhcp.DhcpMessage(1, n, mac, dhcp.MessageType.DISCOVER))
        assert offer is not None and offer.kind is dhcp.MessageType.OFFER
        addresses.append(offer.yiaddr)
    assert len(set(addresses)) == 700 and addresses[-1] == "10.20.2.189"  # .2 + 699
    for n in (5, 3):
        mac = (0x020000000000 + n).to_bytes(6, "big")
        server.answer(dhcp.DhcpMessage(1, 1, mac, dhcp.MessageType.RELEASE, ciaddr=addresses[n]))
    newcomer = dhcp.DhcpMessage(1, 9, bytes.fromhex("0200000fffff"), dhcp.MessageType.DISCOVER)
    offer = server.answer(newcomer)
    assert offer is not None and offer.yiaddr == addresses[3]  # lowest free first, as before


def test_a_scan_costs_the_networks_in_range_not_every_network_on_the_air() -> None:
    async def scenario() -> None:
        with SimAir(keep_events=False) as air:
            air.add_network("Home", passphrase="pw-pw-pw-pw")  # no place: heard everywhere
            for n in range(400):
                air.start_softap(
                    f"Blynk Device-{n:04X}", f"24:6F:28:00:{n >> 8:02X}:{n & 0xFF:02X}", 1, place=f"bench-{n // 8}"
                )
            phone = air.station("phone", place="bench-7")
            before = air.scan_work
            heard = await phone.scan()
            assert sorted(ap.ssid for ap in heard) == [*[f"Blynk Device-{n:04X}" for n in range(56, 64)], "Home"]
            assert air.scan_work - before == 9  # 8 SoftAPs at the bench + the home network, of 401
            assert heard[0] is (await phone.scan())[0]  # no new object per network per scan
            before = air.scan_work
            await phone.join("Blynk Device-003A")  # at bench-7: a look-up by name
            assert air.scan_work - before == 1
            far = air.station("far", place="bench-0")
            assert "Blynk Device-003A" not in {ap.ssid for ap in await far.scan()}
            everywhere = air.station("survey")  # no place: hears the whole air (the lab's default)
            assert len(await everywhere.scan()) == 401

    asyncio.run(scenario())


def test_removed_networks_give_their_loopback_blocks_back() -> None:
    plan = LoopbackPlan()
    with SimAir(plan=plan) as air:
        first = air.start_softap("Blynk Device-0001", "24:6F:28:00:00:01", 1)
        assert first.block == 8  # gateway + 4 stations fit in 8 addresses
        home = air.add_network("Home", virtual_subnet="10.0.0.0/16")
        assert home.block == 65536 and int(ipaddress.ip_address(home.local_gateway)) % 65536 == 1
        air.remove_network(first)
        again = air.start_softap("Blynk Device-0002", "24:6F:28:00:00:02", 1)
        assert again.local_gateway == first.local_gateway

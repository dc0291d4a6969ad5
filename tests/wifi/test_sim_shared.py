"""The shared air: a station of another process (here: another connection) on a worker's part of the air."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from provlab.wifi.backend import ApFull, LinkDown, NetworkNotFound
from provlab.wifi.http import link_get
from provlab.wifi.sim import SimAir
from provlab.wifi.sim_shared import AirPort, SharedAir


async def _hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    peer = writer.get_extra_info("peername")[0]
    body = peer.encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


def test_a_remote_phone_scans_joins_talks_and_is_told_when_the_ap_goes(tmp_path: Path) -> None:
    async def scenario() -> None:
        with SimAir() as air:
            port = AirPort(air, tmp_path / "w0.sock")
            await port.start()
            softap = air.start_softap("Blynk Device-0001", "24:6F:28:00:00:01", 1, place="w0/bench-0")
            air.start_softap("Blynk Device-0002", "24:6F:28:00:00:05", 1, place="w0/bench-1")
            server = await softap.serve(80, _hello)
            shared = SharedAir({"w0": str(tmp_path / "w0.sock")})
            try:
                phone = shared.station("phone")
                phone.move_to("w0/bench-0")
                assert [ap.ssid for ap in await phone.scan()] == ["Blynk Device-0001"]
                with pytest.raises(NetworkNotFound):
                    await phone.join("Blynk Device-0002")  # another bench: out of range
                link = await phone.join("Blynk Device-0001")
                assert (link.ip, link.gateway) == ("192.168.4.2", "192.168.4.1")
                assert softap.stations() == ["phone"]  # the worker's own air has the station
                answer = await link_get(link, "/", 5.0)
                assert answer.text == link.local_address  # the web server sees the phone's own address
                others = [shared.station(f"extra-{n}") for n in range(3)]
                for other in others:
                    other.move_to("w0/bench-0")
                    await other.join("Blynk Device-0001")
                late = shared.station("fifth")
                late.move_to("w0/bench-0")
                with pytest.raises(ApFull):
                    await late.join("Blynk Device-0001")
                await others[0].leave()
                await late.join("Blynk Device-0001")  # a station left: room again
                air.remove_network(softap)  # the board switched its AP off
                for _ in range(100):
                    if not link.is_up:
                        break
                    await asyncio.sleep(0.01)
                assert not link.is_up and phone.link is None
                with pytest.raises(LinkDown):
                    link.endpoint("192.168.4.1", 80)
                await server.close()
            finally:
                await shared.close()
                await port.stop()

    asyncio.run(scenario())


def test_a_phone_process_that_goes_away_takes_its_stations_off_the_air(tmp_path: Path) -> None:
    async def scenario() -> None:
        with SimAir() as air:
            port = AirPort(air, tmp_path / "w0.sock")
            await port.start()
            softap = air.start_softap("Blynk Device-0001", "24:6F:28:00:00:01", 1, place="w0/bench-0")
            shared = SharedAir({"w0": str(tmp_path / "w0.sock")})
            phone = shared.station("phone", place="w0/bench-0")
            await phone.join("Blynk Device-0001")
            assert softap.station_count == 1
            await shared.close()
            for _ in range(100):
                if softap.station_count == 0:
                    break
                await asyncio.sleep(0.01)
            assert softap.station_count == 0
            await port.stop()

    asyncio.run(scenario())

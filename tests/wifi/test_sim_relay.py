"""The `sim` air's relays: a dead radio link is silent to the server, a dead uplink stalls, teardown ends all.

Real sockets on loopback throughout: a server on 127.0.0.1, a station on a home network with internet.
A negative check ("nothing arrives") waits a short while and can only pass wrongly, never fail wrongly;
a positive one waits on the event with a generous ceiling.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from provlab.wifi.backend import LinkDown
from provlab.wifi.sim import SimAir, SimLink, SimStation

HOME = "Home"
CEILING_S = 10.0
QUIET_S = 0.3
TCP_ESTABLISHED = 1
T = TypeVar("T")


@dataclass
class Server:
    """A loopback server that hands out the connections it accepted."""

    server: asyncio.Server
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=asyncio.Queue)

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def next(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(self.accepted.get(), CEILING_S)


@dataclass
class World:
    air: SimAir
    server: Server
    station: SimStation
    link: SimLink


@asynccontextmanager
async def world() -> AsyncIterator[World]:
    air = SimAir()
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    server_sides: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_sides.append(writer)
        await accepted.put((reader, writer))

    server = Server(await asyncio.start_server(accept, "127.0.0.1", 0), accepted)
    try:
        air.add_network(HOME, passphrase="pw-pw-pw-pw")
        station = air.station("board-1-sta")
        link = await station.join(HOME, "pw-pw-pw-pw")
        yield World(air, server, station, link)
    finally:
        air.close()
        server.server.close()
        for writer in server_sides:
            writer.close()
        await server.server.wait_closed()
        await asyncio.sleep(0)  # let the transports close


Ends = tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter]


async def connect(w: World) -> Ends:
    """A connection through the link: (station reader, station writer, server reader, server writer)."""
    reader, writer = await w.link.open_connection("127.0.0.1", w.server.port, timeout=CEILING_S)
    server_reader, server_writer = await w.server.next()
    return reader, writer, server_reader, server_writer


def tcp_state(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0])


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), CEILING_S)


async def rest_of(reader: asyncio.StreamReader) -> bytes:
    """What arrives until the end (b"" when the end is a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), CEILING_S)
    except ConnectionResetError:
        return b""


async def nothing_arrives(reader: asyncio.StreamReader) -> None:
    """No byte, no FIN, no RST within `QUIET_S`."""
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1), QUIET_S)
    assert not reader.at_eof() and reader.exception() is None


async def eventually(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CEILING_S
    while not condition():
        assert loop.time() < deadline, f"not within {CEILING_S} s: {what}"
        await asyncio.sleep(0.01)


def run(body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        async with world() as w:
            await body(w)

    asyncio.run(main())


# --- link up: a transparent pipe ----------------------------------------------------------------------------


def test_bytes_and_half_close_pass_both_ways_and_the_server_sees_the_station() -> None:
    async def body(w: World) -> None:
        reader, writer, server_reader, server_writer = await connect(w)
        peer = server_writer.get_extra_info("peername")
        assert peer[0] == w.link.local_address  # the relay's upstream socket is bound to the station's address
        writer.write(b"hello")
        assert await read_exactly(server_reader, 5) == b"hello"
        server_writer.write(b"world")
        assert await read_exactly(reader, 5) == b"world"
        writer.write_eof()
        assert await asyncio.wait_for(server_reader.read(), CEILING_S) == b""
        server_writer.write(b"still open the other way")  # a half-close stays a half-close
        server_writer.close()
        assert await asyncio.wait_for(reader.read(), CEILING_S) == b"still open the other way"
        writer.close()
        await eventually(lambda: not w.air.relays.relays, "the relay ends once both ends closed")
        assert w.air.relays.carried == 1

    run(body)


def test_the_door_refuses_another_stations_address() -> None:
    async def body(w: World) -> None:
        door = w.link.endpoint("127.0.0.1", w.server.port)
        other = await w.air.station("stranger").join(HOME, "pw-pw-pw-pw")
        try:
            reader, writer = await asyncio.open_connection(*door, local_addr=(other.local_address, 0))
        except ConnectionResetError:
            pass  # reset before the connect call even returned
        else:
            assert await rest_of(reader) == b""
            writer.close()
        assert w.server.accepted.empty() and w.air.relays.carried == 0

    run(body)


# --- link down: silence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["ap_down", "kick", "rssi", "leave"])
def test_link_down_sends_the_server_nothing_not_even_the_close(cut: str) -> None:
    async def body(w: World) -> None:
        _reader, writer, server_reader, server_writer = await connect(w)
        writer.write(b"before")
        assert await read_exactly(server_reader, 6) == b"before"
        if cut == "ap_down":
            w.air.faults.ap_down(HOME)
        elif cut == "kick":
            w.air.faults.kick(HOME, w.station.name)
        elif cut == "rssi":
            w.air.faults.set_rssi(HOME, -95)
        else:
            await w.station.leave()  # what a board's power-off does first
        assert not w.link.is_up
        writer.write(b"after the cut")
        await writer.drain()
        writer.close()  # the station closes: no FIN crosses a dead radio link
        await nothing_arrives(server_reader)
        assert tcp_state(server_writer) == TCP_ESTABLISHED  # no FIN, no RST reached the server's socket
        server_writer.write(b"into the void")  # what the server sends is dropped, without an error
        await server_writer.drain()
        await nothing_arrives(server_reader)
        assert tcp_state(server_writer) == TCP_ESTABLISHED
        with pytest.raises(LinkDown):
            w.link.endpoint("127.0.0.1", w.server.port)

    run(body)


def test_what_was_sent_before_the_cut_still_arrives_and_a_close_before_it_too() -> None:
    """The cut is an instant: bytes and a FIN the station sent before it get through, nothing after."""

    async def body(w: World) -> None:
        _reader, writer, server_reader, server_writer = await connect(w)
        _reader2, writer2, server_reader2, _server_writer2 = await connect(w)
        writer.write(b"sent before")
        await writer.drain()  # on loopback: in the relay's socket once the write returns
        writer2.write(b"goodbye")
        writer2.close()  # `Blynk.disconnect()`, then the Wi-Fi goes
        await writer2.wait_closed()
        w.air.faults.ap_down(HOME)
        writer.write(b" and after")
        writer.close()
        assert await read_exactly(server_reader, 11) == b"sent before"
        await nothing_arrives(server_reader)
        assert tcp_state(server_writer) == TCP_ESTABLISHED
        assert await asyncio.wait_for(server_reader2.read(), CEILING_S) == b"goodbye"  # then the FIN

    run(body)


def test_after_the_cut_the_relay_closes_its_server_side_only_when_the_server_does() -> None:
    async def body(w: World) -> None:
        _reader, writer, server_reader, server_writer = await connect(w)
        w.air.faults.ap_down(HOME)
        writer.close()
        await nothing_arrives(server_reader)
        assert len(w.air.relays.relays) == 1  # the upstream socket stays open, silent
        server_writer.close()  # the server times the device out
        await eventually(lambda: not w.air.relays.relays, "the relay ends after the server closed")
        assert await asyncio.wait_for(server_reader.read(), CEILING_S) == b""  # the relay closed its side

    run(body)


# --- internet down: a stall, then delivery in order --------------------------------------------------------


def test_internet_down_holds_bytes_and_eof_and_delivers_them_in_order_when_it_returns() -> None:
    async def body(w: World) -> None:
        reader, writer, server_reader, server_writer = await connect(w)
        w.air.faults.set_internet(HOME, False)
        assert w.link.is_up
        for part in (b"one,", b"two,", b"three"):
            writer.write(part)
            await writer.drain()
        writer.write_eof()
        server_writer.write(b"reply")
        await server_writer.drain()
        await nothing_arrives(server_reader)
        await nothing_arrives(reader)
        with pytest.raises(LinkDown):  # no new connection through a router without uplink
            w.link.endpoint("127.0.0.1", w.server.port)
        w.air.faults.set_internet(HOME, True)
        assert await asyncio.wait_for(server_reader.read(), CEILING_S) == b"one,two,three"  # then the EOF
        assert await read_exactly(reader, 5) == b"reply"
        server_writer.close()
        assert await asyncio.wait_for(reader.read(), CEILING_S) == b""
        writer.close()

    run(body)


def test_link_lost_during_the_stall_drops_what_was_held_for_good() -> None:
    async def body(w: World) -> None:
        _reader, writer, server_reader, server_writer = await connect(w)
        w.air.faults.set_internet(HOME, False)
        writer.write(b"held at the router")
        await writer.drain()
        writer.close()
        await nothing_arrives(server_reader)
        w.air.faults.ap_down(HOME)
        w.air.faults.set_internet(HOME, True)
        await nothing_arrives(server_reader)
        assert tcp_state(server_writer) == TCP_ESTABLISHED

    run(body)


# --- teardown ------------------------------------------------------------------------------------------------


def test_closing_the_air_ends_every_relay_door_and_socket() -> None:
    async def body(w: World) -> None:
        live = await connect(w)
        other_link = await w.air.station("board-2-sta").join(HOME, "pw-pw-pw-pw")
        door = w.link.endpoint("127.0.0.1", w.server.port)
        _silent_reader, silent_writer, silent_server_reader, _ = await connect(w)
        relays = w.air.relays.relays
        assert len(relays) == 2
        await w.station.leave()  # both of this station's connections fall silent
        other_reader, other_writer = await other_link.open_connection("127.0.0.1", w.server.port, CEILING_S)
        other_server_reader, _ = await w.server.next()
        w.air.faults.set_internet(HOME, False)
        other_writer.write(b"held")
        silent_writer.close()
        relays = w.air.relays.relays
        assert len(relays) == 3
        w.air.close()
        for server_reader in (live[2], silent_server_reader, other_server_reader):
            assert await rest_of(server_reader) == b""  # the server sees the connection end with the air
        assert await rest_of(other_reader) == b""
        assert w.air.relays.relays == [] and all(r.task is not None and r.task.done() for r in relays)
        probe = socket.socket()
        with pytest.raises(OSError):  # the door is closed
            probe.connect(door)
        probe.close()
        with pytest.raises(LinkDown):
            w.air.relays.door(other_link, "127.0.0.1", w.server.port)  # a closed air opens no door
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("sim-relay")]
        for writer in (live[1], other_writer):
            writer.close()

    run(body)


def test_a_refused_connection_reaches_the_station_as_a_reset_and_leaves_nothing() -> None:
    async def body(w: World) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections to it are refused
        try:
            reader, writer = await w.link.open_connection("127.0.0.1", port, timeout=CEILING_S)
            assert await rest_of(reader) == b""
            writer.close()
        except ConnectionResetError:
            pass  # reset before the connect call even returned
        finally:
            probe.close()
        await eventually(lambda: not w.air.relays.relays, "no relay is left")

    run(body)


def test_pre_cut_bytes_are_read_from_the_kernel_not_guessed() -> None:
    """`tcpi_bytes_received` counts a FIN as one: the relay's cut relies on that layout (Linux >= 4.1)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        client.sendall(b"12345")
        client.shutdown(socket.SHUT_WR)
        info = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 136)
        if len(info) < 136:
            pytest.skip("kernel without tcpi_bytes_received")
        assert info[0] == 8 and struct.unpack_from("=Q", info, 128)[0] == 6  # CLOSE_WAIT, 5 bytes + FIN
    finally:
        for sock in (client, accepted, listener):
            sock.close()


def test_closing_the_air_from_another_thread_while_its_relays_run() -> None:
    """A lab closes its air from the test's thread; the relays run on the lab's loop thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    air = SimAir()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(CEILING_S)

    server_sides: list[asyncio.StreamWriter] = []

    async def start() -> tuple[asyncio.Server, asyncio.StreamReader, asyncio.StreamWriter]:
        accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server_sides.append(writer)
            await accepted.put(reader)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        air.add_network(HOME)
        link = await air.station("board-1-sta").join(HOME)
        _reader, writer = await link.open_connection("127.0.0.1", server.sockets[0].getsockname()[1], CEILING_S)
        return server, await asyncio.wait_for(accepted.get(), CEILING_S), writer

    try:
        server, server_reader, writer = call(start())
        assert len(air.relays.relays) == 1
        air.close()
        assert air.relays.relays == []
        assert call(rest_of(server_reader)) == b""

        async def tidy() -> None:
            for each in (writer, *server_sides):
                each.close()
            server.close()
            await asyncio.sleep(0)

        call(tidy())
    finally:
        air.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CEILING_S)
        loop.close()


def test_an_air_closed_after_its_loop_ended_leaves_no_socket_behind() -> None:
    """The lab stops its loop (which cancels the relays' tasks) before it closes the air."""
    air = SimAir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    seen: dict[str, Any] = {}

    async def body() -> None:
        air.add_network(HOME)
        link = await air.station("board-1-sta").join(HOME)
        _reader, writer = await link.open_connection("127.0.0.1", port, CEILING_S)
        seen["server_side"], _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(listener), CEILING_S)
        seen["door"] = link.endpoint("127.0.0.1", port)
        seen["relay"] = air.relays.relays[0]
        writer.close()  # the relay passes the half-close on and waits for the server's, which never comes
        await writer.wait_closed()

    try:
        asyncio.run(body())  # ends with the relay and its door still up: asyncio.run cancels the relay's task
    finally:
        air.close()
        for sock in (seen.get("server_side"), listener):
            if sock is not None:
                sock.close()
    relay = seen["relay"]
    assert air.relays.relays == [] and relay.task.done()
    assert relay.station_sock.fileno() == -1 and relay.server_sock.fileno() == -1
    probe = socket.socket()
    with pytest.raises(OSError):
        probe.connect(seen["door"])  # the door is closed too
    probe.close()

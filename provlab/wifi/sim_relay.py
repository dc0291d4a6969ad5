"""What the air and the router do to a `sim` station's internet connections: a relay per connection.

A `sim` station reaches internet hosts (the cloud stub and the lab's other loopback servers) through
its link. `SimLink.endpoint(host, port)` hands out a *door*: a listening socket on the network's
router address (127.64.x.1) that takes connections from the station's own address only. Each
connection through a door is carried on by a relay, whose socket towards the server is bound to the
station's address, so the server still sees the station as its peer. While the link is up and the
network has internet, a relay forwards bytes and EOF (half-close) both ways unchanged, and a reset
as a reset. Servers on the network itself (a SoftAP's web server) are reached directly, not relayed.

Failures follow the field, in a simplified model of TCP (no retransmission timers, no windows):

* **The link goes down** (AP off, station kicked, beacon loss below sensitivity, channel switch,
  the station leaving because the board lost power or rebooted): nothing reaches the server any
  more, neither data nor FIN nor RST, so the server has to time the device out itself (failure C11:
  offline after heartbeat x 1.5). What the station had sent before the instant of the cut still
  gets through: the cut reads, from the kernel (`TCP_INFO` of the relay's station-side socket), how
  many bytes and whether a FIN had arrived, and only those pass. So a board that says goodbye
  (`Blynk.disconnect()`) and then switches its Wi-Fi off is seen closing, and one that loses power
  is not, whichever thread runs first. The relay's socket towards the server stays open and silent;
  what the server sends is read and dropped (a real server's TCP would retransmit it unacknowledged
  for many minutes before giving up — the lab's scenarios end long before that). The relay closes
  that socket only when the server closes its end, or when the air is closed. A cut is for good: a
  new join makes a new link, with new doors and relays.
* **The network's internet goes down** (`Faults.set_internet(ssid, False)`): the router drops the
  packets of existing connections and both ends' TCP retransmits them. Modelled as a pause: relays
  stop forwarding and hold what arrives, in order (one chunk per direction in the relay, the rest in
  the sockets' kernel buffers, which gives the senders back-pressure as a full window would), and
  deliver it, EOF and reset included, when the internet comes back. Real TCP gives up after its
  retransmission timeout; the pause never does — the endpoints' own timers (the board's heartbeat
  timeout, the server's idle timeout) end such connections, as they do in the field. When the link
  goes down during a pause, what is held dies with it (the station was the one retransmitting):
  silent for good, as above. New connections are refused while the internet is down
  (`SimLink.endpoint` raises `LinkDown`; a connection reaching a door then is reset).
* A connection the server refuses reaches the station as a reset right after its connect succeeded
  (the door accepted it before the relay could try the server).

A door and its relays run on the event loop of the code that asked for the door (in a lab, the loop
of the boards and the stub), so relaying adds no thread hop and no latency beyond a loop turn; a door
asked for outside any event loop is served by a spare daemon thread. Faults may come from any thread:
the cut is taken where the link goes down, the rest is handed to the relays' loop. An air's `close()`
ends its doors, relays, sockets and tasks from any thread, whether their loop still runs or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from provlab.clock.loop_thread import LoopThread
from provlab.wifi.backend import LinkDown
from provlab.wifi.guard import is_loopback_host

if TYPE_CHECKING:
    from provlab.wifi.sim import SimLink

log = logging.getLogger(__name__)

RELAY_CHUNK = 65536
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0

# Linux TCP states (include/net/tcp_states.h) a socket is in once its peer's FIN or RST has arrived:
# TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING.
PEER_ENDED_STATES = frozenset({6, 7, 8, 9, 11})
TCP_INFO_SIZE = 136
BYTES_RECEIVED_OFFSET = 128
"""`struct tcp_info.tcpi_bytes_received` (Linux >= 4.1): every byte the peer sent that arrived, a FIN as one."""


# --- which loop runs a relay ----------------------------------------------------------------------------

_running: set[asyncio.Task[None]] = set()
"""Every relay task until it ends: a loop keeps only weak references to tasks, and a relay must run
on (silent, holding its server's connection) even when nobody keeps its air."""

_spare_lock = threading.Lock()
_spare: LoopThread | None = None
_spare_pid = 0


def spare_loop() -> asyncio.AbstractEventLoop:
    """The loop for doors asked for outside any event loop: one daemon thread per process, on first use."""
    global _spare, _spare_pid
    with _spare_lock:
        if _spare is None or not _spare.alive or _spare_pid != os.getpid():
            _spare, _spare_pid = LoopThread("provlab-sim-relays"), os.getpid()
        return _spare.loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    """Run `callback` on `loop`: now when this thread runs it, else soon; False when the loop is closed."""
    if _running_loop() is loop:
        callback()
        return True
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed: whoever ran it has cancelled its tasks
        return False
    return True


# --- one connection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """How much of the station's stream had reached the router when its link went down."""

    received: float
    """Stream offset: bytes before it still get through, later ones are lost (`inf`: all of them)."""
    ended: bool
    """The station's FIN (or RST) had arrived: it gets through too."""


def station_cut(sock: socket.socket, taken: int, online: bool) -> Cut:
    """The cut of the station-side socket `sock`, of which the relay has read `taken` bytes so far."""
    if not online:  # nothing gets past a router without uplink: what it held dies with the station
        return Cut(0, False)
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return Cut(taken, False)
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, TCP_INFO_SIZE)
    except OSError:  # the relay has closed it already: all of it had arrived
        return Cut(math.inf, True)
    ended = bool(info) and info[0] in PEER_ENDED_STATES
    if len(info) < TCP_INFO_SIZE:  # a kernel before 4.1: what the relay has read is what got through
        return Cut(taken, ended)
    (received,) = struct.unpack_from("=Q", info, BYTES_RECEIVED_OFFSET)
    return Cut(received, ended)


async def _read(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """The next chunk; b"" at the end, with True when the end was a reset rather than a FIN."""
    try:
        return await reader.read(RELAY_CHUNK), False
    except OSError:
        return b"", True


async def _send(writer: asyncio.StreamWriter, chunk: bytes) -> None:
    if writer.is_closing():
        return
    try:
        writer.write(chunk)
        await writer.drain()
    except OSError:  # the other side is gone; its own reader sees that and passes it on
        pass


def _end(writer: asyncio.StreamWriter, reset: bool) -> None:
    """Pass an end on: a reset as a reset, a FIN as a half-close."""
    if reset:
        writer.transport.abort()
        return
    try:
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
        else:
            writer.close()
    except OSError:
        writer.transport.abort()


def tcp_socket() -> socket.socket:
    """A non-blocking TCP socket without Nagle (as asyncio makes its own): a relay adds no 40 ms ACK waits."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _reset(sock: socket.socket) -> None:
    """Close `sock` with an RST: what a station sees when a connection cannot be carried."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Relay:
    """One station connection carried on to its server; runs on its door's loop."""

    def __init__(self, link: SimLink, station: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.link = link
        self.station_sock = station
        self.loop = loop
        self.taken = 0
        """Bytes read from the station so far: the offset of the next chunk in its stream."""
        self.cut: Cut | None = None
        self.task: asyncio.Task[None] | None = None
        self.aborted = False
        self._changed: asyncio.Event | None = None
        self.server_sock: socket.socket | None = None
        self._station: asyncio.StreamWriter | None = None
        self._server: asyncio.StreamWriter | None = None

    def take_cut(self, online: bool) -> None:
        """The link is down (any thread, at the instant it went): note what had got through."""
        if self.cut is None:
            self.cut = station_cut(self.station_sock, self.taken, online)

    async def carry(self, host: str, port: int) -> None:
        station_reader, station = await asyncio.open_connection(sock=self.station_sock, limit=RELAY_CHUNK)
        self._station = station
        if self.aborted:
            self.abort()
            return
        try:
            self.server_sock = await asyncio.wait_for(self._connect(host, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            station.transport.abort()  # the station sees its connection reset
            return
        if self.aborted:  # the air closed while the server was answering (`wait_for` may drop that cancel)
            self.abort()
            return
        server_reader, server = await asyncio.open_connection(sock=self.server_sock, limit=RELAY_CHUNK)
        self._server = server
        await asyncio.gather(
            self._upstream(station_reader, station, server), self._downstream(server_reader, station, server)
        )

    async def _connect(self, host: str, port: int) -> socket.socket:
        """A socket to the server, bound to the station's address: the server sees the station as its peer."""
        sock = tcp_socket()
        try:
            if is_loopback_host(host):  # a host of another machine sees the router's own address (NAT)
                sock.bind((self.link.local_address, 0))
            await self.loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def wake(self) -> None:
        """The link or the internet changed (on the relay's loop): a paused pipe looks again."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def _live(self) -> bool:
        """Wait while the network has no internet; True while the link is up, False once it was cut."""
        while self.cut is None:
            if self.link.network.internet:
                return True
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        return False

    async def _upstream(
        self, reader: asyncio.StreamReader, station: asyncio.StreamWriter, server: asyncio.StreamWriter
    ) -> None:
        while True:
            chunk, reset = await _read(reader)
            start = self.taken
            self.taken += len(chunk)
            if await self._live():
                if chunk:
                    await _send(server, chunk)
                    continue
                _end(server, reset)
                return
            cut = self.cut
            assert cut is not None
            online = self.link.network.internet
            if chunk:  # what had reached the router before the cut still goes on; nothing later does
                keep = int(min(max(cut.received - start, 0), len(chunk)))
                if keep and online:
                    await _send(server, chunk[:keep])
                continue
            if cut.ended and online:
                _end(server, reset)
            else:
                station.close()  # the station is done with it; the server hears nothing of that
            return

    async def _downstream(
        self, reader: asyncio.StreamReader, station: asyncio.StreamWriter, server: asyncio.StreamWriter
    ) -> None:
        while True:
            chunk, reset = await _read(reader)
            if await self._live():
                if chunk:
                    await _send(station, chunk)
                    continue
                _end(station, reset)
                return
            if not chunk:  # the server ended its side: only now does the relay close its socket to it
                if reset:
                    server.transport.abort()
                else:
                    server.close()
                return
            # after the cut what the server sends is dropped on the air

    def finish(self) -> None:
        """Close what is still open (the connection is over, or its air closes)."""
        for writer in (self._station, self._server):
            if writer is not None and not writer.is_closing():
                writer.close()
        self._close_bare()

    def abort(self) -> None:
        self.aborted = True
        for writer in (self._station, self._server):
            if writer is not None:
                writer.transport.abort()
        self._close_bare()

    def close_sockets(self) -> None:
        """Close the sockets themselves: their loop is gone and will not close its transports."""
        self.aborted = True
        for sock in (self.station_sock, self.server_sock):
            if sock is not None:
                sock.close()

    def _close_bare(self) -> None:
        """The sockets no transport owns yet."""
        if self._station is None:
            self.station_sock.close()
        if self._server is None and self.server_sock is not None:
            self.server_sock.close()


# --- the doors and relays of one air ---------------------------------------------------------------------


@dataclass(eq=False)
class Door:
    """A listening socket on the router's address that carries a station's connections to one `host:port`."""

    sock: socket.socket
    address: tuple[str, int]
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    """The loop its relays run on: the one of the code that asked for the door."""
    closed: bool = field(default=False)


class SimRelays:
    """The doors and relays of one sim air. Thread-safe.

    A door and its relays run on the event loop of the code that asked for the door (the board's, in a
    lab), so relaying adds no thread hop; a door asked for outside any loop gets the spare relay thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._doors: dict[SimLink, dict[tuple[str, int], Door]] = {}
        self._relays: set[Relay] = set()
        self._by_link: dict[SimLink, set[Relay]] = {}
        """The same relays by link: a link going down costs its own relays, not every relay of the air."""
        self.closed = False
        self.carried = 0
        """Connections carried so far."""

    @property
    def relays(self) -> list[Relay]:
        with self._lock:
            return list(self._relays)

    def door(self, link: SimLink, host: str, port: int) -> tuple[str, int]:
        """The socket address that carries `link`'s station to `host:port` (a door of the link's router)."""
        with self._lock:
            if self.closed or not link.up:
                raise LinkDown(f"link to {link.ssid!r} is down")
            doors = self._doors.setdefault(link, {})
            door = doors.get((host, port))
            if door is None or door.loop.is_closed():
                sock = tcp_socket()
                try:
                    sock.bind((link.network.local_gateway, 0))
                    sock.listen(64)
                    address = sock.getsockname()
                    loop = _running_loop() or spare_loop()
                    door = Door(sock, (str(address[0]), int(address[1])), host, port, loop)
                    if not _soon(loop, partial(self._open_door, link, door)):
                        raise LinkDown(f"link to {link.ssid!r}: its event loop is closed")
                except BaseException:
                    sock.close()
                    raise
                doors[(host, port)] = door
            return door.address

    def cut(self, link: SimLink) -> None:
        """`link` went down (any thread, at that instant): its relays fall silent for good, its doors close."""
        online = link.network.internet
        with self._lock:
            doors = list(self._doors.pop(link, {}).values())
            relays = list(self._by_link.get(link, ()))
            for relay in relays:
                relay.take_cut(online)
        for door in doors:
            if not _soon(door.loop, partial(self._close_door, door)):
                door.closed = True
                door.sock.close()
        for relay in relays:
            _soon(relay.loop, relay.wake)

    def internet_changed(self) -> None:
        """A network's internet went down or came back: paused relays look again."""
        for relay in self.relays:
            _soon(relay.loop, relay.wake)

    def close(self) -> None:
        """End every door, relay, socket and task of this air, from any thread."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            doors = [door for by_target in self._doors.values() for door in by_target.values()]
            self._doors.clear()
            relays = list(self._relays)
        loops = {door.loop for door in doors} | {relay.loop for relay in relays}
        for loop in loops:
            mine = ([d for d in doors if d.loop is loop], [r for r in relays if r.loop is loop])
            if _running_loop() is loop:
                self._shutdown_now(*mine)  # their tasks end at the loop's next turns
                continue
            if loop.is_closed() or not loop.is_running():  # its owner ended it (cancelling the relays' tasks)
                self._close_sockets(*mine)
                continue
            shutdown = self._shutdown(*mine)
            try:
                future = asyncio.run_coroutine_threadsafe(shutdown, loop)
            except RuntimeError:  # closed meanwhile
                shutdown.close()
                self._close_sockets(*mine)
                continue
            try:
                future.result(CLOSE_TIMEOUT_S)
            except Exception:  # a stopped loop never answers: close the sockets from here
                future.cancel()
                self._close_sockets(*mine)

    # --- on a door's loop -------------------------------------------------------------------------------
    def _open_door(self, link: SimLink, door: Door) -> None:
        if not door.closed:
            door.loop.add_reader(door.sock.fileno(), self._accept, link, door)

    def _close_door(self, door: Door) -> None:
        if not door.closed:
            door.closed = True
            if door.sock.fileno() >= 0:
                door.loop.remove_reader(door.sock.fileno())
            door.sock.close()

    def _accept(self, link: SimLink, door: Door) -> None:
        while not door.closed:
            try:
                conn, peer = door.sock.accept()
            except OSError:  # BlockingIOError: none left
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay = Relay(link, conn, door.loop)
            if not (peer[0] == link.local_address and link.network.internet and self._register(relay)):
                _reset(conn)  # another station's, or the link or internet is gone already
                continue
            task = door.loop.create_task(self._run(relay, door.host, door.port), name=f"sim-relay-{peer[1]}")
            relay.task = task
            _running.add(task)
            task.add_done_callback(_running.discard)

    def _register(self, relay: Relay) -> bool:
        with self._lock:
            if self.closed or not relay.link.up:
                return False
            self._relays.add(relay)
            self._by_link.setdefault(relay.link, set()).add(relay)
            self.carried += 1
            return True

    async def _run(self, relay: Relay, host: str, port: int) -> None:
        try:
            await relay.carry(host, port)
        except Exception:  # a relay that fails is a connection that drops
            log.debug("sim relay to %s:%s failed", host, port, exc_info=True)
            relay.abort()
        finally:
            relay.finish()
            with self._lock:
                self._relays.discard(relay)
                same = self._by_link.get(relay.link)
                if same is not None:
                    same.discard(relay)
                    if not same:
                        del self._by_link[relay.link]

    def _shutdown_now(self, doors: list[Door], relays: list[Relay]) -> None:
        for door in doors:
            self._close_door(door)
        for relay in relays:
            relay.abort()
            if relay.task is not None:
                relay.task.cancel()

    async def _shutdown(self, doors: list[Door], relays: list[Relay]) -> None:
        self._shutdown_now(doors, relays)
        tasks = [relay.task for relay in relays if relay.task is not None]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), CLOSE_TIMEOUT_S)

    @staticmethod
    def _close_sockets(doors: list[Door], relays: list[Relay]) -> None:
        for door in doors:
            door.closed = True
            door.sock.close()
        for relay in relays:
            relay.close_sockets()

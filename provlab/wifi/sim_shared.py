"""One `sim` air over several processes: a fleet's workers each hold part of it, a phone anywhere sees it all.

A large fleet (`provlab emulate --workers K`) runs its boards in K processes, each with its own `SimAir`
on its own part of the loopback addresses (`LoopbackPlan`) and its own range of BSSIDs. Every board
stands at a *place* named `w<K>/…` (a bench of a few boards): the worker that owns the place is named
in it. Each worker answers for its part of the air on a Unix socket (`AirPort`): scans at a place, joins
and leaves. A station in another process (`SharedStation`, the phone of `benchmarks/bench_fleet.py`)
asks the worker that owns the place it stands at; it joins as a station of the worker's own air (the
worker makes a `SimStation` for it), so the SoftAP's web server sees the phone's own loopback address,
the AP's station limit holds, and when the AP goes away the worker tells the phone's process at once
that the link is down (`on_down`).

The wire is one JSON object per line: requests `{"id", "op", ...}`, answers `{"id", "ok"|"error"}`,
and pushes `{"down": LINK}`. What a remote station does not get: internet through the network it joined
(a SoftAP has none; a phone reaches the cloud over its own mobile data, i.e. loopback) and the faults of
another process's air.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provlab.wifi.backend import (
    AccessPoint,
    ApFull,
    AuthenticationFailed,
    DnsFailure,
    Link,
    LinkDown,
    NetworkNotFound,
    Security,
    WifiBackend,
    WifiError,
)
from provlab.wifi.sim import SimAir, SimLink, SimStation

log = logging.getLogger(__name__)

LINE_LIMIT = 1 << 20


def worker_of(place: str) -> str:
    """The worker that owns `place` (`w3/bench-12` -> `w3`)."""
    return place.partition("/")[0]


def _error(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__, "detail": str(exc)}


def _raise(answer: dict[str, Any], ssid: str) -> None:
    kind, detail = answer.get("error"), str(answer.get("detail", ""))
    if kind == "NetworkNotFound":
        raise NetworkNotFound(ssid)
    if kind == "AuthenticationFailed":
        raise AuthenticationFailed(ssid)
    if kind == "ApFull":
        raise ApFull(ssid, int(answer.get("limit", 4)))
    raise LinkDown(detail or f"{ssid!r}: {kind}")


class AirPort:
    """A worker's part of the air, open to stations of other processes on a Unix socket."""

    def __init__(self, air: SimAir, path: str | Path) -> None:
        self.air = air
        self.path = str(path)
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=LINE_LIMIT)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            Path(self.path).unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stations: dict[int, SimStation] = {}

        def send(message: dict[str, Any]) -> None:
            if not writer.is_closing():
                writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

        try:
            while line := await reader.readline():
                request = json.loads(line)
                try:
                    answer = await self._answer(request, stations, send)
                except WifiError as exc:
                    answer = _error(exc) | ({"limit": exc.limit} if isinstance(exc, ApFull) else {})
                send({"id": request.get("id"), **answer})
        except (OSError, ValueError):
            pass
        finally:  # the other process went away: its stations leave the air
            for station in stations.values():
                with contextlib.suppress(WifiError, OSError):
                    await station.leave()
            writer.close()

    async def _answer(
        self, request: dict[str, Any], stations: dict[int, SimStation], send: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        op = request.get("op")
        if op == "scan":
            place = str(request["place"])
            heard = [n for n in self.air.in_range(place) if n.place == place and n.reachable]
            return {"ok": [[n.ssid, n.bssid, n.channel, n.rssi, n.security.value] for n in heard]}
        if op == "join":
            station = self.air.station(str(request["station"]), mac=request.get("mac"), place=str(request["place"]))
            link = await station.join(str(request["ssid"]), request.get("passphrase"))
            number = next(self._ids)
            stations[number] = station
            link.on_down = lambda: send({"down": number})
            return {"ok": self._describe(number, link)}
        if op == "services":
            holder = stations.get(int(request["link"]))
            found = holder.link if holder is not None else None
            return {"ok": self._services(found) if found is not None else None}
        if op == "leave":
            left = stations.pop(int(request["link"]), None)
            if left is not None:
                await left.leave()
            return {"ok": True}
        return {"error": "UnknownOperation", "detail": f"no operation {op!r}"}

    @staticmethod
    def _services(link: SimLink) -> list[list[Any]]:
        return [[host, port, local[0], local[1]] for (host, port), local in link.network._services.items()]

    def _describe(self, number: int, link: SimLink) -> dict[str, Any]:
        network = link.network
        return {
            "link": number,
            "ssid": link.ssid,
            "bssid": link.bssid,
            "ip": link.ip,
            "gateway": link.gateway,
            "local": link.local_address,
            "dns": network.dns,
            "subnet": str(network.virtual_net),
            "services": self._services(link),
        }


class _PortClient:
    """One connection to one worker's `AirPort`, shared by every station of this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._links: dict[int, RemoteLink] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is None:
                reader, self._writer = await asyncio.open_unix_connection(self.path, limit=LINE_LIMIT)
                self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
            return self._writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                message = json.loads(line)
                if "down" in message:
                    link = self._links.pop(int(message["down"]), None)
                    if link is not None:
                        link.went_down()
                    continue
                waiter = self._waiting.pop(int(message.get("id") or 0), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
        except (OSError, ValueError):
            pass
        finally:  # the worker is gone: so is its part of the air
            for link in self._links.values():
                link.went_down()
            self._links.clear()
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(LinkDown(f"the air's worker at {self.path} went away"))
            self._waiting.clear()
            self._writer = None

    async def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        try:
            writer = await self._connect()
        except OSError as exc:
            raise LinkDown(f"the air's worker at {self.path} does not answer: {exc}") from None
        number = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = waiter
        writer.write(json.dumps({"id": number, "op": op, **fields}, separators=(",", ":")).encode() + b"\n")
        return await waiter

    def track(self, link: RemoteLink) -> None:
        self._links[link.number] = link

    def forget(self, link: RemoteLink) -> None:
        self._links.pop(link.number, None)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task


class RemoteLink(Link):
    """A link of this process's station to an AP of another process's part of the air."""

    def __init__(self, client: _PortClient, facts: dict[str, Any]) -> None:
        self.client = client
        self.number = int(facts["link"])
        self.ssid = str(facts["ssid"])
        self.bssid = str(facts["bssid"])
        self.ip = str(facts["ip"])
        self.gateway = str(facts["gateway"])
        self._local = str(facts["local"])
        self._dns = {str(k): str(v) for k, v in dict(facts["dns"]).items()}
        self._services = self._parse(facts["services"])
        self._up = True
        self._refresh: asyncio.Task[None] | None = None

    @staticmethod
    def _parse(rows: list[list[Any]]) -> dict[tuple[str, int], tuple[str, int]]:
        return {(str(h), int(p)): (str(lh), int(lp)) for h, p, lh, lp in rows}

    def went_down(self) -> None:
        self._up = False

    @property
    def is_up(self) -> bool:
        return self._up

    @property
    def local_address(self) -> str:
        return self._local

    def resolve(self, name: str) -> str:
        if not self._up:
            raise LinkDown(f"link to {self.ssid!r} is down")
        try:
            return self._dns[name.lower()]
        except KeyError:
            raise DnsFailure(name, self.ssid) from None

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        if not self._up:
            raise LinkDown(f"link to {self.ssid!r} is down")
        mapped = self._services.get((host, port))
        if mapped is not None:
            return mapped
        if host == self.gateway:  # not serving yet (a SoftAP's web server starts after the AP): ask again
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().create_task(self._refetch())
            raise ConnectionRefusedError(f"{host}:{port} on {self.ssid!r}: connection refused")
        raise LinkDown(f"{host}:{port} is not reachable from network {self.ssid!r} (no internet through a remote AP)")

    async def _refetch(self) -> None:
        with contextlib.suppress(WifiError, OSError):
            answer = await self.client.ask("services", link=self.number)
            if answer.get("ok"):
                self._services = self._parse(answer["ok"])


class SharedAir:
    """The whole air of a fleet's workers, from any process: `station()` gives phones that roam it."""

    def __init__(self, ports: dict[str, str]) -> None:
        self._clients = {worker: _PortClient(path) for worker, path in ports.items()}

    @classmethod
    def from_file(cls, path: str | Path) -> SharedAir:
        """From the `air.json` a worker fleet writes (`{"ports": {"w0": "/path/w0.sock", ...}}`)."""
        return cls({str(k): str(v) for k, v in json.loads(Path(path).read_text())["ports"].items()})

    @property
    def workers(self) -> list[str]:
        return list(self._clients)

    def client(self, place: str) -> _PortClient:
        worker = worker_of(place)
        try:
            return self._clients[worker]
        except KeyError:
            raise NetworkNotFound(f"(place {place!r}: no worker {worker!r} on this air)") from None

    def station(self, name: str, *, mac: str | None = None, place: str | None = None) -> SharedStation:
        return SharedStation(self, name, mac=mac, place=place)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


class SharedStation(WifiBackend):
    """A station in this process on the shared air; it hears the place it stands at (`move_to`)."""

    def __init__(self, air: SharedAir, name: str, *, mac: str | None = None, place: str | None = None) -> None:
        self.air = air
        self.name = name
        self.mac = mac
        self.place = place
        self._link: RemoteLink | None = None

    def move_to(self, place: str | None) -> None:
        self.place = place

    @property
    def link(self) -> RemoteLink | None:
        if self._link is not None and not self._link.is_up:
            self._link = None
        return self._link

    async def scan(self) -> list[AccessPoint]:
        if self.place is None:
            return []
        answer = await self.air.client(self.place).ask("scan", place=self.place)
        return [AccessPoint(s, b, int(c), int(r), Security(sec)) for s, b, c, r, sec in answer.get("ok") or []]

    async def join(self, ssid: str, passphrase: str | None = None) -> RemoteLink:
        await self.leave()
        if self.place is None:
            raise NetworkNotFound(ssid)
        client = self.air.client(self.place)
        fields: dict[str, Any] = {"station": self.name, "place": self.place, "ssid": ssid, "passphrase": passphrase}
        if self.mac is not None:
            fields["mac"] = self.mac
        answer = await client.ask("join", **fields)
        if "ok" not in answer:
            _raise(answer, ssid)
        link = RemoteLink(client, answer["ok"])
        client.track(link)
        self._link = link
        return link

    async def leave(self) -> None:
        link, self._link = self._link, None
        if link is not None and link.is_up:
            link.went_down()
            link.client.forget(link)
            with contextlib.suppress(WifiError):
                await link.client.ask("leave", link=link.number)

"""Cloud stub, device side: logins per second and HARDWARE `vw` messages per second with 1,000 devices.

The stub runs in this process (time_scale 1.0, a real SQLite file); the devices run in a second process
(asyncio, raw sockets on loopback), so both share this machine's cores the way a lab run would. Phases:

1. first logins: N fresh dynamic tokens log in at once (HW_LOGIN + ESP32 info; token activation in SQLite,
   each login answered only once its activation is committed, many activations per commit)
2. re-logins: the stub drops every session, all N devices log in again (token cache path), `--rounds` times
3. `vw` load: N connected devices send `vw` at `--rate` messages/s each for `--seconds`; the stub's count of
   pin writes into the store path (write-behind buffer -> SQLite) over the window is the number reported.
   Run once with one frame per TCP write (like an ESP32) and once batched (`--batch` frames per write).

    python3 benchmarks/bench_cloud.py                      # 1000 devices, targets 2,000 logins/s, 20,000 vw/s
    python3 benchmarks/bench_cloud.py --devices 200 --seconds 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import selectors
import socket
import sqlite3
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from provlab.cloud.rate_limits import QuotaLimits
from provlab.cloud.stub import CloudStub
from provlab.protocol.commands import Command
from provlab.protocol.frames import encode_frame
from provlab.protocol.internal import esp32_info, hardware_vw

TEMPLATE = "TMPL0PROVLAB"
RESPONSE_SIZE = 5
LOGIN_TARGET = 2000.0
VW_TARGET = 20000.0


# --- the device side (second process) ----------------------------------------------------------------
# Plain non-blocking sockets and a selector, no asyncio: the load generator must cost far less than the
# server it measures, or the numbers would be the generator's.
def login_blob(token: str) -> bytes:
    """HW_LOGIN id 1 plus the ESP32 info message id 2, as the C++ library sends them."""
    info = esp32_info("0.1.0", TEMPLATE, "Jan  1 2026 00:00:00", tmpl=TEMPLATE)
    return encode_frame(Command.HW_LOGIN, 1, token.encode()) + encode_frame(Command.INTERNAL, 2, info)


class DeviceFleet:
    def __init__(self, port: int, tokens: list[str]) -> None:
        self.port = port
        self.blobs = [login_blob(t) for t in tokens]
        self.sockets: list[socket.socket] = []

    def login_all(self, concurrency: int) -> dict[str, float]:
        """Connect every device, send its login and info, wait for both answers (two 5-byte RESPONSEs)."""
        selector = selectors.DefaultSelector()
        pending = list(range(len(self.blobs)))
        pending.reverse()
        received: dict[int, int] = {}
        done: list[socket.socket] = []
        in_flight = 0
        cpu, start = time.process_time(), time.perf_counter()
        deadline = start + 60
        while (pending or in_flight) and time.perf_counter() < deadline:
            while pending and in_flight < concurrency:
                index = pending.pop()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", self.port))
                selector.register(sock, selectors.EVENT_WRITE, index)
                in_flight += 1
            for key, events in selector.select(timeout=1.0):
                sock, index = key.fileobj, key.data
                assert isinstance(sock, socket.socket)
                if events & selectors.EVENT_WRITE:
                    sock.send(self.blobs[index])
                    selector.modify(sock, selectors.EVENT_READ, index)
                    received[index] = 0
                    continue
                data = sock.recv(4096)
                received[index] += len(data)
                if not data or received[index] >= 2 * RESPONSE_SIZE:
                    selector.unregister(sock)
                    in_flight -= 1
                    if data:
                        done.append(sock)
                    else:
                        sock.close()
        elapsed = time.perf_counter() - start
        selector.close()
        self.sockets = done
        return {"logins": len(done), "seconds": elapsed, "cpu": time.process_time() - cpu}

    def wait_all_closed(self) -> dict[str, float]:
        """Read every socket to EOF (the stub dropped them all)."""
        for sock in self.sockets:
            sock.setblocking(True)
            sock.settimeout(30)
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
            sock.close()
        self.sockets = []
        return {}

    def send_vw(self, rate: float, seconds: float, batch: int) -> dict[str, float]:
        """Every device sends `rate` vw/s for `seconds`, `batch` frames per send() (1 = one send each)."""
        tick = max(batch / rate, 0.005)
        per_tick = max(1, round(rate * tick))
        frames = [
            [encode_frame(Command.HARDWARE, 3 + n, hardware_vw(1, index * 1000 + n)) for n in range(per_tick)]
            for index in range(len(self.sockets))
        ]
        writes = [[(b"".join(f), len(f))] if batch > 1 else [(x, 1) for x in f] for f in frames]
        backlog: list[bytes] = [b""] * len(self.sockets)  # the unsent tail of a short send
        sent = skipped = 0
        cpu, start = time.process_time(), time.perf_counter()
        next_tick = start
        while time.perf_counter() - start < seconds:
            for index, (sock, chunks) in enumerate(zip(self.sockets, writes, strict=True)):
                for chunk, count in chunks:
                    try:
                        if backlog[index]:
                            backlog[index] = backlog[index][sock.send(backlog[index]) :]
                            if backlog[index]:
                                skipped += count
                                continue
                        written = sock.send(chunk)
                        backlog[index] = chunk[written:]  # a frame cut in two: the stub reassembles it
                        sent += count
                    except BlockingIOError:
                        skipped += count
            next_tick += tick
            delay = next_tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - start
        return {"sent": sent, "seconds": elapsed, "skipped": skipped, "cpu": time.process_time() - cpu}

    def close_all(self) -> dict[str, float]:
        for sock in self.sockets:
            sock.close()
        return {}


def fleet_process(pipe: Connection, port: int, tokens: list[str]) -> None:
    fleet = DeviceFleet(port, tokens)
    while True:
        command, args = pipe.recv()
        if command == "login":
            pipe.send(fleet.login_all(*args))
        elif command == "wait_closed":
            pipe.send(fleet.wait_all_closed())
        elif command == "vw":
            pipe.send(fleet.send_vw(*args))
        elif command == "stop":
            pipe.send(fleet.close_all())
            return


# --- the cloud side (this process) -------------------------------------------------------------------
async def ask(pipe: Connection, command: str, *args: Any) -> dict[str, float]:
    pipe.send((command, args))
    return await asyncio.to_thread(pipe.recv)  # type: ignore[no-any-return]


async def timed(pipe: Connection, command: str, *args: Any) -> tuple[dict[str, float], float]:
    """Run a fleet command; also the stub's own CPU seconds meanwhile."""
    cpu = time.process_time()
    result = await ask(pipe, command, *args)
    return result, time.process_time() - cpu


def line(label: str, rate: float, unit: str, detail: str) -> None:
    print(f"  {label:<38} {rate:9,.0f} {unit:<9} {detail}")


async def measure(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="provlab-bench-cloud-"))
    stub = CloudStub(folder / "cloud.db", quota_limits=QuotaLimits(messages=args.quota))
    stub.seed()
    endpoints = await stub.start(tls_port=None, mqtt_port=None, mqtts_port=None)
    tokens = [stub.issue_token(TEMPLATE).token for _ in range(args.devices)]
    ctx = mp.get_context("spawn")
    pipe, child_end = ctx.Pipe()
    fleet = ctx.Process(target=fleet_process, args=(child_end, endpoints.binary_port, tokens), daemon=True)
    fleet.start()
    load = os.getloadavg()[0]
    print(f"cloud stub benchmark: {args.devices} devices, {os.cpu_count()} cores, load average {load:.1f} at start")
    try:
        first, cpu = await timed(pipe, "login", args.concurrency)
        assert first["logins"] == args.devices and len(stub.presence) == args.devices
        # Every answered first login must already be committed (group commit): ask SQLite, not the stub.
        with sqlite3.connect(folder / "cloud.db") as other:
            committed = other.execute("SELECT COUNT(*) FROM tokens WHERE activated_at IS NOT NULL").fetchone()[0]
        assert committed == args.devices, f"{committed} of {args.devices} answered activations committed"
        line(
            "first logins (token activation)",
            first["logins"] / first["seconds"],
            "logins/s",
            f"({first['logins']} in {first['seconds']:.2f} s; stub CPU {cpu / first['logins'] * 1e6:.0f} us/login,"
            f" devices CPU {first['cpu'] / first['logins'] * 1e6:.0f} us/login;"
            f" {stub.gateway.counters['group_commits']} group commits)",
        )
        rates, cpus = [], []
        for _ in range(args.rounds):
            stub.drop_connections()
            await ask(pipe, "wait_closed")
            again, cpu = await timed(pipe, "login", args.concurrency)
            assert len(stub.presence) == args.devices, f"{len(stub.presence)} online after re-login"
            rates.append(again["logins"] / again["seconds"])
            cpus.append(cpu / again["logins"])
        line(
            "re-logins (cached tokens)",
            statistics.median(rates),
            "logins/s",
            f"(median of {args.rounds}, best {max(rates):,.0f}; stub CPU {statistics.median(cpus) * 1e6:.0f} us/login)",
        )
        for batch in (1, args.batch):
            await asyncio.sleep(0.5)
            before = stub.gateway.counters["pin_writes"]
            offered, cpu = await timed(pipe, "vw", args.rate, args.seconds, batch)
            await asyncio.sleep(0.2)  # what is still in flight
            stored = stub.gateway.counters["pin_writes"] - before
            label = "vw, one frame per send" if batch == 1 else f"vw, {batch} frames per send"
            line(
                f"{label} into the store",
                stored / offered["seconds"],
                "msgs/s",
                f"(offered {offered['sent'] / offered['seconds']:,.0f}/s; stored {stored:,} of {offered['sent']:,};"
                f" stub CPU {cpu / max(stored, 1) * 1e6:.1f} us/msg)",
            )
        flushed_at = time.perf_counter()
        stub.store.flush()
        flush_ms = (time.perf_counter() - flushed_at) * 1000
        with_values = sum(1 for d in stub.store.devices.all() if stub.store.pins.read(d.id, "v1") is not None)
        print(f"  SQLite holds the latest v1 of {with_values} devices (final flush {flush_ms:.1f} ms)")
        notices = len(stub.store.events.entries("quota_exceeded"))
        print(f"  quota notices {notices} (quota {args.quota:g} msgs/s per device)")
        print(f"  load average {os.getloadavg()[0]:.1f} at end (other work on this machine shares the cores)")
        print(f"  targets: >= {LOGIN_TARGET:,.0f} logins/s, >= {VW_TARGET:,.0f} vw msgs/s")
    finally:
        await ask(pipe, "stop")
        fleet.join(10)
        await stub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000, help="logins in flight at once")
    parser.add_argument("--rounds", type=int, default=3, help="re-login rounds")
    parser.add_argument("--rate", type=float, default=30.0, help="vw messages per second per device")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each vw window")
    parser.add_argument("--batch", type=int, default=10, help="frames per write in the batched vw run")
    parser.add_argument("--quota", type=float, default=100.0, help="stub message quota per device per second")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(measure(args), 300))


if __name__ == "__main__":
    main()

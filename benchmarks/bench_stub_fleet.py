"""Cloud stub under a 10,000-board fleet: logins, heartbeats and `vw` of 10,000 connected devices, answer
latencies p50/p99, and the stub's memory per connected device, on SQLite and on PostgreSQL.

The stub is `provlab cloud serve` in a process of its own (as a lab runs it), so its RSS and CPU are its own.
The devices are plain non-blocking sockets in `--clients` processes (each holds devices/clients sockets; the
soft RLIMIT_NOFILE is raised to the hard limit first), speaking the binary protocol over real TCP on
loopback. Tokens are issued beforehand through the store, as `provlab cloud token` does. Phases:

1. logins: every device connects and sends HW_LOGIN plus the ESP32 info message in one write (as the C++
   library does), `--concurrency` in flight per client process. Login latency: from that write to the
   RESPONSE of the login; a first login is answered only after its token activation is committed (group
   commit), so this includes the commit.
2. traffic, `--seconds`: every device sends a heartbeat (PING) every `--ping-interval` s and a `vw` every
   `--vw-interval` s, each on its own random phase. A `vw` has no answer in the protocol; the device sends
   a PING right behind it in the same write, and its RESPONSE (frames are handled in order) is the `vw`'s
   answer time.

Memory: the stub's RSS before any device, with all devices connected, and after the traffic; RSS per device
is (connected - before) / devices. Budget: <= 20 KiB per connected device, i.e. <= 200 MiB for 10,000: the
emulated board's own budget is 1 MiB (bench_board.py), so the stub adds at most 2% to a fleet of emulated
boards, and a 10,000-device stub fits beside the lab on a 2 GiB CI runner. Numbers taken while other work
shares the cores are not the stub's best: the bench prints the load average next to them.

    python3 benchmarks/bench_stub_fleet.py                                  # 10,000 devices on SQLite
    python3 benchmarks/bench_stub_fleet.py --db "$PROVLAB_TEST_POSTGRES"    # the same on PostgreSQL
    python3 benchmarks/bench_stub_fleet.py --devices 1000 --seconds 10      # a quick look
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import multiprocessing as mp
import os
import random
import resource
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from provlab.cloud.store import Store
from provlab.cloud.store.backend import backend_name
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import FrameParser, encode_frame
from provlab.protocol.internal import esp32_info, hardware_vw

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "TMPL0PROVLAB"
HEARTBEAT_S = 300  # the h-beat devices announce: the first to log in wait idle while the rest of the fleet does

TARGET_LOGIN_RATE = 1000.0  # first logins per second, all devices
TARGET_LOGIN_P99_S = 2.0
TARGET_PING_P99_S = 0.100
TARGET_VW_P99_S = 0.100
TARGET_RSS_PER_DEVICE_KIB = 20.0


# --- the devices (client processes) --------------------------------------------------------------------
# Plain sockets and a selector, no asyncio: the load generator must cost far less than the server it measures.
class Fleet:
    def __init__(self, port: int, tokens: list[str]) -> None:
        info = esp32_info("0.1.0", TEMPLATE, "Jan  1 2026 00:00:00", heartbeat=HEARTBEAT_S, tmpl=TEMPLATE)
        self.port = port
        self.blobs = [
            encode_frame(Command.HW_LOGIN, 1, t.encode()) + encode_frame(Command.INTERNAL, 2, info) for t in tokens
        ]
        self.sockets: list[socket.socket] = []
        self.parsers: list[FrameParser] = []
        self.waiting: list[dict[int, tuple[str, float]]] = []  # per device: msg id -> (what, sent at)
        self.next_id: list[int] = []
        self.selector = selectors.DefaultSelector()

    def _take_id(self, index: int) -> int:
        """The device's next msg id (1 and 2 were its login and info; never 0)."""
        msg_id = self.next_id[index]
        self.next_id[index] = msg_id + 1 if msg_id < 0xFFFF else 3
        return msg_id

    def _answers(self, index: int, data: bytes) -> list[tuple[str, float, int]]:
        """(what, latency, status) for every RESPONSE in `data` that a request of ours waits for."""
        now = time.perf_counter()
        found = []
        for frame in self.parsers[index].feed(data):
            if frame.command == Command.RESPONSE:
                sent = self.waiting[index].pop(frame.msg_id, None)
                if sent is not None:
                    found.append((sent[0], now - sent[1], int(frame.status or 0)))
        return found

    def login(self, concurrency: int) -> dict[str, Any]:
        """Connect and log in every device; the latency of each login's RESPONSE."""
        count = len(self.blobs)
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
        self.parsers = [FrameParser(max_body=4096) for _ in range(count)]
        self.waiting = [{} for _ in range(count)]
        self.next_id = [3] * count
        latencies: list[float] = []
        refused = 0
        infos_left = count
        next_index, in_flight = 0, 0
        start = time.perf_counter()
        deadline = start + 600
        while (next_index < count or infos_left) and time.perf_counter() < deadline:
            while next_index < count and in_flight < concurrency:
                sock = self.sockets[next_index]
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", self.port))
                self.selector.register(sock, selectors.EVENT_WRITE, next_index)
                next_index += 1
                in_flight += 1
            for key, events in self.selector.select(timeout=0.5):
                index: int = key.data
                sock = self.sockets[index]
                if events & selectors.EVENT_WRITE:
                    self.waiting[index] = {1: ("login", time.perf_counter()), 2: ("info", time.perf_counter())}
                    sock.send(self.blobs[index])
                    self.selector.modify(sock, selectors.EVENT_READ, index)
                    continue
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError(f"the stub closed device {index}'s connection during login")
                for what, latency, status in self._answers(index, data):
                    if what == "login":
                        latencies.append(latency)
                        refused += status != Status.SUCCESS
                    else:
                        infos_left -= 1
                        in_flight -= 1
        return {"latencies": latencies, "refused": refused, "seconds": time.perf_counter() - start}

    def traffic(self, seconds: float, ping_interval: float, vw_interval: float, seed: int) -> dict[str, Any]:
        """Heartbeats and `vw` on every device for `seconds`; latencies of their answers."""
        rng = random.Random(seed)
        start = time.perf_counter()
        due: list[tuple[float, int, int]] = []  # (when, 0 ping / 1 vw, device)
        for index in range(len(self.sockets)):
            due.append((start + rng.random() * ping_interval, 0, index))
            due.append((start + rng.random() * vw_interval, 1, index))
        heapq.heapify(due)
        latencies: dict[str, list[float]] = {"ping": [], "vw": []}
        sent = {"ping": 0, "vw": 0}
        errors = skipped = 0
        end = start + seconds
        while True:
            now = time.perf_counter()
            while due and due[0][0] <= now and due[0][0] < end:
                when, kind, index = heapq.heappop(due)
                what = "vw" if kind else "ping"
                frames = b""
                if kind:  # the vw, then the PING whose answer says the stub has handled it
                    frames = encode_frame(Command.HARDWARE, self._take_id(index), hardware_vw(1, f"{index}:{when:.3f}"))
                msg_id = self._take_id(index)
                frames += encode_frame(Command.PING, msg_id)
                try:
                    self.sockets[index].send(frames)
                    self.waiting[index][msg_id] = (what, now)
                    sent[what] += 1
                except BlockingIOError:
                    skipped += 1
                heapq.heappush(due, (when + (vw_interval if kind else ping_interval), kind, index))
            if now >= end + 5 or (now >= end and not any(self.waiting)):
                break
            timeout = max(0.0, min(due[0][0] - now, 0.01)) if due and due[0][0] < end else 0.01
            for key, _ in self.selector.select(timeout=timeout):
                index = key.data
                data = self.sockets[index].recv(65536)
                if not data:
                    raise ConnectionError(f"the stub closed device {index}'s connection during the traffic")
                for what, latency, status in self._answers(index, data):
                    latencies[what].append(latency)
                    errors += status != Status.SUCCESS
        unanswered = sum(len(w) for w in self.waiting)
        return {"latencies": latencies, "sent": sent, "errors": errors, "skipped": skipped, "unanswered": unanswered}

    def close(self) -> dict[str, Any]:
        for sock in self.sockets:
            sock.close()
        return {}


def client_process(pipe: Connection, port: int, tokens: list[str]) -> None:
    _raise_open_files(len(tokens) + 256)
    fleet = Fleet(port, tokens)
    while True:
        command, args = pipe.recv()
        try:
            if command == "login":
                pipe.send(fleet.login(*args))
                gc.freeze()  # the fleet's sockets and parsers live to the end: no full collection pauses the load
            elif command == "traffic":
                pipe.send(fleet.traffic(*args))
            else:
                pipe.send(fleet.close())
                return
        except Exception as exc:  # tell the parent, do not leave it waiting
            pipe.send({"error": f"{type(exc).__name__}: {exc}"})
            return


# --- the stub and the measuring side --------------------------------------------------------------------
def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(
                f"needs {needed} open files, the hard limit is {hard}: raise it (ulimit -Hn) or use fewer devices"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _proc_status(pid: int) -> tuple[int, float]:
    """RSS (bytes) and CPU seconds (user + system) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for text in status:
            if text.startswith("VmRSS:"):
                rss = int(text.split()[1]) * 1024
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _latency_line(label: str, values: list[float], target_s: float) -> None:
    p50, p99, worst = _percentile(values, 0.50), _percentile(values, 0.99), max(values, default=0.0)
    print(
        f"  {label:<22} p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms   max {worst * 1000:8.1f} ms"
        f"   ({len(values):,} answers)   target p99 <= {target_s * 1000:.0f} ms: {_verdict(p99 <= target_s)}"
    )


def _ask_all(pipes: list[Connection], command: str, *args: Any) -> list[dict[str, Any]]:
    for pipe in pipes:
        pipe.send((command, args))
    results = [pipe.recv() for pipe in pipes]
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"a client process failed: {failed[0]}")
    return results


def _database(db: str, folder: Path) -> str:
    if db == "sqlite":
        return str(folder / "cloud.db")
    if backend_name(db) != "postgresql":
        raise SystemExit(f"--db: 'sqlite' or a postgresql:// URL, got {db!r}")
    from provlab.cloud.store.postgres_backend import with_schema

    return with_schema(db, f"provlab_bench_{secrets.token_hex(4)}")


def measure(args: argparse.Namespace) -> None:
    _raise_open_files(args.devices + 1024)  # the stub inherits it
    folder = Path(tempfile.mkdtemp(prefix="provlab-bench-fleet-"))
    target = _database(args.db, folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    command = [sys.executable, "-m", "provlab", "cloud", "serve", "--db", target, "--certs", str(folder / "certs")]
    stub_log = (folder / "stub.log").open("wb")  # its own messages, shown if it fails
    stub = subprocess.Popen([*command, *ports, "--json"], env=env, stdout=subprocess.PIPE, stderr=stub_log)
    clients: list[Any] = []
    pipes: list[Connection] = []
    try:
        assert stub.stdout is not None
        line = stub.stdout.readline()
        if not line:
            raise SystemExit(f"provlab cloud serve exited with {stub.wait(10)}: {(folder / 'stub.log').read_text()}")
        endpoints = json.loads(line)
        issue_start = time.perf_counter()
        store = Store(target)
        admin = store.users.by_email(endpoints["admin"])
        assert admin is not None
        tokens = [store.tokens.issue(admin, TEMPLATE).token for _ in range(args.devices)]
        store.close()
        issue_s = time.perf_counter() - issue_start
        time.sleep(1.0)
        rss_before, cpu_before = _proc_status(stub.pid)
        print(
            f"cloud stub under a fleet: {args.devices:,} devices in {args.clients} client processes, store "
            f"{endpoints['database']}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
        )
        print(f"  setup: {args.devices:,} tokens issued through the store in {issue_s:.1f} s")
        ctx = mp.get_context("spawn")
        for n in range(args.clients):
            parent_end, child_end = ctx.Pipe()
            share = tokens[n :: args.clients]
            process = ctx.Process(target=client_process, args=(child_end, endpoints["binary_port"], share), daemon=True)
            process.start()
            clients.append(process)
            pipes.append(parent_end)

        login_start = time.perf_counter()
        logins = _ask_all(pipes, "login", args.concurrency)
        login_s = time.perf_counter() - login_start
        login_latencies = [x for r in logins for x in r["latencies"]]
        refused = sum(r["refused"] for r in logins)
        rss_connected, cpu_connected = _proc_status(stub.pid)
        rate = len(login_latencies) / login_s
        print(
            f"  logins                 {rate:8,.0f} /s   ({len(login_latencies):,} answered, {refused} refused, in"
            f" {login_s:.1f} s; stub CPU {(cpu_connected - cpu_before) / max(len(login_latencies), 1) * 1e6:.0f}"
            f" us/login)   target >= {TARGET_LOGIN_RATE:,.0f}/s: {_verdict(rate >= TARGET_LOGIN_RATE and not refused)}"
        )
        _latency_line("login answer", login_latencies, TARGET_LOGIN_P99_S)

        traffic = _ask_all(pipes, "traffic", args.seconds, args.ping_interval, args.vw_interval, 17)
        rss_after, cpu_after = _proc_status(stub.pid)
        sent = {what: sum(r["sent"][what] for r in traffic) for what in ("ping", "vw")}
        print(
            f"  traffic for {args.seconds:g} s        {sent['ping'] / args.seconds:8,.0f} heartbeats/s"
            f" + {sent['vw'] / args.seconds:,.0f} vw/s offered; {sum(r['errors'] for r in traffic)} error answers,"
            f" {sum(r['unanswered'] for r in traffic)} unanswered, {sum(r['skipped'] for r in traffic)} sends skipped"
            f" (socket full); stub CPU {(cpu_after - cpu_connected) / args.seconds * 100:.0f}% of a core"
        )
        _latency_line("heartbeat (PING)", [x for r in traffic for x in r["latencies"]["ping"]], TARGET_PING_P99_S)
        _latency_line("vw (PING behind it)", [x for r in traffic for x in r["latencies"]["vw"]], TARGET_VW_P99_S)
        per_device = (rss_connected - rss_before) / args.devices / 1024
        print(
            f"  stub RSS               {rss_before / 2**20:.0f} MiB before, {rss_connected / 2**20:.0f} MiB with"
            f" {args.devices:,} connected, {rss_after / 2**20:.0f} MiB after the traffic"
        )
        after = (rss_after - rss_before) / args.devices / 1024
        print(
            f"  RSS per device         {per_device:8.1f} KiB   (after the traffic {after:.1f} KiB)"
            f"   target <= {TARGET_RSS_PER_DEVICE_KIB:.0f} KiB: {_verdict(per_device <= TARGET_RSS_PER_DEVICE_KIB)}"
        )
        print(f"  load average {os.getloadavg()[0]:.1f} at end (other work on this machine shares the cores)")
    finally:
        if pipes:
            for pipe in pipes:
                pipe.send(("close", ()))
            for process in clients:
                process.join(10)
        if stub.poll() is None:
            stub.send_signal(signal.SIGINT)
            try:
                stub.wait(60)
            except subprocess.TimeoutExpired:
                stub.kill()
                stub.wait(5)
        if stub.stdout is not None:
            stub.stdout.close()
        stub_log.close()
        if stub.returncode != 0:
            print(f"  the stub exited with {stub.returncode}: {(folder / 'stub.log').read_text()[-2000:]}")
        _check_and_clean(target, args.devices if stub.returncode == 0 else None)
        shutil.rmtree(folder, ignore_errors=True)


def _check_and_clean(target: str, devices: int | None) -> None:
    """After a clean stop every device is in the store; then drop the bench's PostgreSQL schema."""
    if devices is not None:
        store = Store(target)
        count = len(store.devices.all())
        store.close()
        print(f"  store after the stop: {count:,} devices ({'all' if count == devices else 'MISSING some'})")
    if backend_name(target) == "postgresql":
        from provlab.cloud.store.postgres_backend import drop_schema

        drop_schema(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temp file) or a postgresql:// URL (a temp schema)")
    parser.add_argument("--clients", type=int, default=2, help="device processes (each holds devices/clients sockets)")
    parser.add_argument("--concurrency", type=int, default=250, help="logins in flight per client process")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the traffic phase")
    parser.add_argument("--ping-interval", type=float, default=10.0, help="seconds between a device's heartbeats")
    parser.add_argument("--vw-interval", type=float, default=2.0, help="seconds between a device's vw writes")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()

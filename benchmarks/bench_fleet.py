"""Fleet enrollment: N emulated boards enrolled end to end by phones on one air, with workers over processes.

Starts `provlab cloud serve` (one stub, its own process) and `provlab emulate --count N --workers W
--serial memory --no-bridges --cloud-url …` (the boards, spread over worker processes, one air). Then
P phones (in `--phone-processes` processes; `SharedAir`: they see every worker's part of the air; no phone
journal) enroll every board, each the whole way: walk up to the board's bench, join its SoftAP,
`board_info.json`, a token from the stub, `wifi_scan.json`, `/config` (home Wi-Fi + cloud), leave, and wait
until the stub says the board has logged in over the home network and is online (one long poll,
`Phone(long_poll=True)`: the stub answers when the device arrives; the AP is watched beside it every device
second, as the app does). Then, with the fleet idle, it reads each worker's RSS and descriptors, and asks the
stub once more whether every enrolled device is still online. The flash files and the stub's database go to
`--scratch` (/dev/shm by default).

Targets (issue 17, point 1): ≤ 60 s wall for 10,000 boards, ≤ 1 MiB RSS per idle board, 0 boards lost.
Timings taken while other work shares the cores are not the machine's: rerun on a quiet machine.

    python3 benchmarks/bench_fleet.py                          # 10,000 boards, --workers auto
    python3 benchmarks/bench_fleet.py --count 300 --workers 2  # quick run
    python3 benchmarks/bench_fleet.py --cloud-url http://stub-host:8000 --ca lab-ca.pem --tls   # one of several fleets
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from provlab.lab.journal import Journal
from provlab.lab.phone import Phone
from provlab.lab.steps import Step, StepJournal
from provlab.wifi.sim_shared import SharedAir, SharedStation

ROOT = Path(__file__).resolve().parent.parent
HOME = ("FleetHome", "fleet-home-pass")
TARGET_WALL_S = 60.0
TARGET_RSS_PER_BOARD = 1 << 20
ONLINE_TIMEOUT_S = 120.0  # device seconds


@dataclass
class Outcome:
    board: str
    ok: bool
    seconds: float
    device_id: int | None
    failure: str = ""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _read_json_lines(stream: IO[bytes], count: int, timeout: float) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(lines)} of {count} lines")
        raw = stream.readline()
        if not raw:
            raise RuntimeError(f"the process ended after {len(lines)} of {count} lines")
        lines.append(json.loads(raw))
    return lines


@contextmanager
def process(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=_env(), cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class QuietJournal(Journal):
    """No phone journal: a fleet run keeps no evidence per exchange (masking 10,000 runs' records costs CPU)."""

    polls = 0
    """Token-status requests to the cloud, over all phones (long polls: one per board unless a board takes
    more than `phone.LONG_POLL_S` to come online)."""

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        if kind == "cloud_http" and fields.get("method") == "GET":
            QuietJournal.polls += 1
        return {}


class QuietSteps(StepJournal):
    """The phone's steps, on no journal: each enrollment keeps its own in `Enrollment.steps`; none piles up here."""

    def __init__(self, path: None) -> None:
        super().__init__(path)
        self._journal = QuietJournal(None)

    @contextmanager
    def step(self, name: str, subject: str = "lab", /, **args: Any) -> Iterator[Step]:
        with super().step(name, subject, **args) as step:
            self.steps.clear()
            yield step


async def enroll_share(
    name: str,
    air_file: str,
    boards: list[dict[str, Any]],
    cloud: tuple[str, int],
    phones: int,
    time_scale: float,
    go: Callable[[], Awaitable[None]],
) -> tuple[list[Outcome], float, float]:
    """`phones` phones enroll `boards`, each board the whole way; (outcomes, wall start, wall end) after `go`."""
    cloud_url, cloud_port = cloud
    air = SharedAir.from_file(air_file)
    todo = list(reversed(boards))
    outcomes: list[Outcome] = []
    crew = []
    for n in range(phones):
        station = air.station(f"{name}-phone-{n}")
        phone = Phone(
            station,
            cloud_url,
            email=DEFAULT_ADMIN_EMAIL,
            password=DEFAULT_ADMIN_PASSWORD,
            time_scale=time_scale,
            journal=QuietJournal(None),
            steps=QuietSteps(None),
            long_poll=True,
        )
        crew.append((station, phone))
    gate = asyncio.Semaphore(4)  # a password check costs the stub ~12 ms of CPU: not all at once

    async def login(phone: Phone) -> None:
        async with gate:
            await phone.login()

    async def work(station: SharedStation, phone: Phone) -> None:
        while todo:
            board = todo.pop()
            station.move_to(board["place"])
            started = time.perf_counter()
            enrollment = await phone.provision(
                board["ssid"],
                *HOME,
                cloud_host="blynk.cloud",
                cloud_port=cloud_port,
                online_timeout=ONLINE_TIMEOUT_S,
                diagnose=False,
                check=False,
            )
            last = enrollment.steps[-1].name if enrollment.steps else "start"
            failure = "" if enrollment.ok else f"{enrollment.failure} at {last}"
            took = time.perf_counter() - started
            outcomes.append(Outcome(board["name"], enrollment.ok, took, enrollment.device_id, failure))

    t0 = t1 = time.time()
    try:
        await asyncio.gather(*(login(phone) for _, phone in crew))  # the app was logged in long before: not timed
        await go()
        t0 = time.time()
        await asyncio.gather(*(work(station, phone) for station, phone in crew))
        t1 = time.time()
    finally:
        for _, phone in crew:
            await phone.close()
        await air.close()
    return outcomes, t0, t1


def phone_process(k: int, share: list[dict[str, Any]], setup: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    """One process of phones (`--phone-processes`): logs in, says ready, waits for the start, enrolls its share."""

    async def wait_for_go() -> None:
        ready.put(k)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)

    cpu0 = sum(os.times()[:2])
    outcomes, t0, t1 = asyncio.run(
        enroll_share(
            f"p{k}", setup["air"], share, (setup["cloud_url"], setup["port"]), setup["phones"], setup["scale"],
            wait_for_go,
        )
    )  # fmt: skip
    out.put((outcomes, t0, t1, sum(os.times()[:2]) - cpu0, QuietJournal.polls))


def enroll_all(
    air_file: str, boards: list[dict[str, Any]], cloud: tuple[str, int], args: argparse.Namespace
) -> tuple[list[Outcome], float, float]:
    """Every board enrolled by `args.phones` phones over `args.phone_processes` processes: (outcomes, wall s,
    the phones' CPU s during enrollment)."""
    context = multiprocessing.get_context("spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    count = args.phone_processes
    setup = {
        "air": air_file,
        "cloud_url": cloud[0],
        "port": cloud[1],
        "phones": args.phones // count,
        "scale": args.time_scale,
    }
    procs = [
        context.Process(target=phone_process, args=(k, boards[k::count], setup, ready, go, out)) for k in range(count)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=600)
        go.set()
        results = [out.get(timeout=3600) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    outcomes = [o for result in results for o in result[0]]
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    print(
        f"the phones asked the stub {sum(r[4] for r in results) / max(len(boards), 1):.1f} times per board "
        "whether it is online (long polls)"
    )
    return outcomes, wall, sum(r[3] for r in results)


async def still_online(cloud_url: str, device_ids: list[int]) -> int:
    """How many of `device_ids` the stub says are online now."""
    async with httpx.AsyncClient(base_url=cloud_url, timeout=30.0) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
        )
        http.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"
        gate = asyncio.Semaphore(32)

        async def online(device_id: int) -> bool:
            async with gate:
                response = await http.get(f"/api/v1/lab/devices/{device_id}")
                return response.status_code == 200 and bool(response.json().get("online"))

        return sum(await asyncio.gather(*(online(d) for d in device_ids)))


@contextmanager
def cloud(args: argparse.Namespace, folder: Path) -> Iterator[tuple[str, int, int | None]]:
    """(REST URL, the port boards log in on, the stub's pid): a stub of its own, or the one `--cloud-url` names."""
    if args.cloud_url:
        verify: Any = args.ca or True
        info = httpx.get(args.cloud_url.rstrip("/") + "/api/v1/lab/info", verify=verify, timeout=30).json()
        yield args.cloud_url.rstrip("/"), int(info["tlsPort"] if args.tls else info["binaryPort"]), None
        return
    command = [sys.executable, "-m", "provlab", "cloud", "serve", "--db", str(folder / "cloud.db"), "--json"]
    command += ["--binary-port", "0", "--http-port", "0", "--mqtt-port", "-1", "--mqtts-port", "-1"]
    command += ["--tls-port", "0" if args.tls else "-1"]
    with process(command) as stub:
        assert stub.stdout is not None
        endpoints = _read_json_lines(stub.stdout, 1, 60)[0]
        port = int(endpoints["tls_port"] if args.tls else endpoints["binary_port"])
        yield str(endpoints["http_url"]), port, stub.pid


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", default="auto", help="auto or a number (provlab emulate --workers)")
    parser.add_argument("--phones", type=int, default=400, help="phones enrolling at once")
    parser.add_argument(
        "--phone-processes", type=int, default=os.cpu_count() or 1, help="processes the phones run in (default: cores)"
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help="device seconds per wall second (wall clock)")
    parser.add_argument("--tls", action="store_true", help="boards log in over TLS (the stub's TLS port)")
    parser.add_argument("--cloud-url", help="a running `provlab cloud serve` (maybe on another machine) instead of one")
    parser.add_argument("--ca", help="with --cloud-url: the lab CA of that stub (the boards' TLS logins trust it)")
    parser.add_argument(
        "--scratch",
        default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
        help="folder for the boards' flash files and the stub's SQLite file (default: /dev/shm, in RAM, when "
        "there is one: on a shared disk every flash write and group commit costs a syscall storm and fsync)",
    )
    parser.add_argument("--idle-s", type=float, default=3.0, help="wall seconds idle before RSS is read")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="provlab-bench-fleet-", dir=args.scratch))
    print(f"scratch (flash files, stub database): {folder.parent}")
    try:
        with cloud(args, folder) as (cloud_url, cloud_port, stub_pid):
            fleet_cmd = [sys.executable, "-m", "provlab", "emulate", "--count", str(args.count), "--json"]
            fleet_cmd += ["--workers", args.workers, "--serial", "memory", "--no-bridges", "--cloud-url", cloud_url]
            fleet_cmd += ["--time-scale", str(args.time_scale), "--network", ":".join(HOME)]
            fleet_cmd += ["--air-dir", str(folder / "air"), "--state-dir", str(folder / "state")]
            fleet_cmd += ["--ca", args.ca] if args.ca else []
            t_start = time.perf_counter()
            with process(fleet_cmd) as fleet:
                assert fleet.stdout is not None
                lines = _read_json_lines(fleet.stdout, args.count + 1, 1200)
                boards, note = lines[:-1], lines[-1]
                if "air" not in note:  # one worker: no shared air file; the bench needs --workers >= 2 or auto > 1
                    raise SystemExit("bench_fleet needs the fleet on more than one worker (--workers 2 or more)")
                workers = note["workers"]
                started_s = time.perf_counter() - t_start
                pids = {w["name"]: int(w["pid"]) for w in workers} | ({"stub": stub_pid} if stub_pid else {})
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                print(f"fleet: {args.count} boards on {len(workers)} workers, up in {started_s:.1f} s (not timed)")
                outcomes, wall, phones_cpu = enroll_all(note["air"], boards, (cloud_url, cloud_port), args)
                cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
                cpu["phones"] = phones_cpu
                time.sleep(args.idle_s)
                device_ids = [o.device_id for o in outcomes if o.ok and o.device_id is not None]
                online = asyncio.run(still_online(cloud_url, device_ids))
                per_worker = []
                for w in workers:
                    count = sum(1 for b in boards if b["worker"] == w["name"])
                    per_worker.append((w["name"], count, rss_bytes(w["pid"]), descriptors(w["pid"])))
                stub_rss = rss_bytes(stub_pid) if stub_pid else 0
        enrolled = sum(1 for o in outcomes if o.ok)
        lost = args.count - online
        total_rss = sum(rss for _, _, rss, _ in per_worker)
        per_board = total_rss / args.count
        load = os.getloadavg()[0]
        print(
            f"host: {os.cpu_count()} cores, load average {load:.2f} at the end "
            "(on a busy host the timings are not the machine's)"
        )
        print(
            f"phones: {args.phones} at once in {args.phone_processes} processes (no phone journal), "
            f"time scale {args.time_scale}, board logins over {'TLS' if args.tls else 'plain TCP'}"
        )
        print(f"{'worker':8s}{'boards':>8s}{'RSS MiB':>10s}{'RSS/board KiB':>15s}{'fds':>8s}{'fds/board':>11s}")
        for name, count, rss, fds in per_worker:
            each = max(count, 1)
            print(f"{name:8s}{count:>8d}{rss / 2**20:>10.1f}{rss / each / 1024:>15.1f}{fds:>8d}{fds / each:>11.2f}")
        if stub_pid:
            print(f"stub RSS {stub_rss / 2**20:.1f} MiB (its own process, not counted per board)")
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
        print(f"CPU during enrollment: {shown}; {sum(cpu.values()) / args.count * 1000:.1f} ms per board")
        durations = sorted(o.seconds for o in outcomes)
        if durations:
            print(
                f"one enrollment (wall, phone's view): median {durations[len(durations) // 2] * 1000:.0f} ms, "
                f"p99 {durations[int(len(durations) * 0.99) - 1] * 1000:.0f} ms"
            )
        failures = [o for o in outcomes if not o.ok]
        for failed in failures[:5]:
            print(f"  failed {failed.board}: {failed.failure}")
        print(f"enrolled end to end: {enrolled}/{args.count} in {wall:.1f} s wall ({args.count / wall:.0f} boards/s)")
        scaled = TARGET_WALL_S * args.count / 10_000
        print(
            f"  target ≤ {TARGET_WALL_S:.0f} s for 10,000 boards: {verdict(wall <= scaled)}"
            f" (scaled to {args.count}: ≤ {scaled:.1f} s)"
        )
        print(
            f"  target ≤ 1 MiB RSS per idle board: {verdict(per_board <= TARGET_RSS_PER_BOARD)} "
            f"({per_board / 1024:.0f} KiB, worker RSS / boards, interpreters included)"
        )
        print(
            f"  target 0 boards lost: {verdict(lost == 0)} ({lost} lost: {args.count - enrolled} not enrolled, "
            f"{enrolled - online} enrolled but offline at the end)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

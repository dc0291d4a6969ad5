"""Phone provisioning benchmark: one board end to end, and a fleet provisioned by several phones at once.

Each world is a cloud stub, an air (`sim` by default, `netns` as root), a WPA2 home network and
emulated ESP32 boards (serial output kept in memory). "Provision" is `Phone.provision()` from the
join of the board's AP to the cloud reporting the device online, with the firmware's own delays
(1.1 device s between `/config` and the AP going away, 2.6 s to bring an AP up) scaled by time_scale.

    python3 benchmarks/bench_phone.py                      # both parts, sim, time_scale 0.01
    python3 benchmarks/bench_phone.py --runs 30 --boards 100 --phones 10
    python3 benchmarks/bench_phone.py --air netns --boards 20 --phones 4   # as root
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, CloudStub
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import MemorySerial
from provlab.lab.enrollment import Enrollment
from provlab.lab.phone import Phone
from provlab.protocol.ssid import format_mac
from provlab.wifi.guard import TrafficGuard
from provlab.wifi.world import Air, open_air

HOME, PASS, CLOUD_HOST, TEMPLATE = "ProvlabHome", "correct-horse-battery", "blynk.cloud", "TMPL0PROVLAB"


class BenchWorld:
    def __init__(self, air_kind: str, folder: Path, time_scale: float) -> None:
        self.air: Air = open_air(air_kind)
        self.cloud = CloudStub(folder / "cloud.db", time_scale=time_scale)
        self.folder = folder
        self.time_scale = time_scale
        self.boards: list[EmulatedBoard] = []
        self.phones: list[Phone] = []

    async def start(self, boards: int) -> None:
        self.cloud.seed(templates={TEMPLATE: "Device"})
        endpoints = await self.cloud.start()
        self.air.open_internet_port(endpoints.binary_port)
        self.air.add_network(HOME, passphrase=PASS, dns={CLOUD_HOST: "127.0.0.1"})
        for index in range(1, boards + 1):
            mac = bytes.fromhex("246F2800") + index.to_bytes(2, "big")
            board = EmulatedBoard(
                edgent_esp32(template_id=TEMPLATE, template_name="Device"),
                mac,
                self.air.board_radio(f"board-{index}", mac=format_mac(mac)),
                self.folder / f"board-{index}.nvs",
                MemorySerial(),
                clock=DeviceClock(self.time_scale),
                name=f"board-{index}",
            )
            await board.power_on()
            self.boards.append(board)
        while any(board.radio.ap is None for board in self.boards):  # every SoftAP on the air
            await asyncio.sleep(0.005)

    def phone(self) -> Phone:
        assert self.cloud.endpoints is not None
        phone = Phone(
            self.air.station(f"phone-{len(self.phones) + 1}"),
            self.cloud.endpoints.http_url,
            email=DEFAULT_ADMIN_EMAIL,
            password=DEFAULT_ADMIN_PASSWORD,
            time_scale=self.time_scale,
            name=f"phone-{len(self.phones) + 1}",
        )
        self.phones.append(phone)
        return phone

    async def provision(self, phone: Phone, board: EmulatedBoard) -> tuple[Enrollment, float]:
        assert self.cloud.endpoints is not None
        started = time.perf_counter()
        enrollment = await phone.provision(
            board.ssid, HOME, PASS, cloud_host=CLOUD_HOST, cloud_port=self.cloud.endpoints.binary_port, check=False
        )
        return enrollment, time.perf_counter() - started

    async def close(self) -> None:
        for phone in self.phones:
            await phone.close()
        for board in self.boards:
            await board.power_off()
        await self.cloud.stop()
        self.air.close()


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f}   "
        f"min {ordered[0] * 1000:6.1f}   max {ordered[-1] * 1000:7.1f}"
    )


async def single(air: str, runs: int, time_scale: float) -> None:
    """One fresh world per run; the phone provisions its one board."""
    startup, logins, durations, failures = [], [], [], 0
    steps: dict[str, list[float]] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            world = BenchWorld(air, Path(folder), time_scale)
            try:
                await world.start(1)
                startup.append(time.perf_counter() - t0)
                phone = world.phone()
                t1 = time.perf_counter()
                await phone.login()  # the app is logged in before "Add device"
                logins.append(time.perf_counter() - t1)
                enrollment, took = await world.provision(phone, world.boards[0])
                failures += not enrollment.ok
                durations.append(took)
                for step in enrollment.steps:
                    steps.setdefault(step.name, []).append(step.duration)
            finally:
                await world.close()
    print(f"one board end to end ({air}, time_scale={time_scale}, {runs} runs, {failures} failed)")
    print(f"  world up (cloud, air, board's AP on)  {statistics.median(startup) * 1000:7.1f} ms median")
    print(f"  phone login to the cloud (once)       {statistics.median(logins) * 1000:7.1f} ms median")
    print(f"  phone.provision() join AP → online    {_ms(durations)}")
    for name, values in steps.items():
        print(f"    {name:<12} {statistics.median(values) * 1000:7.1f} ms median")
    print(f"  of which firmware-mandated delays      {1.1 * time_scale * 1000:7.1f} ms (1.1 device s)")


async def fleet(air: str, boards: int, phones: int, time_scale: float) -> None:
    """`boards` boards, `phones` phones at once, each phone working through its share one by one."""
    with tempfile.TemporaryDirectory() as folder:
        world = BenchWorld(air, Path(folder), time_scale)
        try:
            t0 = time.perf_counter()
            await world.start(boards)
            ready = time.perf_counter() - t0
            crew = [world.phone() for _ in range(phones)]
            results: list[tuple[Enrollment, float]] = []

            async def work(phone: Phone, share: list[EmulatedBoard]) -> None:
                for board in share:
                    results.append(await world.provision(phone, board))

            t1 = time.perf_counter()
            await asyncio.gather(*(work(p, world.boards[i::phones]) for i, p in enumerate(crew)))
            wall = time.perf_counter() - t1
            online = sum(1 for e, _ in results if e.ok)
            rejoins = sum(e.rejoins for e, _ in results)
            failed = Counter(e.failure.name for e, _ in results if e.failure is not None)
            print(f"{boards} boards by {phones} phones at once ({air}, time_scale={time_scale})")
            print(f"  world up ({boards} SoftAPs on the air)       {ready * 1000:9.1f} ms")
            print(f"  all provisioned                            {wall * 1000:9.1f} ms wall, {online}/{boards} online")
            print(f"  throughput                                 {online / wall:9.1f} boards/s")
            print(f"  per board phone.provision()                {_ms([d for _, d in results])}")
            print(f"  AP re-joins needed                         {rejoins:9d}")
            if failed:
                print(f"  failures                                   {dict(failed)}")
                why = Counter(e.diagnosis or str(e.steps[-1].error) for e, _ in results if e.failure is not None)
                for reason, count in why.most_common(3):
                    print(f"    {count} x {reason}")
        finally:
            await world.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--air", default="sim", choices=["sim", "netns"])
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=20, help="single-board runs (0 to skip)")
    parser.add_argument("--boards", type=int, default=100, help="fleet size (0 to skip)")
    parser.add_argument("--phones", type=int, default=10)
    args = parser.parse_args()
    with TrafficGuard.enforce():
        if args.runs:
            asyncio.run(single(args.air, args.runs, args.time_scale))
        if args.boards:
            asyncio.run(fleet(args.air, args.boards, args.phones, args.time_scale))


if __name__ == "__main__":
    main()

"""Emulated boards: memory per idle board, boot-to-WAIT_CONFIG time, idle CPU, and one happy path's wall time.

Idle = in WAIT_CONFIG with its SoftAP and web server up, in-memory serial (acceptance 10: <= 1 MiB per
board, 10,000 boards in one process). The happy path (acceptance 7) is power-on to RUNNING against a
minimal binary-protocol server on loopback, firmware delays included, at `--happy-scale`.

    python3 benchmarks/bench_board.py --boards 1000
    python3 benchmarks/bench_board.py --boards 10000 --happy-runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import MemorySerial
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import Frame, FrameParser
from provlab.protocol.states import EdgentState
from provlab.wifi.sim import SimAir, SimBoardRadio

TOKEN = "A" * 32


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def board(air: SimAir, folder: Path, index: int, scale: float) -> EmulatedBoard:
    mac = bytes.fromhex("246F28") + (4 * index).to_bytes(3, "big")
    return EmulatedBoard(
        edgent_esp32(),
        mac,
        SimBoardRadio(air, f"board-{index}"),
        folder / f"board-{index}.nvs",
        MemorySerial(),
        clock=DeviceClock(scale),
        name=f"board-{index}",
    )


async def idle_fleet(count: int, scale: float, folder: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    air = SimAir()
    before = rss_bytes()
    boards = [board(air, folder, i, scale) for i in range(count)]
    start = time.perf_counter()
    for b in boards:
        await b.power_on()
    while any(b.radio.ap is None or not b.web_server_up for b in boards):
        await asyncio.sleep(0.01)
    all_up = time.perf_counter() - start
    await asyncio.sleep(0.2)
    after = rss_bytes()
    to_wait_config = [next(r.millis for r in b.history if r.target is EdgentState.WAIT_CONFIG) for b in boards]
    cpu0, wall0 = sum(os.times()[:2]), time.perf_counter()
    await asyncio.sleep(2.0)
    idle_cpu = (sum(os.times()[:2]) - cpu0) / (time.perf_counter() - wall0)
    per_board = (after - before) / count
    print(f"{count} idle boards (WAIT_CONFIG, SoftAP + web server up, in-memory serial), time_scale={scale}")
    print(f"  memory per board        {per_board / 1024:8.1f} KiB   (RSS {before >> 20} -> {after >> 20} MiB)")
    print(
        f"  boot to WAIT_CONFIG     median {statistics.median(to_wait_config):6.0f} ms device time"
        f" (the INIT => WAIT_CONFIG line), max {max(to_wait_config)} ms"
    )
    print(f"  power-on to all APs up  {all_up * 1000:8.1f} ms wall for all {count} (firmware: 2.6 s device each)")
    print(f"  idle CPU                {idle_cpu * 100:8.2f} % of one core over 2 s")
    for b in boards:
        await b.power_off()


async def serve_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    parser = FrameParser()
    while data := await reader.read(4096):
        for frame in parser.feed(data):
            if frame.command in (Command.HW_LOGIN, Command.PING):
                writer.write(Frame.response(frame.msg_id, Status.SUCCESS).encode())
    writer.close()


async def happy_path(scale: float, folder: Path) -> float:
    """Power-on to RUNNING: boot, AP up, phone joins, board_info, /config, AP down, Wi-Fi, login."""
    server = await asyncio.start_server(serve_login, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    air = SimAir()
    air.add_network("Home", passphrase="correct-horse", dns={"blynk.cloud": "127.0.0.1"})
    b = board(air, folder, 0, scale)
    running = asyncio.Event()
    b.listeners.append(lambda old, new: running.set() if new is EdgentState.RUNNING else None)
    start = time.perf_counter()
    await b.power_on()
    while not b.web_server_up:
        await asyncio.sleep(0.001)
    phone = air.station("phone")
    link = await phone.join(b.ssid)
    for path in ("/board_info.json", f"/config?ssid=Home&pass=correct-horse&blynk={TOKEN}&port_ssl={port}"):
        host, http_port = link.endpoint("192.168.4.1", 80)
        reader, writer = await asyncio.open_connection(host, http_port, local_addr=(link.local_address, 0))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 192.168.4.1\r\n\r\n".encode())
        await reader.read()
        writer.close()
    await phone.leave()
    await running.wait()
    elapsed = time.perf_counter() - start
    await b.power_off()
    air.close()  # the board vanished without a FIN: the air's relay still holds the server's connection
    server.close()
    (folder / "board-0.nvs").unlink()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=0.001, help="time scale of the idle fleet")
    parser.add_argument("--happy-scale", type=float, default=0.01)
    parser.add_argument("--happy-runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [await happy_path(args.happy_scale, Path(folder)) for _ in range(args.happy_runs)]
        floor = (0.1 + 2.0 + 0.5 + 1.0 + 0.1) * args.happy_scale
        print(f"happy path power-on to RUNNING, time_scale={args.happy_scale}, {args.happy_runs} runs")
        print(
            f"  wall time               median {statistics.median(runs) * 1000:6.1f} ms"
            f" (min {min(runs) * 1000:.1f}, max {max(runs) * 1000:.1f});"
            f" firmware-mandated delays {floor * 1000:.0f} ms"
        )
        await idle_fleet(args.boards, args.time_scale, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())

"""Serial driver numbers: parse throughput over a real pty, expect latency, console round trip, replay speed.

    python3 benchmarks/bench_serial.py --lines 20000 --rounds 50

Prints medians; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import tty
from pathlib import Path

from provlab.drivers.recording import Recording
from provlab.drivers.replay import ReplayBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import PtySerial
from provlab.lab.runtime import EventLoopThread
from provlab.wifi.sim import SimAir, SimBoardRadio

LINE = b"[123456] Connecting to blynk.cloud:443\r\n"


def throughput(lines: int) -> tuple[float, float]:
    """Lines/s and MB/s from pty write to parsed line."""
    master, slave = os.openpty()
    tty.setraw(slave)
    with SerialBoard(os.ttyname(slave), name="bench", lock=False) as board:
        payload = LINE * lines
        start = time.perf_counter()
        writer = threading.Thread(target=lambda: os.write(master, payload) and None)
        writer.start()
        total = len(payload)
        board.stream.wait_until("all", lambda: True if board.stream.bytes_received >= total else None, 600)
        elapsed = time.perf_counter() - start
        writer.join()
    os.close(master)
    os.close(slave)
    return lines / elapsed, total / elapsed / 1e6


def expect_latency(rounds: int) -> float:
    """Median ms from a line written into the pty to `expect` returning it."""
    master, slave = os.openpty()
    tty.setraw(slave)
    samples = []
    with SerialBoard(os.ttyname(slave), name="bench", lock=False) as board:
        for n in range(rounds):
            mark = board.mark()
            start = time.perf_counter()
            os.write(master, f"[{n}] Ready (ping: {n}ms).\r\n".encode())
            board.expect_exact(f"ping: {n}ms", timeout=10, since=mark)
            samples.append((time.perf_counter() - start) * 1000)
    os.close(master)
    os.close(slave)
    return statistics.median(samples)


def console_round_trip(rounds: int, folder: Path) -> float:
    """Median ms of `console("devinfo")` on an emulated board through its pty."""
    loop = EventLoopThread()
    port = PtySerial()

    async def make() -> EmulatedBoard:
        board = EmulatedBoard(
            edgent_esp32(),
            bytes.fromhex("246F28BE0001"),
            SimBoardRadio(SimAir(), "b"),
            folder / "b.nvs",
            port,
            clock=DeviceClock(0.01),
        )
        port.attach(asyncio.get_running_loop())
        return board

    emulated = loop.run(make(), 30)
    samples = []
    with SerialBoard(port.path, name="bench", time_scale=0.01, lock=False) as board:
        loop.run(emulated.power_on(), 30)
        board.expect_state("WAIT_CONFIG", timeout=600)
        for _ in range(rounds):
            start = time.perf_counter()
            board.console("devinfo", timeout=500)
            samples.append((time.perf_counter() - start) * 1000)
    loop.run(emulated.power_off(), 30)
    port.close()
    loop.close()
    return statistics.median(samples)


def replay_speed(lines: int) -> float:
    """Lines/s of a recording replayed as fast as the reader takes it."""
    recording = Recording.from_text(LINE * lines)
    start = time.perf_counter()
    with ReplayBoard(recording, time_scale=0, lock=False) as board:
        board.wait_replayed(timeout=600)
    return lines / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    per_s, mb_s = throughput(args.lines)
    print(f"parse throughput over a pty: {per_s:,.0f} lines/s ({mb_s:.1f} MB/s), {args.lines} lines")
    print(f"expect latency (write -> match): median {expect_latency(args.rounds):.2f} ms over {args.rounds}")
    with tempfile.TemporaryDirectory() as folder:
        round_trip = console_round_trip(args.rounds, Path(folder))
    print(f"console devinfo round trip (emulated board): median {round_trip:.2f} ms")
    print(f"replay, as fast as read: {replay_speed(args.lines):,.0f} lines/s")


if __name__ == "__main__":
    main()

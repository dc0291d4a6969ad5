"""Flashing numbers: esptool (library, --no-stub) writing a provlab-built app image to an emulated ESP32's ROM
downloader over a real pty, and the whole `flash_board` (download mode, write, verify, reboot, banner check).

    python3 benchmarks/bench_flash.py --kb 256 1024 --rounds 3

Prints medians; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from provlab.drivers.flashing import FirmwareFile, flash_board
from provlab.drivers.serial_board import SerialBoard
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import PtySerial
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.runtime import EventLoopThread
from provlab.protocol.firmware_image import build_app_image
from provlab.wifi.sim import SimAir, SimBoardRadio


def one_round(folder: Path, kb: int) -> tuple[float, float]:
    """(seconds esptool took to write, seconds for the whole flash_board) for one image of about `kb` KiB."""
    loop = EventLoopThread(name="bench-flash")
    port = PtySerial()
    air = SimAir()

    async def make() -> EmulatedBoard:
        board = EmulatedBoard(
            edgent_esp32(),
            bytes.fromhex("246F28AB0001"),
            SimBoardRadio(air, "board-1"),
            folder / "board.nvs",
            port,
            clock=DeviceClock(0.01),
            name="board-1",
        )
        port.attach(asyncio.get_running_loop())
        return board

    board = loop.run(make(), 30)
    image = folder / f"app-{kb}k.bin"
    image.write_bytes(build_app_image("9.9.9", code_size=kb * 1024))
    firmware = FirmwareFile.load(image)
    try:
        loop.run(board.power_on(), 30)
        sideband = EmulatedSideband(board, lambda coro: loop.run(coro, 60))
        with SerialBoard(port.path, name="board-1", time_scale=0.01, sideband=sideband, lock=False) as serial:
            start = time.perf_counter()
            record = flash_board(serial, firmware, log_dir=folder)
            total = time.perf_counter() - start
        log = Path(str(record.esptool_log)).read_text()
        wrote = next(line for line in log.splitlines() if line.startswith("Wrote "))
        esptool_s = float(wrote.split(" in ")[1].split(" seconds")[0])
        return esptool_s, total
    finally:
        loop.run(board.power_off(), 30)
        port.close()
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=int, nargs="+", default=[256, 1024], help="image sizes in KiB")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for kb in args.kb:
        writes, totals = [], []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="provlab-bench-flash-") as tmp:
                write_s, total_s = one_round(Path(tmp), kb)
            writes.append(write_s)
            totals.append(total_s)
        write_s, total_s = statistics.median(writes), statistics.median(totals)
        print(
            f"{kb:5d} KiB image over a pty: esptool write median {write_s:.2f} s ({kb * 8 / write_s:.0f} kbit/s), "
            f"whole flash_board (download mode, write, MD5 verify, reboot, banner) median {total_s:.2f} s"
        )


if __name__ == "__main__":
    main()

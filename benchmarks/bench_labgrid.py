"""Board farm numbers: what acquiring and releasing a labgrid place costs a run, and a waiter's hand-over delay.

    python3 benchmarks/bench_labgrid.py --rounds 20

Starts a real `labgrid-coordinator` on 127.0.0.1 (a temporary folder, removed after), creates one place, then
times: a client session's start, acquire, release, and close; and how long a second run waiting for the place
(`PROVLAB_LABGRID_WAIT`) takes to get it after the holder releases it. Prints medians; nothing here is a test.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from provlab.drivers.farm.labgrid_place import LabgridPlace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _labgrid(tool: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"labgrid.remote.{tool}", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="provlab-bench-labgrid-"))
    address = f"127.0.0.1:{_free_port()}"
    coordinator = subprocess.Popen(
        _labgrid("coordinator", "--listen", address),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            _labgrid("client", "-x", address, "-p", "bench", "create"), capture_output=True, check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise SystemExit(f"labgrid-coordinator did not come up on {address}")
            time.sleep(0.2)
        phases: dict[str, list[float]] = {"session start": [], "acquire": [], "release": [], "close": []}
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            place = LabgridPlace("bench", coordinator=address)
            t1 = time.perf_counter()
            place.acquire()
            t2 = time.perf_counter()
            place.release()
            t3 = time.perf_counter()
            place.close()
            t4 = time.perf_counter()
            for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                phases[name].append(value)
        for name, values in phases.items():
            print(f"{name:<14} median {statistics.median(values) * 1000:7.1f} ms  (max {max(values) * 1000:.1f})")
        handover: list[float] = []
        for _ in range(max(1, args.rounds // 4)):
            holder = LabgridPlace("bench", coordinator=address).acquire()
            released: list[float] = []

            def release_later(held: LabgridPlace = holder, stamps: list[float] = released) -> None:
                time.sleep(0.3)
                stamps.append(time.perf_counter())
                held.close()

            thread = threading.Thread(target=release_later)
            thread.start()
            waiter = LabgridPlace("bench", coordinator=address, wait=30)
            waiter.acquire()
            got = time.perf_counter()
            thread.join()
            handover.append(got - released[0])
            waiter.close()
        print(f"{'hand-over':<14} median {statistics.median(handover) * 1000:7.1f} ms  (a waiter polls every 0.5 s)")
    finally:
        coordinator.terminate()
        coordinator.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

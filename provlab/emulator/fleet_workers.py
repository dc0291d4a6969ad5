"""A fleet over worker processes (`provlab emulate --workers auto|K`), all on one air.

One process holds a few thousand online boards at most: each online board keeps 4 descriptors (its
cloud socket, the router's relay with a socket each way, the router's door), a pty adds 2 and a host
bridge 1, and one core runs them all. `plan_workers` picks how many processes a fleet needs from the
descriptor limit (raised to its hard limit first) and the cores; `run_workers` starts them, each a
`provlab emulate --worker K/N` with its share of the boards, its part of the loopback addresses and
BSSIDs, and its slice of the home network's address pool, and answering for its part of the air on a
Unix socket (`provlab.wifi.sim_shared.AirPort`). The parent writes `air.json` naming those sockets:
a phone in any process (`SharedAir.from_file`) sees and joins every board.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ONLINE_BOARD_FDS = 4
"""Descriptors of one online board: its cloud socket, the relay's two sockets, the router's door."""
PTY_FDS = 2
BRIDGE_FDS = 1
RESERVED_FDS = 512
"""Kept free in each worker for its event loop, air port, stub connections during enrollment, logs."""
BOARDS_PER_CORE = 1000
"""Below this many boards a second process costs more than it brings."""
MAX_WORKERS = 16
"""Each worker gets 1/16 of the sim's loopback addresses at least (a /16 home network plus 131,072 SoftAPs)
and 2^20 BSSIDs of the 2^24 the sim hands out."""
READY_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 60.0


class WorkerError(RuntimeError):
    """A worker process died or did not report its boards."""


def raise_descriptor_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def board_descriptors(*, pty: bool, bridge: bool) -> int:
    return ONLINE_BOARD_FDS + (PTY_FDS if pty else 0) + (BRIDGE_FDS if bridge else 0)


def plan_workers(count: int, requested: str, *, pty: bool, bridge: bool, limit: int | None = None) -> int:
    """How many processes run `count` boards: `requested` as a number, or `auto`: enough that no process runs
    out of descriptors, and one per core once there are more than BOARDS_PER_CORE boards per core."""
    if requested != "auto":
        workers = int(requested)
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"--workers must be auto or 1..{MAX_WORKERS}, got {requested}")
        return min(workers, count)
    limit = limit if limit is not None else raise_descriptor_limit()
    per_process = max((limit - RESERVED_FDS) // board_descriptors(pty=pty, bridge=bridge), 1)
    by_descriptors = math.ceil(count / per_process)
    by_cores = min(os.cpu_count() or 1, math.ceil(count / BOARDS_PER_CORE))
    workers = max(1, by_descriptors, by_cores)
    if workers > MAX_WORKERS:
        raise ValueError(
            f"{count} boards need {workers} processes at {limit} descriptors each (more than {MAX_WORKERS}): "
            "raise the descriptor limit (ulimit -n) or run fleets on several machines"
        )
    return workers


def shares(count: int, workers: int) -> list[int]:
    """`count` boards over `workers` processes, as even as can be."""
    base, extra = divmod(count, workers)
    return [base + (1 if k < extra else 0) for k in range(workers)]


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    boards: list[dict[str, Any]]
    air_port: str = ""
    pid: int = 0


def _pump(worker: int, stream: IO[bytes], lines: queue.Queue[tuple[int, bytes | None]]) -> None:
    for line in stream:
        lines.put((worker, line))
    lines.put((worker, None))


def start_workers(common: list[str], count: int, workers: int, air_dir: Path, state_dir: Path) -> list[Worker]:
    """Start the workers (`provlab emulate` + `common` options + each one's share) and wait until every one
    has printed its boards; raises `WorkerError` (after stopping them) when one fails."""
    started: list[Worker] = []
    lines: queue.Queue[tuple[int, bytes | None]] = queue.Queue()
    first = 1
    for k, share in enumerate(shares(count, workers)):
        command = [sys.executable, "-m", "provlab", "emulate", *common, "--count", str(share), "--json"]
        command += ["--worker", f"{k}/{workers}", "--first-board", str(first), "--air-dir", str(air_dir)]
        command += ["--state-dir", str(state_dir / f"w{k}")]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(k, proc.stdout, lines), daemon=True).start()
        started.append(Worker(f"w{k}", proc, []))
        first += share
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while len(ready) < len(started):
            try:
                k, line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise WorkerError(
                    f"workers {sorted(set(range(workers)) - ready)} did not report their boards"
                ) from None
            if line is None:
                if k not in ready:
                    code = started[k].proc.wait()
                    raise WorkerError(f"worker w{k} exited ({code}) before its boards were up")
                continue
            message = json.loads(line)
            if "air_port" in message:
                started[k].air_port, started[k].pid = str(message["air_port"]), int(message["pid"])
                ready.add(k)
            else:
                started[k].boards.append(message)
    except BaseException:
        stop_workers(started)
        raise
    return started


def write_air_file(air_dir: Path, workers: list[Worker]) -> Path:
    """`air.json`: each worker's air socket and pid (`SharedAir.from_file` reads it)."""
    path = air_dir / "air.json"
    ports = {w.name: w.air_port for w in workers}
    path.write_text(json.dumps({"ports": ports, "workers": [{"name": w.name, "pid": w.pid} for w in workers]}))
    return path


def stop_workers(workers: list[Worker]) -> list[int]:
    """SIGTERM every worker (each stops its boards cleanly), then wait; a worker that hangs is killed."""
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    codes = []
    for worker in workers:
        try:
            codes.append(worker.proc.wait(STOP_TIMEOUT_S))
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            codes.append(worker.proc.wait())
    return codes


def serve_workers(
    common: list[str],
    count: int,
    workers: int,
    air_dir: Path,
    state_dir: Path,
    on_ready: Callable[[list[Worker], Path], None],
) -> int:
    """Run the workers until SIGINT/SIGTERM (or one of them dies); 0 when all stopped cleanly."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[Worker] = []
    try:
        started = start_workers(common, count, workers, air_dir, state_dir)
        on_ready(started, write_air_file(air_dir, started))
        while not stop.wait(0.5):
            if any(w.proc.poll() is not None for w in started):
                break
    finally:
        codes = stop_workers(started)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stop.is_set() and all(code == 0 for code in codes) else 1

"""Run ids for everything the `netns` backend creates, and the cleanup of what a crashed run left.

Every namespace is called `provlab-<run>-<role>` (run = 6 hex digits). A run writes a record
`/run/provlab/runs/<run>.json` with its pid and that process's start time; a run whose process is
gone (or whose record is missing) is a leftover, and `provlab doctor --cleanup` removes its
namespaces (their veths go with them), any process still inside them, its temp dirs and its record.
Runs whose process is alive are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from provlab.wifi.netns.namespace import run_ip

PREFIX = "provlab-"
RUNS_DIR = Path("/run/provlab/runs")
_RUN_NAMESPACE = re.compile(r"^provlab-([0-9a-f]{6})-[A-Za-z0-9_.-]+$")
_PROBE_NAMESPACE = re.compile(r"^provlab-probe(\d+)$")


def new_run_id() -> str:
    return secrets.token_hex(3)


def namespace_name(run_id: str, role: str) -> str:
    return f"{PREFIX}{run_id}-{role}"


def run_of(namespace: str) -> str | None:
    match = _RUN_NAMESPACE.match(namespace)
    return match.group(1) if match else None


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_alive(pid: int, start_ticks: int | None) -> bool:
    now = _start_ticks(pid)
    return now is not None and (start_ticks is None or now == start_ticks)


@dataclass
class RunRecord:
    run_id: str
    pid: int
    start_ticks: int | None
    temp_dirs: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return RUNS_DIR / f"{self.run_id}.json"

    @classmethod
    def for_this_process(cls, run_id: str) -> RunRecord:
        return cls(run_id, os.getpid(), _start_ticks(os.getpid()))

    def save(self) -> None:
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        tmp.replace(self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @classmethod
    def load(cls, run_id: str) -> RunRecord | None:
        try:
            data = json.loads((RUNS_DIR / f"{run_id}.json").read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    @property
    def alive(self) -> bool:
        return process_alive(self.pid, self.start_ticks)


@dataclass
class Leftover:
    """What one dead run left behind."""

    run_id: str
    namespaces: list[str] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    record: RunRecord | None = None

    def describe(self) -> str:
        parts = [f"{len(self.namespaces)} namespace(s)"]
        if self.temp_dirs:
            parts.append(f"{len(self.temp_dirs)} temp dir(s)")
        owner = f"pid {self.record.pid} gone" if self.record else "no run record"
        return f"run {self.run_id}: {', '.join(parts)} ({owner})"


def lab_namespaces() -> list[str]:
    out = run_ip("netns", "list", check=False)
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX)]


def find_leftovers() -> list[Leftover]:
    """Namespaces, temp dirs and records of runs whose process is gone."""
    found: dict[str, Leftover] = {}
    records = {p.stem: RunRecord.load(p.stem) for p in RUNS_DIR.glob("*.json")} if RUNS_DIR.exists() else {}
    for name in lab_namespaces():
        probe = _PROBE_NAMESPACE.match(name)
        if probe is not None:
            if not process_alive(int(probe.group(1)), None):
                found.setdefault(name, Leftover(name)).namespaces.append(name)
            continue
        run_id = run_of(name)
        if run_id is None:
            continue
        record = records.get(run_id)
        if record is not None and record.alive:
            continue
        found.setdefault(run_id, Leftover(run_id, record=record)).namespaces.append(name)
    for run_id, record in records.items():
        if record is None or record.alive:
            continue
        leftover = found.setdefault(run_id, Leftover(run_id, record=record))
        leftover.temp_dirs = [d for d in record.temp_dirs if Path(d).exists()]
    return sorted(found.values(), key=lambda left: left.run_id)


def remove_leftover(leftover: Leftover) -> list[str]:
    """Remove one dead run's traces; returns what was removed, one line each."""
    removed = []
    for name in leftover.namespaces:
        for pid in [int(p) for p in run_ip("netns", "pids", name, check=False).split() if p.isdigit()]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid} in {name}")
        run_ip("netns", "del", name, check=False)
        removed.append(f"namespace {name}")
    for folder in leftover.temp_dirs:
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(f"temp dir {folder}")
    if leftover.record is not None:
        leftover.record.remove()
        removed.append(f"run record {leftover.record.path}")
    return removed

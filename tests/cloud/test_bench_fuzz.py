"""The long fuzzing run (`benchmarks/bench_fuzz.py`, >= 100,000 inputs) works end to end: a small slice of it
through every door, its table printed, and a verdict it exits on (the full run is a benchmark, not a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_slice_of_the_fuzzing_run_reaches_every_door_and_finds_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_fuzz.py"), "--scale", "0.004", "--seed", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for door in ("binary", "binary-tls", "binary-raw", "http", "mqtt", "softap", "console"):
        row = next(line.split() for line in run.stdout.splitlines() if line.split()[:1] == [door])
        assert int(row[1]) > 0, row
    for count in ("crash     0", "hang      0", "5xx       0", "drop      0", "failed health checks 0"):
        assert count in run.stdout, run.stdout
    assert "verdict: PASS" in run.stdout

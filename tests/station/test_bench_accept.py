"""Smoke test of benchmarks/bench_accept.py: it runs, prints its numbers, and judges the overhead by its exit code.

No timing is asserted here: the numbers depend on the host's load. One run leaves the overhead unjudged
(`--no-target`: exit 0 when every unit passed); one sets a target no station can meet (0 %) to see the verdict's
exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_accept.py"
OVER_TARGET = 3


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}  # its temp folder under this test's
    return subprocess.run([sys.executable, str(BENCH), "--slots", "2", "--units", "4", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_bench_accept_prints_throughput_cycle_times_and_overhead(tmp_path: Path) -> None:
    done = _bench(tmp_path, "--no-target")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "slots 2, units 4, tests 4, passed 4" in out
    assert re.search(r"^wall \d+\.\d s \(station start and stop included\), \d+\.\d units/min$", out, re.M), out
    assert re.search(r"^cycle time p50 \d+\.\d{3} s, p95 \d+\.\d{3} s, mean \d+\.\d{3} s", out, re.M), out
    assert re.search(r"^station overhead per unit: mean \d+\.\d ms, \d+\.\d\d% of the cycle time \(target < 5 %\)$",
                     out, re.M), out  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # its line folder was temporary


def test_bench_accept_exits_3_when_the_overhead_is_at_or_above_its_target(tmp_path: Path) -> None:
    done = _bench(tmp_path, "--max-overhead", "0")
    assert done.returncode == OVER_TARGET, done.stdout + done.stderr
    assert "passed 4" in done.stdout and "(target < 0 %)" in done.stdout
    assert "OVER TARGET: the station adds" in done.stderr and "the target is < 0 %" in done.stderr

"""Speed of the built-in scenario suite on emulated boards: wall time for the whole suite, serial and -n 2.

python3 benchmarks/bench_suite.py            # both modes
python3 benchmarks/bench_suite.py --workers 0
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "provlab" / "scenarios"


def run(workers: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as folder:
        args = [sys.executable, "-m", "pytest", str(SCENARIOS), "-q", "-p", "no:cacheprovider", "--artifacts", folder]
        if workers:
            args += ["-n", str(workers)]
        started = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, cwd=folder)
        elapsed = time.perf_counter() - started
    summary = next((line for line in reversed(proc.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), "")
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    args = parser.parse_args()
    count = len(list(SCENARIOS.rglob("test_*.py"))) + len(list(SCENARIOS.rglob("scenario_*.y*ml")))
    print(f"built-in suite: {count} scenario files under {SCENARIOS}")
    for workers in args.workers:
        elapsed, summary = run(workers)
        mode = f"-n {workers}" if workers else "serial"
        print(f"  {mode:8s} {elapsed:7.1f} s   {summary.strip('= ')}")


if __name__ == "__main__":
    main()

"""Every `wifi.pcap` of the whole built-in suite through tshark: frames, malformed packets, EAPOL, time.

Runs `provlab run` once (its own evidence folder), then dissects each capture and prints the totals;
exits 1 when any capture has a malformed packet or a sequence number that does not advance.

    python3 benchmarks/bench_pcaps.py            # the whole suite, -n 2
    python3 benchmarks/bench_pcaps.py -k happy   # a part of it
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from provlab.wifi.tshark import dissect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="pytest -k expression (default: every scenario)")
    parser.add_argument("-n", default="2", help="pytest-xdist workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pcaps-") as tmp:
        evidence = Path(tmp) / "ev"
        command = [sys.executable, "-m", "provlab", "run", "-n", args.n, "--artifacts", str(evidence)]
        command += ["-k", args.k] if args.k else []
        started = time.monotonic()
        run = subprocess.run(command, cwd=tmp, capture_output=True, text=True, check=False)
        run_s = time.monotonic() - started
        started = time.monotonic()
        reports = [dissect(p) for p in sorted(evidence.glob("*/wifi.pcap"))]
        tshark_s = time.monotonic() - started
    kinds: Counter[str] = Counter()
    for report in reports:
        kinds.update(report.kinds)
    bad = [r for r in reports if r.malformed or r.sequence_goes_back()]
    handshakes = sum(r.eapol_messages.count(4) for r in reports)
    print(f"suite: exit {run.returncode}, {run_s:.1f} s; tshark over {len(reports)} pcaps: {tshark_s:.1f} s")
    print(f"frames: {sum(r.frames for r in reports)}, malformed: {sum(len(r.malformed) for r in reports)}")
    reasons = sorted({reason for r in reports for reason in r.deauth_reasons})
    print(f"complete 4-way handshakes: {handshakes}; deauth reasons: {reasons}")
    print("frame kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    for report in bad:
        print(f"BAD {report.path}: malformed {report.malformed}, sequence stalls {report.sequence_goes_back()}")
    return 1 if bad or not reports else 0


if __name__ == "__main__":
    sys.exit(main())

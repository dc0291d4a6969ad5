"""The acceptance station's throughput: N emulated slots, M units, the shipped plan (issue 15, point 7).

Prints units per minute, cycle-time percentiles (wall seconds per unit test on its slot: the line's throughput)
and the station's own share of a unit's cycle time: the wall time it spends on records, the line database, the
CSV/JSON outputs and evidence, against the whole cycle (the target is < 5 %). Device times measured on the units
(time to AP, time to online) are on the lab's virtual clock and are not compared with these.

Exit status: 0 when every unit passed and the overhead is under the target, 1 when a unit did not pass, 3 when
the overhead is at or above the target (`--no-target` reports it without judging it: a smoke run on a loaded
host).

    python3 benchmarks/bench_accept.py                 # 8 slots, 200 units
    python3 benchmarks/bench_accept.py --slots 4 --units 40
    python3 benchmarks/bench_accept.py --slots 2 --units 4 --no-target
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from provlab.lab.config import LabConfig
from provlab.station.line_report import percentile
from provlab.station.operator_view import PlainView
from provlab.station.plan import DEFAULT_PLAN, load_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station

UNITS_FAILED = 1
OVER_TARGET = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN)
    parser.add_argument("--max-overhead", type=float, default=5.0, help="target: station overhead below this %%")
    parser.add_argument("--no-target", action="store_true", help="report the overhead without judging it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-accept-") as folder:
        station = Station(
            load_plan(args.plan),
            out=Path(folder),
            lab_config=LabConfig(boards=args.slots),
            units=args.units,
            view=PlainView(io.StringIO()),
        )
        started = time.perf_counter()
        result = station.run()
        wall = time.perf_counter() - started
    records = result.records
    cycles = [r.cycle_s for r in records]
    passed = sum(r.outcome is UnitOutcome.PASS for r in records)
    overhead = [station.overhead_s[r.unit_uid] for r in records if r.unit_uid in station.overhead_s]
    share = sum(overhead) / sum(cycles) if cycles else 0.0
    print(f"slots {args.slots}, units {len({r.dut_id for r in records})}, tests {len(records)}, passed {passed}")
    print(f"wall {wall:.1f} s (station start and stop included), {len(records) / wall * 60:.1f} units/min")
    print(
        f"cycle time p50 {percentile(cycles, 0.5):.3f} s, p95 {percentile(cycles, 0.95):.3f} s, "
        f"mean {statistics.fmean(cycles):.3f} s (wall, per unit on its slot)"
    )
    print(
        f"station overhead per unit: mean {statistics.fmean(overhead) * 1000:.1f} ms, "
        f"{share:.2%} of the cycle time (target < {args.max_overhead:g} %)"
    )
    if passed < len(records) or not records:
        print(f"FAILED: {len(records) - passed} of {len(records)} tests did not pass", file=sys.stderr)
        return UNITS_FAILED
    if args.no_target:
        return 0
    if share * 100 >= args.max_overhead:
        print(f"OVER TARGET: the station adds {share:.2%}, the target is < {args.max_overhead:g} %", file=sys.stderr)
        return OVER_TARGET
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The acceptance station's throughput: N emulated slots, M units, the shipped plan (issue 15, point 7).

Prints units per minute, cycle-time percentiles (wall seconds per unit test on its slot: the line's throughput)
and the station's own share of a unit's cycle time: the wall time it spends on records, the line database, the
CSV/JSON outputs and evidence, against the whole cycle (the target is < 5 %). Device times measured on the units
(time to AP, time to online) are on the lab's virtual clock and are not compared with these.

    python3 benchmarks/bench_accept.py                 # 8 slots, 200 units
    python3 benchmarks/bench_accept.py --slots 4 --units 40
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from provlab.lab.config import LabConfig
from provlab.station.line_report import percentile
from provlab.station.operator_view import PlainView
from provlab.station.plan import DEFAULT_PLAN, load_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN)
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
        f"{share:.2%} of the cycle time (target < 5 %)"
    )


if __name__ == "__main__":
    main()

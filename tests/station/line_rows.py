"""Known rows for the line report tests: 21 tests of 16 units, with the report they give worked out by hand.

First tests (attempt 1), cycle times 1..15 s: A1-A3 FAIL at provision.rssi_dbm, A4-A5 FAIL at boot.time_to_ap_s,
A6 ERROR at `provision: CloudRefusedStation`, A7-A15 PASS. Retests (attempt 2), 16..20 s: A1 PASS, A2 FAIL at
provision.rssi_dbm again, A3, A4 and A6 PASS. A16 was under test when the station stopped: ABORTED.

- units 15 (A16 has no judged test), tests 21, 1 aborted;
- first-pass yield 9/15 = 60.0 %, final yield 13/15 = 86.7 % (A2 and A5 end failed);
- cycle times 1..20 s, nearest rank: p50 the 10th = 10 s, p90 the 18th, p95 the 19th, max 20;
- Pareto of the 7 FAIL/ERROR tests: provision.rssi_dbm 4 (57.1 %), boot.time_to_ap_s 2 (85.7 % cumulative),
  `provision: CloudRefusedStation` 1 (100 %).
"""

from __future__ import annotations

from provlab.station.line_db import LineDatabase
from provlab.station.record import UnitOutcome, UnitRecord

T0 = 1_800_000_000_000
RSSI, AP_TIME, REFUSED = "provision.rssi_dbm", "boot.time_to_ap_s", "provision: CloudRefusedStation"
FIRSTS: dict[str, tuple[UnitOutcome, str | None]] = {
    "A1": (UnitOutcome.FAIL, RSSI),
    "A2": (UnitOutcome.FAIL, RSSI),
    "A3": (UnitOutcome.FAIL, RSSI),
    "A4": (UnitOutcome.FAIL, AP_TIME),
    "A5": (UnitOutcome.FAIL, AP_TIME),
    "A6": (UnitOutcome.ERROR, REFUSED),
    **{f"A{n}": (UnitOutcome.PASS, None) for n in range(7, 16)},
}
RETESTS: dict[str, tuple[UnitOutcome, str | None]] = {
    "A1": (UnitOutcome.PASS, None),
    "A2": (UnitOutcome.FAIL, RSSI),
    "A3": (UnitOutcome.PASS, None),
    "A4": (UnitOutcome.PASS, None),
    "A6": (UnitOutcome.PASS, None),
}
REPORT = [
    "units 15, tests 21 (1 aborted)",
    "first-pass yield 60.0%, final yield 86.7%",
    "cycle time p50 10.00 s, p90 18.00 s, p95 19.00 s, max 20.00 s",
    "top failures (Pareto):",
    "      4   57.1%  provision.rssi_dbm",
    "      2   85.7%  boot.time_to_ap_s",
    "      1  100.0%  provision: CloudRefusedStation",
]


def _record(station_id: str, dut_id: str, attempt: int, start_ms: int) -> UnitRecord:
    return UnitRecord(
        dut_id=dut_id,
        mac=None,
        station_id=station_id,
        slot=1,
        operator="seed",
        plan_name="seeded",
        plan_version="1",
        firmware_sha256=None,
        start_ms=start_ms,
        attempt=attempt,
        run_id="seeded",
        unit_uid=f"{station_id}-{dut_id}-{attempt}",
    )


def seed(db: LineDatabase, station_id: str) -> None:
    """Write the tests above into `db` as a station does (a row when each starts, completed when it ends)."""
    tests = [(dut, 1, result) for dut, result in FIRSTS.items()] + [(dut, 2, r) for dut, r in RETESTS.items()]
    for cycle_s, (dut_id, attempt, (outcome, first_failure)) in enumerate(tests, 1):
        start = T0 + cycle_s * 60_000
        record = _record(station_id, dut_id, attempt, start)
        db.unit_started(record, "{}")
        record.end_ms, record.outcome, record.first_failure = start + cycle_s * 1000, outcome, first_failure
        db.unit_finished(record, "{}")
    stopped = _record(station_id, "A16", 1, T0 + 30 * 60_000)
    db.unit_started(stopped, "{}")
    db.mark_aborted(stopped.unit_uid, stopped.start_ms + 500, "{}", "station stopped while the unit was under test")

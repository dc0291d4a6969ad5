"""Bad input to the station: a plan that cannot run is refused with file:line before any unit is tested; a station
killed with SIGKILL loses no finished record, and its next start marks the units it was testing ABORTED."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provlab.station.plan import DEFAULT_PLAN, PlanError, load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]
GOOD_HEAD = "name: p\nversion: '1'\n"


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (GOOD_HEAD + "phases:\n  - flash\n  - calibrate_rf\n", 5, "unknown phase 'calibrate_rf'"),
        (GOOD_HEAD + "phases:\n  - boot:\n      time_to_ap_s: {max: fast}\n", 5, "must be a number (s), got str"),
        (GOOD_HEAD + "phases:\n  - cloud_login:\n      device_online: {equals: yes please}\n", 5, "must be bool"),
        (GOOD_HEAD + "phases:\n  - boot:\n      time_to_ap_s: {max: 5, min: 9}\n", 5, "min 9 is above max 5"),
        (GOOD_HEAD + "phases:\n  - boot:\n      rssi_dbm: {min: -80}\n", 5, "unknown key 'rssi_dbm' in phase boot"),
        (GOOD_HEAD + "phases: [provision, boot]\n", 3, "cannot come after 'provision'"),
        (GOOD_HEAD + "retest: {max_attempts: two}\nphases: [boot]\n", 3, "max_attempts must be a whole number"),
        (GOOD_HEAD + "provisioning: {workflow: by_hand}\nphases: [boot]\n", 3, "'by_hand' is not one of direct"),
        ("name: p\nphases: [boot]\n", 1, "the plan has no 'version'"),
        (GOOD_HEAD + "phases: [boot\n", 4, "not valid YAML"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_with_file_and_line(text: str, where: int, says: str) -> None:
    with pytest.raises(PlanError) as refused:
        parse_plan(text, "line7.yaml")
    assert str(refused.value).startswith(f"line7.yaml:{where}: "), str(refused.value)
    assert says in str(refused.value)


def test_the_shipped_plan_names_every_phase_in_order() -> None:
    plan = load_plan(DEFAULT_PLAN)
    assert [p.name for p in plan.phases] == ["flash", "boot", "provision", "cloud_login", "data_round_trip",
                                              "factory_reset"]  # fmt: skip
    assert plan.max_attempts == 2 and plan.firmware_version == "0.1.0"


def _provlab(*args: str, cwd: Path, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(cwd)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "provlab", *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def test_provlab_accept_refuses_a_bad_plan_before_any_unit(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(GOOD_HEAD + "phases:\n  - boot\n  - teleport\n")
    proc = _provlab("accept", "--plan", "plan.yaml", "--boards", "emu:2", "--out", "line", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert "plan.yaml:5: unknown phase 'teleport'" in err
    assert not (tmp_path / "line").exists()  # no unit tested, nothing written


def _rows(db: Path, *, recover: bool = False) -> list[tuple[str, str | None]]:
    """The units table. While the station runs, through a read-only connection; after a kill, `recover=True` opens
    it read-write as the first connection, so SQLite replays the WAL as the station's next start will: a commit
    whose frames reached the WAL file just before the kill, but not yet the shared-memory index, is then seen."""
    if not db.exists():
        return []
    uri = f"file:{db}" if recover else f"file:{db}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return [(str(uid), outcome) for uid, outcome in conn.execute("SELECT uid, outcome FROM units")]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def test_a_station_killed_mid_run_keeps_finished_records_and_aborts_the_interrupted(tmp_path: Path) -> None:
    line = tmp_path / "line"
    db = line / "line.sqlite"
    station = _provlab("accept", "--boards", "emu:3", "--units", "200", "--out", "line", "--station", "st-k",
                       "--plain", cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # a guard against a hung child, not a timing claim
        while True:
            rows = _rows(db)
            finished = [uid for uid, outcome in rows if outcome is not None]
            running = [uid for uid, outcome in rows if outcome is None]
            # two units under test: a kill right now catches at least one of them mid-test (with one, it could
            # finish between this read and the kill while the other slots are between units)
            if len(finished) >= 2 and len(running) >= 2:
                break
            assert station.poll() is None, station.communicate()
            assert time.monotonic() < deadline, f"no unit under test after 240 s: {rows}"
            time.sleep(0.05)
        station.send_signal(signal.SIGKILL)  # the station's power cut
        station.communicate(timeout=30)
    finally:
        if station.poll() is None:
            station.kill()
            station.communicate()
    after_kill = dict(_rows(db, recover=True))
    done = {uid: outcome for uid, outcome in after_kill.items() if outcome is not None}
    interrupted = sorted(uid for uid, outcome in after_kill.items() if outcome is None)
    assert len(done) >= 2 and interrupted
    for uid, outcome in done.items():  # every finished unit's record is whole on disk
        record = json.loads((line / "records" / f"{uid}.json").read_text())
        assert record["outcome"] == outcome == "PASS"

    restart = _provlab("accept", "--boards", "emu:1", "--units", "0", "--out", "line", "--station", "st-k",
                       "--plain", cwd=tmp_path)  # fmt: skip
    out, err = restart.communicate(timeout=120)
    assert restart.returncode == 0, out + err
    after_restart = dict(_rows(db))
    assert {uid: after_restart[uid] for uid in done} == done
    assert all(after_restart[uid] == "ABORTED" for uid in interrupted)
    for uid in interrupted:
        record = json.loads((line / "records" / f"{uid}.json").read_text())
        assert record["outcome"] == "ABORTED"
        assert record["outcome_details"][0]["code"] == "station stopped while the unit was under test"
    assert out.count("was under test when the station stopped: ABORTED") == len(interrupted)
    lines = (line / "line.csv").read_text().splitlines()
    assert sum(",ABORTED," in row for row in lines) == len(interrupted)

"""The line database on a real PostgreSQL (`--db postgresql://…`): `.ci/run` starts one and sets
PROVLAB_TEST_POSTGRES; without it these tests are skipped with that reason."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from line_rows import REPORT, seed

from provlab.lab.config import LabConfig
from provlab.station.line_db import open_line_database
from provlab.station.line_report import report_for
from provlab.station.operator_view import PlainView
from provlab.station.plan import DEFAULT_PLAN, load_plan
from provlab.station.runner import Station

URL = os.environ.get("PROVLAB_TEST_POSTGRES", "")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not URL, reason="no PostgreSQL: PROVLAB_TEST_POSTGRES is unset (.ci/run sets it)")


def test_station_records_units_in_postgresql(tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    station_id = f"pg-{tmp_path.name}"
    station = Station(load_plan(DEFAULT_PLAN), out=tmp_path, lab_config=LabConfig(boards=2), units=2,
                      db_url=URL, station_id=station_id, view=PlainView(io.StringIO()))  # fmt: skip
    result = station.run()
    assert len(result.records) == 2 and result.ok
    assert not (tmp_path / "line.sqlite").exists()
    with psycopg.connect(URL) as conn:
        rows = conn.execute(
            "SELECT dut_id, outcome, device_id FROM units WHERE run_id = %s ORDER BY dut_id", (station.run_id,)
        ).fetchall()
        measured = conn.execute(
            "SELECT count(*) FROM measurements m JOIN units u ON u.uid = m.uid WHERE u.run_id = %s",
            (station.run_id,),
        ).fetchone()
    assert sorted(r.dut_id for r in result.records) == [row[0] for row in rows]
    assert {row[1] for row in rows} == {"PASS"} and all(row[2] is not None for row in rows)
    assert measured == (2 * 12,)
    db = open_line_database(URL)
    try:
        assert report_for(db).units >= 2
        assert [row.dut_id for row in db.interrupted(station_id)] == []
    finally:
        db.close()


def _with_search_path(url: str, schema: str) -> str:
    """`url` with libpq's `options` setting the search path: this test's tables live in a schema of its own."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def test_provlab_line_report_reads_postgresql() -> None:
    """Known rows (line_rows.py) in a schema of this test's own: the report from PostgreSQL is exactly the one
    worked out by hand, whatever other tests wrote to the database."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"line_report_{secrets.token_hex(4)}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = _with_search_path(URL, schema)
        db = open_line_database(url)
        try:
            seed(db, "pg-report")
        finally:
            db.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "provlab", "line", "report", "--db", url], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == REPORT
        assert URL.split("@")[0] not in done.stdout + done.stderr  # no password shown
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

"""The line report: nearest-rank percentiles, and `provlab line report` on a line database with known rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from line_rows import REPORT, seed

from provlab.station.line_db import SqliteLineDatabase
from provlab.station.line_report import percentile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([7, 3, 10, 1, 5, 9, 2, 8, 6, 4], 0.5, 5),  # the 5th of 10, whatever the order given
        ([7, 3, 10, 1, 5, 9, 2, 8, 6, 4], 0.95, 10),  # rank ceil(9.5) = 10
        ([7, 3, 10, 1, 5, 9, 2, 8, 6, 4], 0.9, 9),
        ([7, 3, 10, 1, 5, 9, 2, 8, 6, 4], 0.0, 1),  # p0 is the smallest
        ([7, 3, 10, 1, 5, 9, 2, 8, 6, 4], 1.0, 10),
        ([1.5, 1.5, 2.0, 3.0], 0.5, 1.5),  # rank 2 of 4: a repeated value counts twice
        ([4.25], 0.95, 4.25),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


def test_percentile_of_nothing_or_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"0\.\.1, got 95"):
        percentile([1.0], 95)


def test_provlab_line_report_prints_yields_cycle_time_percentiles_and_the_pareto(tmp_path: Path) -> None:
    db = SqliteLineDatabase(tmp_path / "line.sqlite")
    try:
        seed(db, "st-report")
    finally:
        db.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "provlab", "line", "report", "--db", "line.sqlite", "--html", "line.html"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [*REPORT, "charts: line.html"]
    page = (tmp_path / "line.html").read_text()
    assert page.count("<svg") == 3 and "provision: CloudRefusedStation" in page

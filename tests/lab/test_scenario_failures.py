"""What a scenario author sees when a step fails: the lab's message at the scenario's line, no provlab frames."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCENARIO = """
def test_wrong_type(board):
    board.expect_state("RUNNING", timeout="30s")


def test_times_out(board):
    board.expect_state("OTA_UPGRADE", timeout=1)
"""
PYTEST_OPTIONS = ("-p", "no:randomly", "-p", "no:cacheprovider")


def test_a_wrong_argument_type_and_a_timeout_read_as_the_scenarios_own_failures(tmp_path: Path) -> None:
    (tmp_path / "test_failing.py").write_text(SCENARIO)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, "test_failing.py", "--artifacts", str(tmp_path / "ev")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "COLUMNS": "200"},
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert (
        "StepArgumentError: board-1.expect_state(): timeout must be a number of device seconds (int or float), "
        "got '30s' (str)" in out
    )
    assert "ExpectTimeout: expected state OTA_UPGRADE within 1 s (device time, virtual lab clock), not seen." in out
    assert "test_failing.py:3: StepArgumentError" in out and "test_failing.py:7: ExpectTimeout" in out
    for own in ("provlab/lab/steps.py", "provlab/lab/lab_board.py", "provlab/drivers/line_stream.py"):
        assert own not in out, f"{own} shows in the failure"

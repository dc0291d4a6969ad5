"""`provlab accept` as an operator runs it: serial numbers piped from a scanner on stdin, and its exit status."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _accept(tmp_path: Path, *args: str, scans: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "provlab", "accept", "--out", "line", "--station", "cli-1", *args],
                          cwd=tmp_path, env=env, input=scans, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_provlab_accept_scan_names_units_by_the_serials_piped_on_stdin(tmp_path: Path) -> None:
    done = _accept(tmp_path, "--scan", "--boards", "emu:2", scans="SN-000101\nnot a serial\nSN-000102\nSN-000101\n")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader((tmp_path / "line" / "line.csv").open()))
    assert sorted((row["dut_id"], row["outcome"]) for row in rows) == [("SN-000101", "PASS"), ("SN-000102", "PASS")]
    assert all(row["mac"] for row in rows)  # the MAC is recorded next to the serial number
    out = done.stdout
    assert "scanner: scan rejected: 'not a serial' is not a serial number" in out
    assert "scanner: duplicate serial rejected: SN-000101" in out
    assert "tested 2  pass 2  fail 0" in out


def test_provlab_accept_exits_1_when_a_unit_fails(tmp_path: Path) -> None:
    """A plan whose access point must be up within 0.5 device seconds (the emulated board takes longer)."""
    (tmp_path / "strict.yaml").write_text(
        "name: strict\nversion: '1'\nretest: {max_attempts: 1}\nphases:\n  - boot: {time_to_ap_s: {max: 0.5}}\n"
    )
    done = _accept(tmp_path, "--plan", "strict.yaml", "--boards", "emu:1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL at boot.time_to_ap_s" in done.stdout
    assert "tested 1  pass 0  fail 1" in done.stdout

"""What `provlab run` leaves without `--report`: report.html and junit.xml in the run's evidence folder,
the JUnit testcase carrying its evidence folder and board, the report's links relative to itself."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def test_run_writes_the_report_and_junit_into_the_evidence_folder(tmp_path: Path) -> None:
    scenario = "def test_never_running(board):\n    board.expect_state('RUNNING', timeout=2)\n"
    (tmp_path / "test_one.py").write_text(scenario)
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", "test_one.py", "--artifacts", "ev"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    evidence = tmp_path / "ev"
    assert "report: ev/report.html and ev/junit.xml" in proc.stdout

    case = ET.parse(evidence / "junit.xml").getroot().find(".//testcase[@name='test_never_running']")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["provlab_evidence"] == str(evidence / "test_never_running")  # absolute: usable from anywhere
    assert props["provlab_board"] == "board-1" and props["provlab_board_kind"] == "emulated"

    page = (evidence / "report.html").read_text()
    assert "within 2 s (device time, virtual lab clock)" in html.unescape(page)
    links = re.findall(r'<a href="([^"]+)">', page)
    assert "test_never_running/timeline.html" in links and "test_never_running/board-1.log" in links
    assert all((evidence / link).exists() for link in links), links

"""The run summary's board column: the board each test ran on (from its parametrization), `-` without one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from provlab.lab.summary import RunSummary

TESTS = """
def test_on_a_board(board):
    pass

def test_without_a_board(lab):
    pass
"""


def test_summary_and_report_have_a_board_column(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_some=TESTS)
    output = io.StringIO()
    summary = RunSummary(Console(file=output, width=200))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--boards", "emu:2", plugins=[summary])
    result.assert_outcomes(passed=3)

    boards = {nodeid.split("::")[-1]: row.board for nodeid, row in summary.results.items()}
    assert boards == {
        "test_on_a_board[board-1]": "board-1",
        "test_on_a_board[board-2]": "board-2",
        "test_without_a_board": "-",
    }
    Console(file=output, width=200).print(summary.table())
    lines = output.getvalue().splitlines()
    assert any("board" in line and "outcome" in line for line in lines)
    assert sum("test_on_a_board" in line and "│ board-2 " in line for line in lines) == 1, lines
    assert any("test_without_a_board" in line and "│ - " in line for line in lines), lines

    page = summary.write_html(pytester.path / "report" / "report.html").read_text()
    assert '<th data-col="2">board</th>' in page
    assert ">test_on_a_board[board-1]</span></td><td>board-1</td>" in page
    assert ">test_without_a_board</span></td><td>-</td>" in page
    assert "<th>board</th><th>kind</th><th>MAC</th><th>firmware</th>" in page  # the run header lists the boards
    assert page.count("<td>emulated</td>") == 2, page


def test_a_test_with_several_boards_lists_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_pair="import pytest\n\n@pytest.mark.lab(boards=2)\ndef test_pair(boards):\n    assert len(boards) == 2\n"
    )
    summary = RunSummary(Console(file=io.StringIO()))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", plugins=[summary])
    result.assert_outcomes(passed=1)
    assert [row.board for row in summary.results.values()] == ["board-1, board-2"]


def test_the_header_lists_boards_from_reports_of_other_processes(tmp_path: Path) -> None:
    """Under `-n 2` the labs run in workers: the header's boards come from the reports' JUnit properties."""
    (tmp_path / "board-2.log").write_text("2026-11-26T04:00:00.000+00:00  Firmware:  0.2.0 (build x)\n")
    props = [("provlab_evidence", str(tmp_path))]
    for name, mac in (("board-1", "24:6F:28:AA:00:04"), ("board-2", "24:6F:28:AA:00:08")):
        props += [("provlab_board", name), ("provlab_board_kind", "emulated"), ("provlab_board_port", "/dev/pts/9")]
        props += [("provlab_board_profile", "edgent-esp32"), ("provlab_board_mac", mac)]
    report = pytest.TestReport(
        "t.py::test_pair",
        ("t.py", 1, "test_pair"),
        {},
        "passed",
        None,
        "call",
        [],
        0.1,
        0.0,
        0.1,
        user_properties=props,
    )
    summary = RunSummary(Console(file=io.StringIO()))
    summary.pytest_runtest_logreport(report)
    assert [(b.name, b.kind, b.mac, b.firmware, b.port) for b in summary.info.boards.values()] == [
        ("board-1", "emulated", "24:6F:28:AA:00:04", "edgent-esp32", "/dev/pts/9"),
        ("board-2", "emulated", "24:6F:28:AA:00:08", "edgent-esp32 0.2.0", "/dev/pts/9"),
    ]

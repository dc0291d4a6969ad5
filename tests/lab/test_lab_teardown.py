"""Teardown tells the truth: what failed to stop or to be written is reported, after all the rest is torn down."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from provlab.lab.config import LabConfig
from provlab.lab.lab import OPEN_LABS, Lab
from provlab.lab.teardown import LabTeardownError


def test_close_reports_what_failed_and_still_tears_everything_else_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path)
    board = lab.boards[0]
    board.expect_state("WAIT_CONFIG", timeout=60)
    (tmp_path / "air.jsonl").mkdir()  # the air's events cannot be written where a folder stands
    assert board.emulated is not None

    async def power_off_fails() -> None:
        raise OSError("the relay did not answer")

    monkeypatch.setattr(board.emulated, "power_off", power_off_fails)
    binary_port = lab.endpoints.binary_port
    private = lab._private
    with pytest.raises(LabTeardownError) as failed:
        lab.close()
    message = str(failed.value)
    assert "2 step(s) failed" in message
    assert "powering board-1 off: OSError: the relay did not answer" in message
    assert "writing air.jsonl: IsADirectoryError" in message
    assert f"evidence: {tmp_path}" in message
    assert [f.what for f in failed.value.failures] == ["powering board-1 off", "writing air.jsonl"]
    # … and everything after the failures was still done
    assert lab not in OPEN_LABS
    assert (tmp_path / "cloud.jsonl").is_file() and (tmp_path / "timeline.html").is_file()
    assert (tmp_path / "steps.jsonl").is_file()
    assert lab.loop.loop.is_closed()
    assert not private.exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", binary_port), timeout=5):
        pass  # the cloud stub stopped listening
    lab.close()  # a second close has nothing left to do and reports nothing again


def test_a_clean_close_raises_nothing(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=0, time_scale=0.01), artifacts=tmp_path):
        pass
    assert (tmp_path / "air.jsonl").is_file()


def test_the_lab_fixture_reports_a_failed_teardown_as_the_tests_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_teardown="""
def test_leaves_a_folder_where_evidence_goes(lab):
    (lab.artifacts / "air.jsonl").mkdir()
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--artifacts", str(pytester.path / "ev"))
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    assert "ERROR at teardown of test_leaves_a_folder_where_evidence_goes" in text
    assert "lab teardown: 1 step(s) failed; everything else was torn down" in text
    assert "writing air.jsonl: IsADirectoryError" in text

"""Every action a lab takes is one step in `steps.jsonl`: board, phone, air and cloud faults, waits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provlab.lab.config import HomeNetwork, LabConfig
from provlab.lab.lab import Lab


def _steps(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]


def test_lab_actions_are_steps_with_times_subject_outcome_and_nesting(tmp_path: Path) -> None:
    home = HomeNetwork(ssid="StepsHome", passphrase="s3cret-wifi-passphrase")
    with Lab(LabConfig(boards=1, time_scale=0.01, home=home), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        board.expect_state("WAIT_CONFIG", timeout=60)
        board.power_off()
        mark = board.serial.mark()
        board.power_on()
        board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
        board.press_button()
        board.release_button()
        assert any(board.ssid in line for line in board.console("devinfo"))
        enrollment = lab.phone().provision(board)
        board.expect_state("RUNNING", timeout=60)
        with pytest.raises(AssertionError, match="never printed"):
            board.expect("never printed", timeout=1)
        lab.faults.set_rssi(home.ssid, -50)
        lab.cloud_faults.set_latency(0.0)
        lab.wait(2)
    token = enrollment.token
    assert token is not None
    steps = _steps(tmp_path)
    for record in steps:
        assert record["start"] <= record["end"], record
        assert record["outcome"] in ("ok", "failed"), record
    on_board = [(s["name"], s["outcome"]) for s in steps if s["subject"] == "board-1"]
    assert on_board == [
        ("expect_state", "ok"),
        ("power_off", "ok"),
        ("power_on", "ok"),
        ("expect_state", "ok"),
        ("press_button", "ok"),
        ("release_button", "ok"),
        ("console", "ok"),
        ("expect_state", "ok"),
        ("expect", "failed"),
    ]
    failed = next(s for s in steps if s["name"] == "expect")
    assert "never printed" in failed["error"] and failed["exception"] == "ExpectTimeout"
    assert failed["args"] == {"pattern": "never printed", "timeout": 1, "since": None, "not_matching": None}
    provision = next(s for s in steps if s["name"] == "provision")
    assert provision["subject"] == "phone" and provision["args"]["board"] == "board-1"
    children = [s["name"] for s in steps if s["parent"] == provision["id"]]
    phone_steps = ["cloud_login", "join_ap", "board_info", "token", "wifi_scan", "config", "leave_ap", "wait_online"]
    assert children == phone_steps
    assert [s.name for s in enrollment.steps] == children  # one kind of step: the enrollment holds the same
    assert {(s["name"], s["subject"]) for s in steps} >= {("set_rssi", "air"), ("cloud_latency", "cloud")}
    assert next(s for s in steps if s["name"] == "wait")["args"] == {"device_seconds": 2}
    text = (tmp_path / "steps.jsonl").read_text()
    assert token not in text and home.passphrase not in text
    page = (tmp_path / "timeline.html").read_text()
    assert '<span class="what">power_off</span> <span class="outcome step">ok</span>' in page
    failed = '<span class="what">expect</span> <span class="outcome error">failed</span> '
    assert failed + '<span class="kv"><span class="k">pattern</span>: never printed</span>' in page


def test_restarting_the_cloud_is_a_step(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=0, time_scale=0.01), artifacts=tmp_path) as lab:
        lab.restart_cloud()
    [restart] = [s for s in _steps(tmp_path) if s["name"] == "restart_cloud"]
    assert restart["subject"] == "cloud" and restart["outcome"] == "ok"

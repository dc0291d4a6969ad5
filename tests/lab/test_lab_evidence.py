"""The Lab end to end: a real enrollment, one evidence folder, secrets masked, failures that explain."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provlab.lab.config import HomeNetwork, LabConfig
from provlab.lab.enrollment import FailureKind, ProvisioningFailed
from provlab.lab.lab import Lab


def _all_text(folder: Path) -> str:
    """Every evidence file as text (the pcap too: a secret in a capture would leak just the same)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.iterdir()) if p.is_file())


def test_enrollment_leaves_masked_evidence(tmp_path: Path) -> None:
    home = HomeNetwork(ssid="EvidenceHome", passphrase="s3cret-wifi-passphrase")
    with Lab(LabConfig(boards=1, time_scale=0.01, home=home), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        enrollment = lab.phone().provision(board)
        board.expect_state("RUNNING", timeout=60)
        token = enrollment.token
        assert token is not None and len(token) == 32
        assert enrollment.ok and enrollment.device_id is not None
    names = {p.name for p in tmp_path.iterdir()}
    assert {"board-1.log", "phone.jsonl", "cloud.jsonl", "air.jsonl", "wifi.pcap", "timeline.html"} <= names
    text = _all_text(tmp_path)
    # the run is on the record …
    assert "CONFIGURING => SWITCH_TO_STA" in (tmp_path / "board-1.log").read_text()
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "cloud.jsonl").read_text().splitlines()]
    assert kinds[:3] == ["token_issued", "token_activated", "device_online"]
    steps = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    phone_steps = [s["name"] for s in steps if s["subject"] == "phone"]
    assert phone_steps[-4:] == ["config", "leave_ap", "wait_online", "provision"]
    # … and no secret appears whole anywhere in it
    assert token not in text
    assert home.passphrase not in text
    assert token[:4] in text  # masked form keeps a hint
    assert not re.search(r"Pass: s3cret", text)


def test_failure_names_the_evidence_folder(tmp_path: Path) -> None:
    with (
        Lab(LabConfig(boards=0, time_scale=0.001), artifacts=tmp_path) as lab,
        pytest.raises(ProvisioningFailed) as failure,
    ):
        lab.phone().provision("Blynk Nowhere-0000")
    assert failure.value.kind is FailureKind.AP_NOT_FOUND
    message = str(failure.value)
    assert "join_ap" in message and "Blynk Nowhere-0000" in message
    assert str(tmp_path) in message


def test_wrong_home_password_is_reported_by_the_board_as_701(tmp_path: Path) -> None:
    """P1: `/config` is accepted, the board cannot join, records 701 and reboots into WAIT_CONFIG."""
    with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        enrollment = lab.phone().provision(board, wifi_pass="wrong-password", online_timeout=10, check=False)
        assert not enrollment.ok
        assert enrollment.step("config").response["status"] == 200
        board.expect_state("ERROR", timeout=200)
        assert board.serial.last_error == 701
        mark = board.serial.mark()
        board.expect("Restarting after error.", timeout=100, since=mark)
        board.expect_state("WAIT_CONFIG", timeout=300, since=mark)
    assert lab.cloud is not None


def test_lab_config_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match=r"boards\.profile: 'edgent-9000' is not one of edgent-esp32"):
        LabConfig(profile="edgent-9000")
    with pytest.raises(ValueError, match="wifi: 'carrier-pigeon' is not one of"):
        LabConfig(wifi="carrier-pigeon")


def test_oauth2_phone_keeps_client_secret_and_bearer_out_of_the_evidence(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        robot = lab.rest().create_oauth_client()
        assert robot.client_secret not in repr(robot)
        enrollment = lab.phone(oauth_client=robot).provision(board)
        board.expect_state("RUNNING", timeout=60)
        assert enrollment.ok and enrollment.token is not None
    records = [json.loads(line) for line in (tmp_path / "phone.jsonl").read_text().splitlines()]
    oauth = next(r for r in records if r["kind"] == "cloud_http" and r["path"] == "/oauth2/token")
    assert oauth["status"] == 200 and oauth["request"]["client_id"] == robot.client_id
    assert oauth["request"]["user"] == "admin@provlab.test"
    issued = oauth["response"]["access_token"]
    assert issued.endswith("…") and len(issued) < 10  # masked
    text = _all_text(tmp_path)
    assert robot.client_secret not in text and enrollment.token not in text

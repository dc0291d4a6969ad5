"""D4: the power goes while the config is being written; the board never boots with a torn config."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone


@pytest.mark.emulated_only  # arming a cut at a byte of a flash write needs the emulator's flash
@pytest.mark.needs_power
@pytest.mark.needs_edgent_log
@pytest.mark.needs_firmware("atomic_config_write")  # ESP8266 EEPROM / Wio SFUD rewrite the blob in place
def test_power_cut_in_the_middle_of_the_config_write(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """ESP32 NVS writes are atomic: a cut at byte 100 of the 212-byte blob leaves the old (empty) config;
    the board boots into WAIT_CONFIG, not with half a token, and can be provisioned again."""
    assert board.emulated is not None
    board.expect_ap(timeout=30)
    board.emulated.flash.cut_power_at(100)
    failed = phone.provision(board, save=True, check=False, online_timeout=5)  # save=1 writes at /config
    assert not failed.ok
    lab.wait(2)
    mark = board.mark()
    board.power_on()
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
    printed = [i.line.text for i in board.lines(mark)]
    assert "Config read failed" in printed or "Using default config." in printed
    assert not any(line.strip().startswith("Token:") for line in printed)  # no valid config came back
    again = phone.provision(board)
    assert again.ok
    board.expect_state("RUNNING", timeout=60)

"""Known state before a test, the last way back to config mode (issue 14, point 2): a configured board with no
console `config erase` and no wired button, but the ESP auto-reset circuit on its port, has its configuration
erased by esptool (`erase-region` over the NVS partition) and is reset into config mode.

The board is an emulated ESP32 behind an RFC 2217 server on 127.0.0.1 whose modem lines drive the auto-reset
circuit model, attached to the lab as a serial port; esptool reaches its ROM downloader over that port.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from portservers import Rfc2217Server
from serialrig import EmulatedRig

from provlab.drivers.capabilities import Capability
from provlab.drivers.sideband.esp_lines import DtrRtsSideband, EspWiring
from provlab.emulator.reset_circuit import AutoResetCircuit
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.strategy import BoardState, BoardStrategy
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.states import EdgentState


def _configured(rig: EmulatedRig) -> None:
    """A stored, valid configuration for a network that is not on the air: the board boots into CONNECTING_NET."""
    stored = ConfigBlob.defaults("0.1.0")
    stored.wifi_ssid, stored.wifi_pass, stored.flags = "Elsewhere", "not-on-this-air", ConfigFlag.VALID
    rig.board.flash.write(stored.pack())


def test_a_board_without_console_or_button_is_erased_with_esptool(
    rig: EmulatedRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configured(rig)
    server = Rfc2217Server(rig.path, on_lines=AutoResetCircuit(rig.board, rig.loop.loop)).start()
    evidence = tmp_path / "evidence"
    try:
        url = f"rfc2217://127.0.0.1:{server.port}"
        config = LabConfig(boards=0, attached=(AttachedBoard(BoardSource.PORT, url),))
        with Lab(config, artifacts=evidence) as lab:
            board = lab.boards[0]
            board.serial.attach_sideband(DtrRtsSideband(board.serial, EspWiring(button=None)))
            wired = board.implementation
            monkeypatch.setattr(board, "implementation", lambda c: None if c is Capability.CONSOLE else wired(c))
            assert board.capabilities == {Capability.RESET, Capability.SERIAL_LOG, Capability.EDGENT_LOG}
            rig.power_on()  # plugged in once the lab listens to its port
            board.expect_state("CONNECTING_NET", timeout=30)
            strategy = BoardStrategy(board, lab.phone)
            strategy.transition("wait_config")
            assert board.state is EdgentState.WAIT_CONFIG and strategy.state() is BoardState.WAIT_CONFIG
            assert rig.board.flash.read() is None  # the stored configuration is gone
            assert not rig.board.download_mode
    finally:
        server.stop()
    steps = [json.loads(line) for line in (evidence / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    [moved] = [s for s in steps if s["name"] == "board_state"]
    assert (moved["args"]["start"], moved["outcome"]) == ("booted", "ok")
    assert moved["args"]["how"] == "flash erase: esptool erase-region 0x9000 0x5000 (download mode by esptool-reset)"
    [erase] = [s for s in steps if s["name"] == "flash_erase"]
    assert erase["outcome"] == "ok" and erase["parent"] == moved["id"]
    esptool_log = Path(erase["args"]["log"]).read_text(encoding="utf-8")
    assert erase["args"]["log"] == str(evidence / "esptool-erase-board-1.log")
    assert "Flash memory region erased successfully" in esptool_log

"""Flashing the firmware under test with esptool (issue 14, point 3), against the emulated ESP32's ROM downloader.

Real esptool (the library, `--no-stub`) writes a real-format app image to an emulated board over its pty
(download mode entered by holding BOOT through a reset) and over the RFC 2217 server on 127.0.0.1, where
esptool's own DTR/RTS reset goes through the auto-reset circuit model. After the reset the board boots the
written image and its banner reports the image's version.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from portservers import Rfc2217Server
from serialrig import EmulatedRig

from provlab.drivers.capabilities import Capability
from provlab.drivers.config_erase import download_mode_reachable, erase_stored_config
from provlab.drivers.flashing import (
    BadFirmwareFile,
    CannotEnterDownloadMode,
    EsptoolFailed,
    FirmwareFile,
    FlashVersionMismatch,
    flash_board,
)
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.sideband.esp_lines import DtrRtsSideband, EspWiring
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.reset_circuit import AutoResetCircuit
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.config import LabConfig
from provlab.lab.run_flashing import flash_real_boards
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.firmware_image import APP_OFFSET, build_app_image, parse_app_image

VERSION = "2.7.1"


def write_image(path: Path, version: str = VERSION, code_size: int = 16 * 1024) -> Path:
    info = {"mcu": version, "build": "Dec  4 2026 12:00:00"}
    path.write_bytes(build_app_image(version, info, code_size=code_size))
    return path


def test_an_image_built_by_provlab_is_a_valid_esp32_app_image_for_esptool(tmp_path: Path) -> None:
    """Golden test: esptool's own `image-info` reads the image, finds its checksum and SHA-256 valid and the app
    descriptor's version; our parser agrees and the SHA-256 recorded is the file's."""
    image = write_image(tmp_path / "edgent.bin")
    out = subprocess.run(
        [sys.executable, "-m", "esptool", "--chip", "esp32", "image-info", str(image)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Checksum: " in out and "(valid)" in out.split("Checksum: ")[1].splitlines()[0]
    assert "Validation hash: " in out and out.split("Validation hash: ")[1].splitlines()[0].endswith("(valid)")
    assert f"App version: {VERSION}" in out
    assert "Project name: Edgent_ESP32" in out
    parsed = parse_app_image(image.read_bytes())
    assert parsed.version == parsed.app_desc_version == VERSION
    assert parsed.sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    assert parsed.info["build"] == "Dec  4 2026 12:00:00"


def damaged(image: bytes, *offsets: int) -> bytes:
    data = bytearray(image)
    for offset in offsets:
        data[offset] ^= 0x10
    return bytes(data)


GOOD = build_app_image(VERSION)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"#!/bin/sh\necho not firmware\n", "bad.bin: not an ESP app image: first byte is 0x23, expected 0xE9"),
        (GOOD[: len(GOOD) // 2], "bad.bin: not a valid ESP32 app image: End of file"),  # cut short
        (damaged(GOOD, 4000), "bad.bin: image checksum is"),  # one bit flipped in a segment
        (damaged(GOOD, 4000, 4001), "does not match the image's bytes"),  # two flips the XOR checksum cannot see
    ],
    ids=["shell-script", "cut-short", "bad-checksum", "bad-sha256"],
)
def test_a_file_that_is_not_an_esp_image_is_refused_before_anything_is_written(
    rig: EmulatedRig, tmp_path: Path, content: bytes, reason: str
) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    with pytest.raises(BadFirmwareFile, match="nothing was written") as info:
        FirmwareFile.load(bad)
    assert reason in str(info.value)
    assert rig.board.flash.read_app() is None


async def restart(board: EmulatedBoard) -> None:
    board.restart()  # ESP.restart(), from the board's loop


def test_boot_held_through_a_reset_starts_the_rom_downloader_but_a_software_restart_boots_the_app(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        board.expect_state("WAIT_CONFIG", timeout=400)
        mark = board.mark()
        board.press_button()
        rig.run(restart(rig.board))
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)  # ESP.restart() does not latch IO0 again
        assert not rig.board.download_mode
        mark = board.mark()
        board.reset()  # EN pulse with BOOT still held
        board.expect_exact("waiting for download", timeout=400, since=mark)
        assert rig.board.download_mode and rig.board.boots == 2
        board.release_button()
        board.reset()
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
        assert not rig.board.download_mode and rig.board.boots == 3


def test_esptool_writes_an_image_over_the_pty_and_the_banner_reports_its_version(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    firmware = FirmwareFile.load(write_image(tmp_path / "edgent-2.7.1.bin"))
    log = tmp_path / "board-1.log"
    with SerialBoard(rig.path, name="board-1", log_path=log, time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        board.expect_state("WAIT_CONFIG", timeout=400)
        assert board.info.fw_ver == "0.1.0"
        record = flash_board(board, firmware, log_dir=tmp_path)
        board.expect_state("WAIT_CONFIG", timeout=400)
        assert board.devinfo().fw_ver == VERSION
    assert record.download_mode == "button-reset"
    assert (record.name, record.version, record.banner_version) == ("edgent-2.7.1.bin", VERSION, VERSION)
    assert record.sha256 == hashlib.sha256(firmware.data).hexdigest() and record.size == len(firmware.data)
    assert rig.board.flash.read_app() == firmware.data
    assert rig.board.profile.fw_version == VERSION and not rig.board.download_mode
    esptool_log = Path(str(record.esptool_log)).read_text()
    assert "Hash of data verified" in esptool_log and f"at 0x{APP_OFFSET:08x}" in esptool_log
    text = log.read_text()
    assert "waiting for download" in text  # the ROM's boot text, seen before the port went to esptool
    assert "port handed to esptool" in text and "port back from esptool" in text
    assert f"Firmware:  {VERSION}" in text


def test_an_image_without_a_blnkinf_tag_boots_as_its_app_descriptor_version(rig: EmulatedRig, tmp_path: Path) -> None:
    """A plain ESP-IDF app: only `esp_app_desc_t` names the version; that is what the file, the banner and
    `devinfo` say."""
    image = tmp_path / "idf-app.bin"
    image.write_bytes(build_app_image("4.0.0-rc1", blnkinf=False))
    firmware = FirmwareFile.load(image)
    assert firmware.version == "4.0.0-rc1" and firmware.image.info == {}
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        record = flash_board(board, firmware)
        assert board.devinfo().fw_ver == "4.0.0-rc1"
    assert record.banner_version == "4.0.0-rc1"


def test_esptool_resets_the_board_itself_through_the_auto_reset_circuit_over_rfc2217(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    firmware = FirmwareFile.load(write_image(tmp_path / "edgent.bin", code_size=2048))  # RFC 2217 is slow
    circuit = AutoResetCircuit(rig.board, rig.loop.loop)
    server = Rfc2217Server(rig.path, on_lines=circuit).start()
    try:
        url = f"rfc2217://127.0.0.1:{server.port}"
        with SerialBoard(url, name="bench", time_scale=rig.scale, dtr=False, rts=False) as board:
            board.attach_sideband(DtrRtsSideband(board, EspWiring(button="io0"), time_scale=rig.scale))
            rig.power_on()
            board.expect_state("WAIT_CONFIG", timeout=400)
            record = flash_board(board, firmware, log_dir=tmp_path)
            board.expect_state("WAIT_CONFIG", timeout=400)
        assert record.download_mode == "esptool-reset" and record.banner_version == VERSION
        assert "boot: ROM download mode" in circuit.events
        assert circuit.events[-1] == "boot: app"  # the lab's reset after writing: IO0 high, the app runs
        assert rig.board.flash.read_app() == firmware.data and rig.board.profile.fw_version == VERSION
    finally:
        server.stop()


def test_a_board_whose_banner_reports_another_version_fails_with_both_versions_and_the_log(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    """The file on disk holds 3.0.0 while the run expects 3.0.1 (a stale build, a file swapped after it was read)."""
    image = write_image(tmp_path / "edgent.bin", "3.0.0")
    expected = FirmwareFile(image, parse_app_image(build_app_image("3.0.1")))
    log = tmp_path / "board-1.log"
    with SerialBoard(rig.path, name="board-1", log_path=log, time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        board.expect_state("WAIT_CONFIG", timeout=400)
        with pytest.raises(FlashVersionMismatch) as info:
            flash_board(board, expected, log_dir=tmp_path)
    message = str(info.value)
    assert "expected firmware 3.0.1" in message and "banner said 3.0.0" in message and str(log) in message


def test_a_board_with_no_way_into_download_mode_is_refused_before_anything_is_written(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    firmware = FirmwareFile.load(write_image(tmp_path / "edgent.bin"))
    sideband = EmulatedSideband(rig.board, rig.run, capabilities=frozenset({Capability.RESET}))
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=sideband) as board:
        rig.power_on()
        with pytest.raises(CannotEnterDownloadMode, match="BOOT \\(IO0\\) button") as info:
            flash_board(board, firmware)
        assert "Nothing was written" in str(info.value)
    assert rig.board.flash.read_app() is None


class ButtonOffGpio0(EmulatedSideband):
    """The wiring of a board whose config button is on another GPIO than the BOOT strap (GPIO0): pressing it
    reaches the app, but holding it through a reset does not start the ROM downloader."""

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self._run(self._call(lambda: self.board.firmware.on_button(True)))

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self._run(self._call(lambda: self.board.firmware.on_button(False)))


def test_a_board_that_did_not_enter_download_mode_fails_with_esptools_reason_and_log(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    firmware = FirmwareFile.load(write_image(tmp_path / "edgent.bin"))
    with SerialBoard(
        rig.path, name="board-1", time_scale=rig.scale, sideband=ButtonOffGpio0(rig.board, rig.run)
    ) as board:
        rig.power_on()
        board.expect_state("WAIT_CONFIG", timeout=400)
        with pytest.raises(EsptoolFailed) as info:
            flash_board(board, firmware, log_dir=tmp_path)
        board.expect_state("WAIT_CONFIG", timeout=400)  # the port came back to the driver after the failure
    message = str(info.value)
    assert "esptool could not write edgent.bin" in message and "Failed to connect to ESP32" in message
    assert str(tmp_path / "board-1-esptool.log") in message
    assert rig.board.flash.read_app() is None and not rig.board.download_mode


def test_the_flash_record_is_json_evidence_with_name_size_and_sha256(rig: EmulatedRig, tmp_path: Path) -> None:
    firmware = FirmwareFile.load(write_image(tmp_path / "edgent.bin"))
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        record = flash_board(board, firmware, log_dir=tmp_path, baudrate=921600)
    assert "Changing baud rate to 921600" in Path(str(record.esptool_log)).read_text()  # CHANGE_BAUDRATE served
    saved = json.loads(json.dumps(record.as_dict()))
    assert saved["name"] == "edgent.bin" and saved["size"] == firmware.image.size
    assert saved["sha256"] == hashlib.sha256((tmp_path / "edgent.bin").read_bytes()).hexdigest()
    assert firmware.evidence()["sha256"] == saved["sha256"]


def test_a_run_flashes_an_inventory_board_over_rfc2217_once_and_records_it(rig: EmulatedRig, tmp_path: Path) -> None:
    """Inventory `firmware = …` (relative to the inventory file) on a bench board behind an RFC 2217 server with
    the auto-reset circuit: the run's flashing step writes it, checks the banner and keeps flash.json."""
    write_image(tmp_path / "edgent.bin", code_size=2048)
    inventory = tmp_path / "boards.yaml"
    circuit = AutoResetCircuit(rig.board, rig.loop.loop)
    server = Rfc2217Server(rig.path, on_lines=circuit).start()
    try:
        inventory.write_text(
            "boards:\n"
            "  bench-a:\n"
            f"    port: rfc2217://127.0.0.1:{server.port}\n"
            "    sideband: {kind: dtr-rts, button: io0, reset_pulse_s: 0.05}\n"
            "    firmware: edgent.bin\n"
        )
        config = LabConfig(
            boards=0, attached=(AttachedBoard(BoardSource.INVENTORY, "bench-a"),), inventory=str(inventory)
        )
        rig.power_on()
        (record,) = flash_real_boards(config, tmp_path / "flashing")
    finally:
        server.stop()
    assert (record.board, record.name, record.version, record.banner_version) == (
        "bench-a",
        "edgent.bin",
        VERSION,
        VERSION,
    )
    saved = json.loads((tmp_path / "flashing" / "flash.json").read_text())
    assert saved == [record.as_dict()]
    assert saved[0]["sha256"] == hashlib.sha256((tmp_path / "edgent.bin").read_bytes()).hexdigest()
    assert (tmp_path / "flashing" / "bench-a-esptool.log").is_file()
    assert rig.board.profile.fw_version == VERSION


def test_a_run_refuses_a_bare_port_board_it_cannot_put_into_download_mode(rig: EmulatedRig, tmp_path: Path) -> None:
    firmware = write_image(tmp_path / "edgent.bin")
    config = LabConfig(boards=0, attached=(AttachedBoard(BoardSource.PORT, rig.path),), firmware=str(firmware))
    rig.power_on()
    with pytest.raises(CannotEnterDownloadMode, match="board-1: cannot put the chip into its ROM serial downloader"):
        flash_real_boards(config, tmp_path / "flashing")
    assert json.loads((tmp_path / "flashing" / "flash.json").read_text()) == []
    assert rig.board.flash.read_app() is None


def test_provlab_run_flashes_a_real_board_once_before_its_first_test(rig: EmulatedRig, tmp_path: Path) -> None:
    """The whole path of a station run: `provlab run --flash FILE --boards inv:bench-a` in its own process, the
    board behind an RFC 2217 server with the auto-reset circuit. It is written once (not per test), both tests
    see the new version, and the evidence has flash.json and a `firmware` step in each test's steps.jsonl."""
    image = write_image(tmp_path / "edgent.bin", code_size=2048)
    scenario = tmp_path / "test_station.py"
    scenario.write_text(
        "def test_version(board):\n"
        f"    assert board.devinfo().fw_ver == {VERSION!r}\n\n"
        "def test_version_again(board):\n"
        f"    assert board.devinfo().fw_ver == {VERSION!r}\n"
    )
    circuit = AutoResetCircuit(rig.board, rig.loop.loop)
    server = Rfc2217Server(rig.path, on_lines=circuit).start()
    try:
        inventory = tmp_path / "boards.yaml"
        inventory.write_text(
            "boards:\n"
            "  bench-a:\n"
            f"    port: rfc2217://127.0.0.1:{server.port}\n"
            "    sideband: {kind: dtr-rts, button: io0, reset_pulse_s: 0.05}\n"
        )
        rig.power_on()
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "provlab", "run", str(scenario), "--boards", "inv:bench-a"),
                *("--inventory", str(inventory), "--flash", str(image), "--artifacts", str(tmp_path / "ev")),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    assert circuit.events.count("boot: ROM download mode") == 1
    (record,) = json.loads((tmp_path / "ev" / "flashing" / "flash.json").read_text())
    assert (record["name"], record["version"], record["banner_version"]) == ("edgent.bin", VERSION, VERSION)
    assert record["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    for test in ("test_version", "test_version_again"):
        steps = [json.loads(line) for line in (tmp_path / "ev" / test / "steps.jsonl").read_text().splitlines()]
        (firmware,) = [s for s in steps if s.get("name") == "firmware"]
        assert firmware["args"]["sha256"] == record["sha256"] and firmware["subject"] == "bench-a"


def test_esptool_erases_the_stored_config_and_the_board_boots_into_config_mode(
    rig: EmulatedRig, tmp_path: Path
) -> None:
    """The lab's last way back to config mode (`erase_stored_config`): esptool `erase-region` over the NVS partition,
    then a reset into the app, which finds no configuration."""
    stored = ConfigBlob.defaults("0.1.0")
    stored.wifi_ssid, stored.wifi_pass, stored.flags = "Elsewhere", "not-on-this-air", ConfigFlag.VALID
    rig.board.flash.write(stored.pack())
    log = tmp_path / "board-1.log"
    with SerialBoard(rig.path, name="board-1", log_path=log, time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        board.expect_state("CONNECTING_NET", timeout=400)  # configured: it looks for its network
        assert download_mode_reachable(board) == "button-reset"
        mode = erase_stored_config(board, log_path=tmp_path / "erase.log")
        assert mode == "button-reset" and rig.board.download_mode and rig.board.flash.read() is None
        mark = board.mark()
        board.reset()
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
    esptool_log = (tmp_path / "erase.log").read_text()
    assert "erase-region 0x9000 0x5000" in esptool_log and "erased successfully" in esptool_log
    assert rig.board.flash.read_app() is None  # the app partition is untouched


def test_a_board_without_a_way_into_download_mode_is_not_erased(rig: EmulatedRig) -> None:
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale) as board:  # a bare port: no reset, no button
        assert download_mode_reachable(board) is None
        with pytest.raises(CannotEnterDownloadMode, match="Nothing was written"):
            erase_stored_config(board)

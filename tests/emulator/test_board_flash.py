"""The flash (spec §3): the 212-byte blob in a file per board, surviving reboots, restarts and power cuts."""

from __future__ import annotations

from pathlib import Path

import pytest
from devrig import HOME_PASS, HOME_SSID, TOKEN, MiniCloud, provision, run, start_rig

from provlab.emulator.flash import Flash, PowerLost, WriteModel
from provlab.emulator.serial_port import MemorySerial
from provlab.protocol.config_blob import CONFIG_SIZE, BadMagicError, ConfigBlob, ConfigFlag
from provlab.protocol.states import EdgentState as S


def blob(ssid: str, valid: bool = True) -> bytes:
    config = ConfigBlob.defaults("0.1.0")
    config.wifi_ssid, config.wifi_pass, config.cloud_token = ssid, HOME_PASS, TOKEN
    if valid:
        config.flags |= ConfigFlag.VALID
    return config.pack()


def test_nvs_write_is_atomic_at_every_byte(tmp_path: Path) -> None:
    old, new = blob("Old"), blob("New")
    flash = Flash(tmp_path / "nvs")
    for cut in range(CONFIG_SIZE + 1):
        flash.write(old)
        flash.cut_power_at(cut)
        if cut < CONFIG_SIZE:
            with pytest.raises(PowerLost):
                flash.write(new)
            assert flash.read() == old, f"cut at byte {cut} left a torn blob"
        else:
            flash.write(new)
            assert flash.read() == new


def test_eeprom_write_tears_and_a_torn_magic_fails_the_check(tmp_path: Path) -> None:
    flash = Flash(tmp_path / "eeprom", WriteModel.EEPROM_SEQUENTIAL)
    flash.write(blob("Old"))
    for cut in range(4):
        flash.cut_power_at(cut)
        with pytest.raises(PowerLost):
            flash.write(blob("New"))
        torn = flash.read()
        assert torn is not None and len(torn) == CONFIG_SIZE and torn[cut:] == b"\xff" * (CONFIG_SIZE - cut)
        with pytest.raises(BadMagicError):
            ConfigBlob.unpack(torn)


def test_config_survives_reboots_and_a_new_process(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_state(S.RUNNING)
        await rig.wait_log("Configuration stored to flash")
        await rig.board.power_off()
        await rig.board.power_on()
        await rig.wait_log("INIT => CONNECTING_NET")
        await rig.shutdown()
        # a new board object on the same file: what a restarted provlab process builds
        again = await start_rig(tmp_path)
        await again.wait_log("INIT => CONNECTING_NET")
        await again.wait_state(S.RUNNING)
        await again.shutdown()
        await cloud.stop()

    run(body())


@pytest.mark.parametrize("cut", [0, 1, 4, 19, 120, CONFIG_SIZE - 1])
def test_power_cut_while_erasing_keeps_the_old_config(cut: int, tmp_path: Path) -> None:
    async def body() -> None:
        (tmp_path / "board.nvs").write_bytes(blob("Nowhere"))
        rig = await start_rig(tmp_path)
        await rig.wait_state(S.CONNECTING_NET)
        rig.board.flash.cut_power_at(cut)
        serial = rig.board.serial
        assert isinstance(serial, MemorySerial)
        serial.inject(b"config erase\r")
        await rig.wait_for(lambda: not rig.board.powered, "the board to go dark")
        assert "Resetting configuration!" in rig.capture.log_texts()
        assert "Configuration stored to flash" not in rig.capture.log_texts()
        await rig.board.power_on()
        await rig.wait_log("INIT => CONNECTING_NET", count=2)  # the old config, whole
        await rig.shutdown()

    run(body())


def test_power_cut_while_saving_from_config_leaves_no_half_config(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path)
        await rig.wait_ap()
        rig.board.flash.cut_power_at(100)
        reply = await provision_no_reply(rig)
        assert reply is None  # the board died mid-write, nothing was sent (P4/D4)
        await rig.board.power_on()
        await rig.wait_log("INIT => WAIT_CONFIG", count=2)
        await rig.shutdown()

    async def provision_no_reply(rig: object) -> object:
        from devrig import http, join_ap

        _, link = await join_ap(rig)  # type: ignore[arg-type]
        return await http(link, "GET", f"/config?ssid={HOME_SSID}&pass={HOME_PASS}&blynk={TOKEN}&save=1")

    run(body())


@pytest.mark.parametrize("content", [b"", b"\x00" * CONFIG_SIZE, b"\xff" * 4 + blob("Torn")[4:], b"junk"])
def test_a_torn_or_foreign_blob_boots_with_defaults(content: bytes, tmp_path: Path) -> None:
    async def body() -> None:
        (tmp_path / "board.nvs").write_bytes(content)
        rig = await start_rig(tmp_path)
        await rig.wait_log("INIT => WAIT_CONFIG")
        assert rig.capture.log_texts()[0] == "Using default config."
        await rig.shutdown()

    run(body())


def test_a_fresh_chip_logs_config_read_failed(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path)
        await rig.wait_log("INIT => WAIT_CONFIG")
        assert rig.capture.log_texts()[0] == "Config read failed"
        await rig.shutdown()

    run(body())

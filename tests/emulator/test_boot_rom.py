"""Fidelity audit #10: every reset prints the ESP32 ROM and bootloader text before the app, with the reset's cause
(`POWERON_RESET` at power-up, `SW_CPU_RESET` after `ESP.restart()`), and the first Edgent line comes after
`setup()`'s `Serial.begin(115200); delay(100)`, so at `millis()` >= 100. The lab's line reader accounts for every
line of it and counts one boot per reset."""

from __future__ import annotations

import re
from pathlib import Path

from devrig import run, start_rig
from test_board_transitions import type_line

from provlab.drivers.line_stream import LineStream
from provlab.protocol.log_formats import LineKind, read_log
from provlab.protocol.serial_log import split_lines
from provlab.protocol.states import EdgentState as S


def rom_text(cause: str) -> str:
    return (
        "ets Jun  8 2016 00:22:57\r\n"
        "\r\n"
        f"rst:{cause},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
        "configsip: 0, SPIWP:0xee\r\n"
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
        "mode:DIO, clock div:1\r\n"
        "load:0x3fff0030,len:1184\r\n"
        "load:0x40078000,len:13232\r\n"
        "load:0x40080400,len:3028\r\n"
        "entry 0x400805e4\r\n"
    )


POWER_ON = rom_text("0x1 (POWERON_RESET)")
SOFTWARE = rom_text("0xc (SW_CPU_RESET)")
FIRST_LOG = re.compile(r"\[(\d+)\] ")


def boot_and_reboot(tmp_path: Path) -> str:
    """A fresh board's serial output through one power-up and one console `reboot`."""

    async def go() -> str:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            type_line(rig, "reboot")
            await rig.wait_log("INIT => WAIT_CONFIG", count=2)
            await rig.wait_state(S.WAIT_CONFIG, after=1)
            return rig.capture.text
        finally:
            await rig.shutdown()

    return run(go())


def test_rom_text_before_each_boot_with_its_reset_cause_and_the_first_line_after_100_ms(tmp_path: Path) -> None:
    text = boot_and_reboot(tmp_path)
    assert text.startswith(POWER_ON)
    first = FIRST_LOG.match(text[len(POWER_ON) :])
    assert first is not None and int(first[1]) >= 100  # Serial.begin(115200); delay(100)
    reboot = text.index(SOFTWARE)
    assert text[:reboot].endswith('{"status":"OK","msg":"rebooting wifi module"}\n')
    again = FIRST_LOG.match(text[reboot + len(SOFTWARE) :])
    assert again is not None and int(again[1]) >= 100  # millis() starts again at the reset
    assert text.count("ets Jun  8 2016") == 2


def test_the_line_reader_knows_every_rom_line_and_counts_one_boot_per_reset(tmp_path: Path) -> None:
    text = boot_and_reboot(tmp_path)
    read = read_log(text)
    rom_lines = {line for line in POWER_ON.splitlines() + SOFTWARE.splitlines() if line}
    rom = [r for r in read if r.line.raw.rstrip("\r") in rom_lines]
    assert len(rom) == 2 * 9
    assert all(r.kind is LineKind.KNOWN for r in rom), [
        (r.line.raw, r.kind) for r in rom if r.kind is not LineKind.KNOWN
    ]
    stream = LineStream()
    for raw in split_lines(text):
        stream.add(raw, 0.0)
    assert stream.boots == 2
    assert stream.state is S.WAIT_CONFIG

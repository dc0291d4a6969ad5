"""Erasing a board's stored configuration with esptool, over its own port: the lab's last way back to config mode.

A board whose firmware offers the lab no way out of a provisioned state (no console `config erase`, no wired
button to hold 10 s) still loses its configuration when the flash holding it is erased. Edgent on an ESP32 keeps
it in NVS (`Preferences`, key `blynk/config`), the `nvs` partition at 0x9000 of the default partition tables.
`erase_stored_config(board)` puts the chip into its ROM serial downloader as flashing does
(`flashing.download_mode_entry`: the DTR/RTS auto-reset circuit, or BOOT held through a reset), has esptool
erase that partition (`erase-region 0x9000 0x5000`, which the ESP32 ROM does without the flasher stub) and
takes the port back. The chip is then still in its downloader: the caller resets it into its app, which finds
no configuration and starts its access point (WAIT_CONFIG).
"""

from __future__ import annotations

from pathlib import Path

from provlab.drivers.flashing import (
    CannotEnterDownloadMode,
    download_mode_entry,
    enter_download_mode,
    run_esptool_command,
)
from provlab.drivers.serial_board import SerialBoard
from provlab.protocol.firmware_image import NVS_OFFSET, NVS_SIZE

ERASE_COMMAND = ("erase-region", f"0x{NVS_OFFSET:x}", f"0x{NVS_SIZE:x}")
"""The esptool command that erases the NVS partition (the board's stored configuration)."""


def download_mode_reachable(board: SerialBoard) -> str | None:
    """How esptool would reach this board's ROM downloader (`esptool-reset`, `button-reset`), None when its wiring
    offers no way."""
    try:
        return download_mode_entry(board)
    except CannotEnterDownloadMode:
        return None


def erase_stored_config(board: SerialBoard, *, log_path: Path | None = None) -> str:
    """Erase the NVS partition with esptool over the board's port (see the module docstring); esptool's output goes
    to `log_path`. Returns how the chip entered download mode. The chip stays in its downloader until reset.
    `CannotEnterDownloadMode` (nothing erased) or `EsptoolFailed` (with esptool's output) otherwise."""
    mode = download_mode_entry(board)
    enter_download_mode(board, mode)
    with board.handed_over("esptool") as url:
        run_esptool_command(
            url,
            list(ERASE_COMMAND),
            what="erase the NVS partition (the stored configuration) of the board on",
            connect="default-reset" if mode == "esptool-reset" else "no-reset",
            log_path=log_path,
            baudrate=board.baudrate,
        )
    return mode

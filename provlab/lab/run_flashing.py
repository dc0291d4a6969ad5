"""Flashing a run's real boards once before its first test (`--flash FILE`, inventory `firmware = "…"`).

Every image is read and checked first, so a bad file stops the run before anything is written to any board.
Then each attached board (serial port or inventory entry; a replayed recording has nothing to write to) is
opened as the lab opens it, flashed with esptool (`provlab.drivers.flashing`) and closed again. The evidence
goes to one folder: `flash.json` (per board: image name, size, SHA-256, version, how it was reset, what the
banner said), each board's serial log and esptool's output.
"""

from __future__ import annotations

import json
from pathlib import Path

from provlab.drivers.flashing import FirmwareFile, FlashRecord, flash_board
from provlab.lab.attached import firmware_for, open_attached
from provlab.lab.config import LabConfig

FLASH_EVIDENCE = "flash.json"


def plan(config: LabConfig) -> list[tuple[int, FirmwareFile]]:
    """(index into `config.attached`, image) for each real board that gets an image; reads and checks every
    image (`BadFirmwareFile` before anything is written)."""
    planned = []
    loaded: dict[str, FirmwareFile] = {}
    for index, attached in enumerate(config.attached):
        path = firmware_for(config, attached)
        if path is None:
            continue
        if path not in loaded:
            loaded[path] = FirmwareFile.load(path)
        planned.append((index, loaded[path]))
    return planned


def flash_real_boards(config: LabConfig, folder: Path) -> list[FlashRecord]:
    """Write each real board's image (see `plan`) and record it in `folder/flash.json`; the lab's board names
    (`board-N`, emulated boards first) name the logs. The first failure stops it, with its message."""
    planned = plan(config)
    records: list[FlashRecord] = []
    if not planned:
        return records
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for index, firmware in planned:
            name = f"board-{config.boards + index + 1}"
            board = open_attached(config, config.attached[index], name, folder / f"{name}.log")
            try:
                records.append(flash_board(board, firmware, log_dir=folder))
            finally:
                board.close()
    finally:
        (folder / FLASH_EVIDENCE).write_text(
            json.dumps([record.as_dict() for record in records], indent=2) + "\n", encoding="utf-8"
        )
    return records

"""The board's flash: the 212-byte config blob (NVS `blynk/config`) and the app image, as files per board.

A power cut can be armed to strike at any byte of the next config write. How a cut write ends depends on
the flash's write model:

* `WriteModel.NVS_ATOMIC` (ESP32 `Preferences`): NVS writes the new entry, then marks it valid and the old
  one erased; a cut before the last byte leaves the old blob, never a mixture.
* `WriteModel.EEPROM_SEQUENTIAL` (ESP8266 `EEPROM.commit()`): the sector is erased (0xFF) and rewritten in
  order, so a cut at byte k leaves the first k new bytes and 0xFF after them. A cut inside the first four
  bytes leaves a blob whose magic check fails (`Using default config.`).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` with mode 0600: the blob holds the Wi-Fi passphrase and the device's auth token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)


class WriteModel(Enum):
    NVS_ATOMIC = "nvs"
    EEPROM_SEQUENTIAL = "eeprom"


class PowerLost(Exception):
    """The power was cut during a flash write; the firmware stops where it was."""

    def __init__(self, path: Path, at_byte: int, size: int) -> None:
        super().__init__(f"power cut at byte {at_byte} of a {size}-byte write to {path}")
        self.at_byte = at_byte
        self.size = size


class Flash:
    """One board's non-volatile storage, kept in files so it survives reboots and process restarts."""

    def __init__(self, path: str | Path, model: WriteModel = WriteModel.NVS_ATOMIC) -> None:
        self.path = Path(path)
        self.model = model
        self.app_path = self.path.with_name(self.path.name + ".app")
        self._cut_at: int | None = None
        self.writes = 0

    def read(self) -> bytes | None:
        """The stored blob, or None when the key was never written (factory-fresh chip)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def erase(self) -> None:
        """The config's flash erased (esptool `erase-region` over the NVS partition): the key reads as never
        written, so the firmware boots with its defaults into config mode."""
        for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
            path.unlink(missing_ok=True)

    def cut_power_at(self, byte: int | None) -> None:
        """Arm a power cut after `byte` bytes of the next write reached the chip (None disarms)."""
        if byte is not None and byte < 0:
            raise ValueError(f"a power cut needs a byte offset >= 0, got {byte}")
        self._cut_at = byte

    def write(self, data: bytes) -> None:
        """Store `data`; raises PowerLost when an armed cut strikes inside this write."""
        cut, self._cut_at = self._cut_at, None
        self.writes += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.model is WriteModel.NVS_ATOMIC:
            self._write_atomic(data, cut)
        else:
            self._write_sequential(data, cut)

    def _write_atomic(self, data: bytes, cut: int | None) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        if cut is not None and cut < len(data):
            _write_private(tmp, data[:cut])  # the half-written entry NVS will discard
            raise PowerLost(self.path, cut, len(data))
        _write_private(tmp, data)
        os.replace(tmp, self.path)

    def _write_sequential(self, data: bytes, cut: int | None) -> None:
        if cut is not None and cut < len(data):
            _write_private(self.path, data[:cut] + b"\xff" * (len(data) - cut))
            raise PowerLost(self.path, cut, len(data))
        _write_private(self.path, data)

    # --- the app partition ------------------------------------------------------------------------
    def read_app(self) -> bytes | None:
        """The firmware image an update installed, or None for the factory image."""
        try:
            return self.app_path.read_bytes()
        except FileNotFoundError:
            return None

    def write_app(self, image: bytes) -> None:
        """Install `image` in the other OTA slot; the running image stays there for a rollback."""
        current = self.read_app()
        self._put(self.prev_path, b"" if current is None else current)  # b"": the factory image
        self._put(self.app_path, image)

    def rollback_app(self) -> bool:
        """`Update.rollBack()`: boot the other slot's image again; False when it holds none (no update yet)."""
        try:
            previous = self.prev_path.read_bytes()
        except FileNotFoundError:
            return False
        current = self.read_app()
        if previous:
            self._put(self.app_path, previous)
        else:
            self.app_path.unlink(missing_ok=True)
        self._put(self.prev_path, b"" if current is None else current)
        return True

    @property
    def prev_path(self) -> Path:
        return self.app_path.with_name(self.app_path.name + ".prev")

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        _write_private(tmp, data)  # 0600: an image may carry credentials
        os.replace(tmp, path)
